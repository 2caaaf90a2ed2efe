package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

// Readers under a writer (DESIGN.md §11: "authorize p99 while a writer
// applies 50k facts/s ≤ 1.5× idle p99"), the figure of the query
// package's BenchmarkAuthorizeUnderWrites, which also has the controls
// (a writer on another state, a CPU spinner) that tell the lock's cost
// from the machine's.
const (
	writesPerSecond = 50_000
	writesPerEvent  = 100
	writesTick      = 2 * time.Millisecond
)

// writesRounds is the number of idle/under-writes window pairs; the
// ratio reported is the median of the pairs' ratios, so that the
// machine's drift between two long windows does not decide it.
const writesRounds = 5

// writes measures uncached authorize on one goroutine in alternating
// windows: with nothing else running, then while another goroutine applies
// 100-fact insert events to the same state at 50k facts/s. The state is a
// private copy: the other scenarios' data stays as generated.
func (b *bench) writes(ctx context.Context) ([]Result, error) {
	// A node holds one state: drop the shared one (later scenarios build
	// it again) so that the collector's work on a second state does not
	// land in the figures.
	b.state = nil
	runtime.GC()
	st, e, err := b.uncachedEngine(true)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	checks := b.mixedChecks()
	window := max(b.c.duration/writesRounds, 500*time.Millisecond)
	if _, err := queryWhile(e, checks, func() error { time.Sleep(window); return nil }); err != nil {
		return nil, err // warm-up
	}
	events := writeEvents(window * writesRounds)
	var idle, busy []time.Duration
	var ratios []float64
	var facts int
	var writing time.Duration
	for round := range writesRounds {
		il, err := queryWhile(e, checks, func() error {
			time.Sleep(window)
			return ctx.Err()
		})
		if err != nil {
			return nil, err
		}
		start := time.Now()
		bl, err := queryWhile(e, checks, func() error {
			n, err := applyPaced(ctx, st, events[round*len(events)/writesRounds:(round+1)*len(events)/writesRounds], window)
			facts += n
			return err
		})
		if err != nil {
			return nil, err
		}
		writing += time.Since(start)
		var ir, br Result
		summarize(&ir, il)
		summarize(&br, bl)
		ratios = append(ratios, float64(br.P99NS)/float64(ir.P99NS))
		idle, busy = append(idle, il...), append(busy, bl...)
	}
	rate := float64(facts) / writing.Seconds()

	r := newResult("authorize_under_writes", b.facts)
	summarize(&r, busy)
	var ir Result
	summarize(&ir, idle)
	r.Detail["idle_p50_ns"], r.Detail["idle_p99_ns"] = float64(ir.P50NS), float64(ir.P99NS)
	r.Detail["written_facts_per_second"] = rate
	r.Detail["rounds"] = writesRounds
	r.Detail["ratio_min"], r.Detail["ratio_max"] = slices.Min(ratios), slices.Max(ratios)
	r.metric("p99 idle", float64(ir.P99NS), "ns")
	r.metric("p99 under writes", float64(r.P99NS), "ns")
	r.metric("written", rate, "facts/s")
	r.metric("p99 under writes/idle", median(ratios), "x")
	b.logf("writes: %.0f facts/s applied; authorize p99 %v under writes, %v idle; ratio per round %.2f",
		rate, time.Duration(r.P99NS), time.Duration(ir.P99NS), ratios)
	return []Result{r}, nil
}

// writeEvents builds the insert events applied in a window, before it
// starts, so that the writer's pace is Apply's.
func writeEvents(window time.Duration) []replica.Event {
	n := int(window.Seconds()*writesPerSecond/writesPerEvent) + 1
	events := make([]replica.Event, n)
	for i := range events {
		ev := replica.Event{Env: benchEnv, Kind: replica.KindBatch}
		for j := range writesPerEvent {
			ev.Inserts = append(ev.Inserts, replica.Fact{Predicate: "has_role", Args: []replica.Value{
				{Type: "User", ID: fmt.Sprintf("bench-writer-%d", i)}, {Type: "String", ID: "reader"},
				{Type: "Repository", ID: fmt.Sprintf("bench-writes-%d", j)}}})
		}
		events[i] = ev
	}
	return events
}

// applyPaced applies events to st at writesPerSecond for window, paced by
// deficit (each tick applies the events owed by then, so the average rate
// holds when the scheduler is late), until the events run out; it returns
// the facts applied.
func applyPaced(ctx context.Context, st *replica.State, events []replica.Event, window time.Duration) (int, error) {
	tick := time.NewTicker(writesTick)
	defer tick.Stop()
	start := time.Now()
	seq, facts, i := st.Revision(), 0, 0
	for time.Since(start) < window {
		select {
		case <-ctx.Done():
			return facts, ctx.Err()
		case <-tick.C:
		}
		owed := int(time.Since(start).Seconds()*writesPerSecond/writesPerEvent) - i
		for ; owed > 0 && i < len(events); owed-- {
			seq++
			ev := events[i]
			ev.Seq = seq
			if err := st.Apply(ev); err != nil {
				return facts, fmt.Errorf("apply event %d: %w", seq, err)
			}
			facts += len(ev.Inserts)
			i++
		}
	}
	return facts, nil
}
