package main

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// mem is one memory sample.
type mem struct {
	Heap uint64 // runtime.MemStats.HeapAlloc
	RSS  uint64 // VmRSS from /proc/self/status
}

// sampleMem collects garbage, returns freed memory to the OS, and samples.
func sampleMem() mem {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return mem{Heap: ms.HeapAlloc, RSS: procStatus("VmRSS:")}
}

// resetPeakRSS resets VmHWM (write 5 to /proc/self/clear_refs) so that
// peakRSS reports the peak since. Best effort.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() uint64 { return procStatus("VmHWM:") }

// procStatus reads a "kB" field of /proc/self/status in bytes; 0 if absent.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte(field)); ok {
			f := bytes.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			kb, _ := strconv.ParseUint(string(f[0]), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is "1m 5m 15m" from /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// timeOps calls op(0..n-1) one at a time, timing each call with time.Now,
// and returns the latencies. It stops early when ctx ends.
func timeOps(ctx context.Context, n int, op func(i int) error) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for i := range n {
		if i%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		t0 := time.Now()
		err := op(i)
		lat = append(lat, time.Since(t0))
		if err != nil {
			return nil, err
		}
	}
	return lat, nil
}

// summarize fills the latency fields of r from lat (sorted in place):
// percentiles by nearest rank, and per_second as operations per second of
// busy time (one at a time).
func summarize(r *Result, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	slices.Sort(lat)
	r.N = len(lat)
	r.P50NS = int64(percentile(lat, 0.50))
	r.P99NS = int64(percentile(lat, 0.99))
	if len(lat) >= 1000 {
		r.P999NS = int64(percentile(lat, 0.999))
	}
	r.MeanNS = int64(sum) / int64(len(lat))
	r.MaxNS = int64(lat[len(lat)-1])
	if sum > 0 {
		r.PerSecond = float64(len(lat)) / sum.Seconds()
	}
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
