package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// checkpoint writes checkpoints of the data set durably through a
// snapshotter.Store (export, temp file, fsync, rename), as a node's
// checkpoint loop does, while one goroutine asks uncached authorize
// questions back to back; then it asks the same questions for as long again
// with nothing else running, and compares the two p99s. It writes at least
// three checkpoints and for at least -duration (at most 50).
func (b *bench) checkpoint(ctx context.Context) ([]Result, error) {
	st, e, err := b.uncachedEngine(false)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	store, err := snapshotter.OpenStore(filepath.Join(b.dir, "checkpoints"), 2)
	if err != nil {
		return nil, err
	}
	checks := b.mixedChecks()

	var writes []time.Duration
	var bytes int64
	start := time.Now()
	busy, err := queryWhile(e, checks, func() error {
		for len(writes) < 3 || (time.Since(start) < b.c.duration && len(writes) < 50) {
			if err := ctx.Err(); err != nil {
				return err
			}
			t0 := time.Now()
			v := st.Acquire()
			ex := v.Export()
			v.Release()
			_, stats, err := store.Save(ex, snapshotter.Header{Env: benchEnv, Position: replica.Position{KafkaOffset: -1}})
			if err != nil {
				return fmt.Errorf("save checkpoint: %w", err)
			}
			writes, bytes = append(writes, time.Since(t0)), stats.Bytes
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	window := time.Since(start)
	idle, err := queryWhile(e, checks, func() error {
		time.Sleep(window)
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}

	slices.Sort(writes)
	med := writes[len(writes)/2]
	w := newResult("checkpoint_write", b.facts)
	w.N, w.PerSecond = len(writes), float64(b.facts)/med.Seconds()
	w.Detail["file_bytes"] = float64(bytes)
	w.Detail["median_seconds"], w.Detail["max_seconds"] = med.Seconds(), writes[len(writes)-1].Seconds()
	w.metric("seconds", med.Seconds(), "s")
	w.metric("rate", w.PerSecond, "facts/s")

	q := newResult("checkpoint_query", b.facts)
	summarize(&q, busy)
	var iq Result
	summarize(&iq, idle)
	q.Detail["idle_p50_ns"], q.Detail["idle_p99_ns"] = float64(iq.P50NS), float64(iq.P99NS)
	q.Detail["idle_n"] = float64(iq.N)
	q.metric("p99 idle", float64(iq.P99NS), "ns")
	q.metric("p99 busy", float64(q.P99NS), "ns")
	q.metric("p99 busy/idle", float64(q.P99NS)/float64(iq.P99NS), "x")
	b.logf("checkpoint: %d writes, median %v, %d bytes; query p99 %v while writing, %v idle",
		len(writes), med, bytes, time.Duration(q.P99NS), time.Duration(iq.P99NS))
	return []Result{w, q}, nil
}

// queryWhile asks checks in a loop on one goroutine, timing each call,
// while fn runs, and returns the latencies.
func queryWhile(e *query.Engine, checks []query.Check, fn func() error) ([]time.Duration, error) {
	stop := make(chan struct{})
	var lat []time.Duration
	var qerr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			_, _, err := e.Authorize(checks[i%len(checks)])
			lat = append(lat, time.Since(t0))
			if err != nil {
				qerr = err
				return
			}
		}
	})
	err := fn()
	close(stop)
	wg.Wait()
	if err == nil {
		err = qerr
	}
	return lat, err
}
