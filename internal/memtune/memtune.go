package memtune

import (
	"bufio"
	"errors"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Defaults.
const (
	// DefaultGCPercent makes the collector run when the heap has grown by
	// 25% over the live data (Go's default is 100%): under request load the
	// resident set then stays within about 1.4 times the loaded state
	// instead of twice it. The state is mostly pointer-free arrays, so a
	// collection of a 1M-fact node takes about 2 ms of CPU and, at 25%,
	// about 1% of a core under HTTP load; measured in docs/performance.md
	// (round four: 40% gave 1.49-1.53x, 25% 1.40x).
	DefaultGCPercent = 25
	// LimitFraction of the cgroup's (or else the machine's) memory is the
	// default soft memory limit: the collector works harder as the heap
	// nears it instead of letting a burst (large requests, a re-bootstrap
	// holding two states) take the process past what the container allows.
	LimitFraction = 0.75
)

// Config says what to set. Zero values give the defaults.
type Config struct {
	// GCPercent: > 0 sets it; 0: GOGC when set, else DefaultGCPercent;
	// -1: GOGC when set, else Go's default (100).
	GCPercent int
	// LimitMiB: > 0 sets it; 0: GOMEMLIMIT when set, else LimitFraction
	// of the cgroup's memory.max or of MemTotal; -1: none.
	LimitMiB int
	// Getenv reads the environment (nil: os.LookupEnv).
	Getenv func(string) (string, bool)
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.GCPercent < -1 || c.LimitMiB < -1 {
		return errors.New("memtune: GCPercent and LimitMiB must be -1, 0 or positive")
	}
	return nil
}

// Applied is what Apply set.
type Applied struct {
	GCPercent int
	GCFrom    string
	Limit     int64 // bytes; math.MaxInt64: none
	LimitFrom string
}

// Apply sets the collector's target and the soft memory limit.
func Apply(c Config) (Applied, error) {
	if err := c.Validate(); err != nil {
		return Applied{}, err
	}
	env := c.Getenv
	if env == nil {
		env = os.LookupEnv
	}
	var a Applied
	_, gogc := env("GOGC")
	switch {
	case c.GCPercent > 0:
		debug.SetGCPercent(c.GCPercent)
		a.GCPercent, a.GCFrom = c.GCPercent, "configured"
	case gogc:
		a.GCPercent = debug.SetGCPercent(-1)
		debug.SetGCPercent(a.GCPercent)
		a.GCFrom = "GOGC"
	case c.GCPercent == 0:
		debug.SetGCPercent(DefaultGCPercent)
		a.GCPercent, a.GCFrom = DefaultGCPercent, "default"
	default:
		debug.SetGCPercent(100)
		a.GCPercent, a.GCFrom = 100, "Go's default"
	}
	switch {
	case c.LimitMiB > 0:
		a.Limit, a.LimitFrom = int64(c.LimitMiB)<<20, "configured"
		debug.SetMemoryLimit(a.Limit)
	case c.LimitMiB < 0:
		a.Limit, a.LimitFrom = math.MaxInt64, "none"
		debug.SetMemoryLimit(a.Limit)
	default:
		if v, ok := env("GOMEMLIMIT"); ok && strings.TrimSpace(v) != "" {
			a.Limit, a.LimitFrom = debug.SetMemoryLimit(-1), "GOMEMLIMIT"
		} else if n, ok := cgroupMemory(); ok {
			a.Limit, a.LimitFrom = int64(float64(n)*LimitFraction), "75% of the cgroup's memory.max"
			debug.SetMemoryLimit(a.Limit)
		} else if n, ok := machineMemory(); ok {
			a.Limit, a.LimitFrom = int64(float64(n)*LimitFraction), "75% of the machine's memory"
			debug.SetMemoryLimit(a.Limit)
		} else {
			a.Limit, a.LimitFrom = debug.SetMemoryLimit(-1), "none (memory size unknown)"
		}
	}
	return a, nil
}

// cgroupMemory reads the memory limit of cgroup v2 or v1; false when
// there is none.
func cgroupMemory() (int64, bool) {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 { // "max", or v1's "unlimited"
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// machineMemory reads MemTotal from /proc/meminfo.
func machineMemory() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err == nil && kb > 0
		}
	}
	return 0, false
}
