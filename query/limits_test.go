package query

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/outpost-authz/outpost/query/polar"
)

// crossProduct is the evaluate_query of issue #17: two unbound predicates
// joined on nothing, a cross product of every role with every public
// repository.
var crossProduct = struct {
	calls []QueryCall
	vars  map[string]VarConstraint
}{
	calls: []QueryCall{
		{Predicate: "has_role", Args: []string{"u", "r", "p"}},
		{Predicate: "is_public", Args: []string{"p2"}},
	},
	vars: map[string]VarConstraint{
		"u": {Type: "User"}, "r": {Type: "String"}, "p": {Type: "Repository"}, "p2": {Type: "Repository"},
	},
}

// TestCrossProductIsRefused: four cross-product queries at once are each
// refused with an evaluation error (a 400) instead of exhausting memory,
// the heap stays bounded, and authorize questions are answered meanwhile.
func TestCrossProductIsRefused(t *testing.T) {
	st, shape := gitclub(t, 100_000)
	cfg := Config{CacheMaxBytes: -1}
	if raceEnabled {
		cfg.MaxSteps = 300_000
	}
	e := newEngine(t, st, cfg)
	// collect often so that HeapAlloc follows live memory, not GC pacing
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	var running atomic.Int32
	running.Store(4)
	for range 4 {
		wg.Go(func() {
			defer running.Add(-1)
			rows, _, err := e.EvaluateQuery(crossProduct.calls, crossProduct.vars, nil)
			if err == nil {
				t.Errorf("cross product answered with %d rows", len(rows))
			}
			errs <- err
		})
	}
	var peak uint64
	served := 0
	c := Check{Actor: shape.Direct.Actor, Action: shape.Direct.Action, Resource: shape.Direct.Resource}
	for running.Load() > 0 {
		ok, _, err := e.Authorize(c)
		if err != nil || !ok {
			t.Fatalf("authorize during the cross products: %v %v", ok, err)
		}
		served++
		if served%50 == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrEvaluation) || !errors.Is(err, polar.ErrBudgetExceeded) && !errors.Is(err, polar.ErrResultTooLarge) && !errors.Is(err, polar.ErrMemoryExceeded) {
			t.Errorf("cross product: got %v, want an evaluation error naming a limit", err)
		}
	}
	if served == 0 {
		t.Error("no authorize question was answered while the cross products ran")
	}
	// four questions of at most 64 MiB working memory each, plus slack
	// the node-wide query memory pool (256 MiB) plus the first MiB of
	// each question, and slack for GC pacing
	grew := int64(peak) - int64(base.HeapAlloc)
	t.Logf("heap grew by %d MiB while %d authorize questions were answered", grew>>20, served)
	if grew > 256<<20+64<<20 {
		t.Errorf("heap grew by %d MiB during the cross products", grew>>20)
	}
}

// TestResultAndMemoryLimits: each limit is enforced and named.
func TestResultAndMemoryLimits(t *testing.T) {
	st, shape := gitclub(t, 10_000)
	for _, tc := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"rows", Config{MaxResultRows: 10}, polar.ErrResultTooLarge},
		{"bytes", Config{MaxResultBytes: 100}, polar.ErrResultTooLarge},
		{"memory", Config{MaxQueryMemory: 2 << 20}, polar.ErrMemoryExceeded},
		{"pool", Config{QueryMemoryPool: 1}, ErrBusy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.CacheMaxBytes = -1
			tc.cfg.MaxSteps = 50_000_000
			e := newEngine(t, st, tc.cfg)
			_, _, err := e.EvaluateQuery(crossProduct.calls, crossProduct.vars, nil)
			if !errors.Is(err, tc.want) {
				t.Errorf("evaluate_query: got %v, want %v", err, tc.want)
			}
			// small questions are unaffected
			ok, _, err := e.Authorize(Check{Actor: shape.Direct.Actor, Action: shape.Direct.Action, Resource: shape.Direct.Resource})
			if err != nil || !ok {
				t.Errorf("authorize: %v %v", ok, err)
			}
		})
	}
}

// TestCanceledQueryStops: a question whose context is done stops with
// ErrCanceled instead of running to its budget.
func TestCanceledQueryStops(t *testing.T) {
	st, _ := gitclub(t, 10_000)
	e := newEngine(t, st, Config{CacheMaxBytes: -1, MaxSteps: 1 << 40})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := e.EvaluateQueryContext(ctx, crossProduct.calls, crossProduct.vars, nil)
	if !errors.Is(err, ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want ErrCanceled", err)
	}
}

// BenchmarkCrossProductRefused measures how long the cross product of
// TestCrossProductIsRefused takes to be refused.
func BenchmarkCrossProductRefused(b *testing.B) {
	st, _ := gitclub(b, benchFacts)
	e := newEngine(b, st, Config{CacheMaxBytes: -1})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.EvaluateQuery(crossProduct.calls, crossProduct.vars, nil); err == nil {
			b.Fatal("cross product answered")
		}
	}
}
