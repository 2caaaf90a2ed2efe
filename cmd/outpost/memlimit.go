package main

import (
	"bufio"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitFraction of the cgroup's (or else the machine's) memory is
// the default Go soft memory limit: the garbage collector works harder
// as the heap nears it instead of letting a burst (large requests, a
// re-bootstrap holding two states) take the process past what the
// container allows.
const memoryLimitFraction = 0.75

// applyMemoryLimit sets the Go soft memory limit (runtime/debug
// SetMemoryLimit): --memory-limit-mib when positive, none for -1; by
// default GOMEMLIMIT when set (the runtime has applied it), else 75% of
// the cgroup's memory.max, else 75% of MemTotal. It returns the limit in
// bytes (math.MaxInt64: none) and where it came from.
func applyMemoryLimit(mib int, env envLookup) (int64, string) {
	switch {
	case mib > 0:
		debug.SetMemoryLimit(int64(mib) << 20)
		return int64(mib) << 20, "--memory-limit-mib"
	case mib < 0:
		debug.SetMemoryLimit(math.MaxInt64)
		return math.MaxInt64, "none (--memory-limit-mib -1)"
	}
	if v, ok := env("GOMEMLIMIT"); ok && strings.TrimSpace(v) != "" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	}
	if n, ok := cgroupMemory(); ok {
		return setFraction(n), "75% of the cgroup's memory limit"
	}
	if n, ok := machineMemory(); ok {
		return setFraction(n), "75% of the machine's memory"
	}
	return debug.SetMemoryLimit(-1), "none (memory size unknown)"
}

func setFraction(n int64) int64 {
	l := int64(float64(n) * memoryLimitFraction)
	debug.SetMemoryLimit(l)
	return l
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

// logMemoryLimit reports the limit chosen at start.
func logMemoryLimit(log *slog.Logger, limit int64, from string) {
	if limit == math.MaxInt64 {
		log.Info("no Go memory limit", "source", from)
		return
	}
	log.Info("Go memory limit", "mib", limit>>20, "source", from)
}

// contextFactLimit maps --max-context-facts (0: no limit) to
// httpapi.Config.MaxContextFacts (negative: no limit).
func contextFactLimit(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
