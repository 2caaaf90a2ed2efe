package replica_test

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// ingestEvents returns the gitclub data set of n facts as the control plane
// encodes it: a policy event, then batch events of 100 facts.
func ingestEvents(b *testing.B, n int) [][]byte {
	b.Helper()
	var out [][]byte
	err := datasets.Events(datasets.Config{Facts: n}, "bench", 100, func(ev replica.Event) error {
		data, err := json.Marshal(ev)
		out = append(out, data)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

var benchEvents [][]byte

func eventsOnce(b *testing.B) [][]byte {
	if benchEvents == nil {
		benchEvents = ingestEvents(b, 1_000_000)
	}
	return benchEvents
}

// BenchmarkDecodeEvent decodes 100-fact batch events.
func BenchmarkDecodeEvent(b *testing.B) {
	evs := eventsOnce(b)[1:]
	bytes := 0
	i := 0
	for b.Loop() {
		data := evs[i%len(evs)]
		i++
		bytes += len(data)
		if _, err := replica.DecodeEvent(data); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(bytes / max(i, 1)))
	b.ReportMetric(float64(i)*100/b.Elapsed().Seconds(), "facts/s")
}

// BenchmarkApplyEvent applies pre-decoded 100-fact batch events to a growing
// state (a fresh state every 1M facts).
func BenchmarkApplyEvent(b *testing.B) {
	raw := eventsOnce(b)
	evs := make([]replica.Event, len(raw))
	for i, data := range raw {
		ev, err := replica.DecodeEvent(data)
		if err != nil {
			b.Fatal(err)
		}
		evs[i] = ev
	}
	benchApply(b, len(evs), func(s *replica.State, i int) error { return s.Apply(evs[i]) })
}

// BenchmarkDecodeApply decodes and applies the 1M-fact gitclub backlog, as
// ingest.Runner does, and reports facts/s.
func BenchmarkDecodeApply(b *testing.B) {
	raw := eventsOnce(b)
	benchApply(b, len(raw), func(s *replica.State, i int) error {
		ev, err := replica.DecodeEvent(raw[i])
		if err != nil {
			return err
		}
		return s.Apply(ev)
	})
}

func benchApply(b *testing.B, n int, apply func(s *replica.State, i int) error) {
	var s *replica.State
	i, facts := n, 0
	cpu0 := cpuTime(b)
	for b.Loop() {
		if i == n {
			b.StopTimer()
			s = replica.New(replica.Config{Env: "bench"})
			if err := apply(s, 0); err != nil { // the policy event
				b.Fatal(err)
			}
			i = 1
			b.StartTimer()
		}
		if err := apply(s, i); err != nil {
			b.Fatal(err)
		}
		i++
		facts += 100
	}
	b.ReportMetric(float64(facts)/b.Elapsed().Seconds(), "facts/s")
	// The process's CPU time per fact: on a shared, loaded machine it is a
	// steadier comparison than wall-clock facts/s.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(facts), "cpu-ns/fact")
}

// cpuTime returns the process's user and system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
