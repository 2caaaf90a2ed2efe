package soak

import (
	"strings"
	"testing"
	"time"
)

func TestParseMetrics(t *testing.T) {
	in := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 42
go_memstats_heap_inuse_bytes 1.2345e+07
outpost_checkpoint_duration_seconds_bucket{le="0.1"} 3
outpost_checkpoint_duration_seconds_count 3
outpost_ingest_errors_total{kind="gap",source="nats"} 2
outpost_ingest_errors_total{kind="poison",source="nats"} 1
`
	m, err := parseMetrics(strings.NewReader(in), "go_goroutines", "go_memstats_heap_inuse_bytes", "outpost_checkpoint_duration_seconds_count", "outpost_ingest_errors_total", "absent")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"go_goroutines": 42, "go_memstats_heap_inuse_bytes": 12345000, "outpost_checkpoint_duration_seconds_count": 3, "outpost_ingest_errors_total": 3}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if _, ok := m["absent"]; ok {
		t.Error("absent metric reported")
	}
}

func TestParseVmRSS(t *testing.T) {
	got, err := parseVmRSS([]byte("Name:\toutpost\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\n"))
	if err != nil || got != 2048<<10 {
		t.Fatalf("got %d, %v", got, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Fatal("no error without a VmRSS line")
	}
}

func TestPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	p50, p99, maximum := percentiles(lat)
	if p50 != 50*time.Millisecond || p99 != 99*time.Millisecond || maximum != 100*time.Millisecond {
		t.Fatalf("p50 %v p99 %v max %v", p50, p99, maximum)
	}
	if a, b, c := percentiles(nil); a+b+c != 0 {
		t.Fatal("empty input gave non-zero percentiles")
	}
}

func TestAnswerNormalises(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"allowed":true}`, "allowed=true"},
		{`{"allowed":false}`, "allowed=false"},
		{`{"results":["b","a"]}`, "a,b"},
		{`{"results":[]}`, ""},
	} {
		if got, err := answer([]byte(tc.body)); err != nil || got != tc.want {
			t.Errorf("%s: %q, %v", tc.body, got, err)
		}
	}
	if _, err := answer([]byte("nope")); err == nil {
		t.Error("no error for a non-JSON body")
	}
}

func TestRSSVerdicts(t *testing.T) {
	rep := &Report{Config: Config{Interval: 30 * time.Second, Warmup: time.Minute}}
	for i := 1; i <= 10; i++ {
		rss := int64(100 * mib)
		pid := 1
		if i > 5 {
			pid = 2
			rss = int64(100*mib) + int64(i-5)*20*mib // growing 20 MiB per row
		}
		rep.Rows = append(rep.Rows, Row{At: time.Duration(i) * 30 * time.Second, Nodes: []NodeSample{{Name: "n", PID: pid, RSS: rss}}})
	}
	v := rep.RSSVerdicts()
	if len(v) != 2 || !strings.Contains(v[0], "flat") || !strings.Contains(v[1], "GROWING") {
		t.Fatalf("verdicts %q", v)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).withDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "BinDir") {
		t.Fatalf("missing BinDir: %v", err)
	}
	c := Config{BinDir: t.TempDir()}.withDefaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "outpost-controlplane") {
		t.Fatalf("missing binaries: %v", err)
	}
}
