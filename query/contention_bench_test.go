package query

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

// BenchmarkAuthorizeUnderWrites measures authorize latency while a writer
// applies batches of 100 facts at a fixed rate (issue #3: under a writer
// applying 50k facts/s, check p99 must stay within 2x of idle). It reports
// p50 and p99 for idle and under writes, on the same engine and data.
func BenchmarkAuthorizeUnderWrites(b *testing.B) {
	st, shape := gitclub(b, benchFacts)
	// Work on a private copy: the shared state must stay unchanged.
	v := st.Acquire()
	ex := v.Export()
	v.Release()
	l := replica.NewLoader(replica.Config{Env: "bench", Compiler: Compile})
	ids := map[uint32]uint32{}
	ex.ForEachValue(func(sym uint32, typ, id string) bool {
		ids[sym] = l.AddValue(typ, id)
		return true
	})
	if err := l.SetPolicy(ex.Policy()); err != nil {
		b.Fatal(err)
	}
	for _, r := range ex.Relations() {
		args := make([]uint32, r.Arity)
		ex.ForEachTuple(r.ID, func(t []uint32) bool {
			for i, s := range t {
				args[i] = ids[s]
			}
			l.AddFact(r.Name, args)
			return true
		})
	}
	own, err := l.Finish(ex.Revision())
	if err != nil {
		b.Fatal(err)
	}
	e := newEngine(b, own, Config{CacheMaxBytes: -1})
	qs := shape.SampleQueries(1024, 11)
	measure := func(n int) (p50, p99 time.Duration) {
		lat := make([]time.Duration, n)
		for i := range lat {
			q := qs[i%len(qs)]
			t0 := time.Now()
			e.Authorize(Check{Actor: q.Actor, Action: q.Action, Resource: q.Resource})
			lat[i] = time.Since(t0)
		}
		slices.Sort(lat)
		return lat[n/2], lat[n*99/100]
	}
	const factsPerSecond, perEvent = 50_000, 100
	n := max(b.N, 20000)
	measure(2000) // warm up
	idle50, idle99 := measure(n)

	// Events are built before timing so the writer's rate is Apply's.
	events := make([]replica.Event, 4000)
	for i := range events {
		ev := replica.Event{Env: "bench", Kind: replica.KindBatch}
		for j := 0; j < perEvent; j++ {
			ev.Inserts = append(ev.Inserts, replica.Fact{Predicate: "has_role", Args: []replica.Value{
				{Type: "User", ID: fmt.Sprintf("writer-%d", i)}, {Type: "String", ID: "reader"},
				{Type: "Repository", ID: fmt.Sprintf("repo-%07d", j)}}})
		}
		events[i] = ev
	}
	ctx, cancel := context.WithCancel(context.Background())
	applied := make(chan int, 1)
	go func() {
		// Paced by deficit: each wake-up applies the events owed by now, so
		// the average rate holds even when the scheduler is late.
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		t0 := time.Now()
		seq, facts, i := own.Revision(), 0, 0
		for {
			select {
			case <-ctx.Done():
				applied <- facts
				return
			case <-tick.C:
			}
			owed := int(time.Since(t0).Seconds()*factsPerSecond/perEvent) - i
			for ; owed > 0; owed-- {
				seq++
				ev := events[i%len(events)]
				if i >= len(events) { // beyond the prepared events: an empty batch
					ev.Inserts = nil
				}
				ev.Seq = seq
				if err := own.Apply(ev); err != nil {
					panic(err)
				}
				facts += len(ev.Inserts)
				i++
			}
		}
	}()
	start := time.Now()
	busy50, busy99 := measure(n)
	// How long a reader waits to get a view (the state's read lock) while
	// the writer runs: this is the part of the latency a writer can add
	// through locking, apart from sharing the CPU.
	acq := make([]time.Duration, n)
	for i := range acq {
		t0 := time.Now()
		v := own.Acquire()
		acq[i] = time.Since(t0)
		v.Release()
		if i%16 == 15 { // space the probes like questions
			e.Authorize(Check{Actor: qs[i%len(qs)].Actor, Action: qs[i%len(qs)].Action, Resource: qs[i%len(qs)].Resource})
		}
	}
	slices.Sort(acq)
	elapsed := time.Since(start)
	cancel()
	rate := float64(<-applied) / elapsed.Seconds()
	b.ReportMetric(float64(idle50.Nanoseconds()), "idle-p50-ns")
	b.ReportMetric(float64(idle99.Nanoseconds()), "idle-p99-ns")
	b.ReportMetric(float64(busy50.Nanoseconds()), "writes-p50-ns")
	b.ReportMetric(float64(busy99.Nanoseconds()), "writes-p99-ns")
	b.ReportMetric(float64(acq[n*999/1000].Nanoseconds()), "acquire-p99.9-ns")
	b.ReportMetric(float64(acq[n-1].Nanoseconds()), "acquire-max-ns")
	b.ReportMetric(rate, "written-facts/s")
	b.ReportMetric(float64(busy99)/float64(idle99), "p99-ratio")
}
