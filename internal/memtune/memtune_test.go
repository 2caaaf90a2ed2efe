package memtune

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	cases := []struct {
		name      string
		cfg       Config
		wantGC    int
		gcFrom    string
		limitFrom string
		limit     int64 // 0: any
	}{
		{"defaults", Config{Getenv: env(nil)}, DefaultGCPercent, "default", "", 0},
		{"configured", Config{GCPercent: 70, LimitMiB: 512, Getenv: env(nil)}, 70, "configured", "configured", 512 << 20},
		{"none", Config{GCPercent: -1, LimitMiB: -1, Getenv: env(nil)}, 100, "Go's default", "none", math.MaxInt64},
		{"GOGC wins over the default", Config{Getenv: env(map[string]string{"GOGC": "55"})}, -2, "GOGC", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.wantGC == -2 {
				debug.SetGCPercent(55) // what the runtime did with GOGC=55
				c.wantGC = 55
			}
			a, err := Apply(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if a.GCPercent != c.wantGC || a.GCFrom != c.gcFrom || debug.SetGCPercent(-1) != c.wantGC {
				t.Errorf("GC percent %d from %q, want %d from %q", a.GCPercent, a.GCFrom, c.wantGC, c.gcFrom)
			}
			debug.SetGCPercent(c.wantGC)
			if c.limitFrom != "" && a.LimitFrom != c.limitFrom {
				t.Errorf("limit from %q, want %q", a.LimitFrom, c.limitFrom)
			}
			if c.limit != 0 && (a.Limit != c.limit || debug.SetMemoryLimit(-1) != c.limit) {
				t.Errorf("limit %d, want %d", a.Limit, c.limit)
			}
			if a.Limit <= 0 {
				t.Errorf("limit %d", a.Limit)
			}
		})
	}
	if _, err := Apply(Config{GCPercent: -5}); err == nil {
		t.Error("GCPercent -5 accepted")
	}
}
