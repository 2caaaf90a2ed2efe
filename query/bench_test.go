package query

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// benchFacts is the data set size for the in-process benchmarks; override
// with -benchfacts.
var benchFacts = 1_000_000

func benchEngine(b *testing.B, cache bool) (*Engine, datasets.Shape) {
	st, shape := gitclub(b, benchFacts)
	cfg := Config{CacheMaxBytes: -1}
	if cache {
		cfg.CacheMaxBytes = 0
	}
	return newEngine(b, st, cfg), shape
}

func benchAuthorize(b *testing.B, q datasets.Query, cache bool, want bool) {
	e, _ := benchEngine(b, cache)
	c := Check{Actor: q.Actor, Action: q.Action, Resource: q.Resource}
	if ok, _, err := e.Authorize(c); err != nil || ok != want {
		b.Fatalf("authorize %v = %v, %v; want %v", q, ok, err, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Authorize(c)
	}
}

func BenchmarkAuthorizeDirectRole(b *testing.B) {
	_, s := benchEngine(b, false)
	benchAuthorize(b, s.Direct, false, true)
}

func BenchmarkAuthorizeOrgRepoIssue(b *testing.B) {
	_, s := benchEngine(b, false)
	benchAuthorize(b, s.Inherit, false, true)
}

func BenchmarkAuthorizeDenied(b *testing.B) {
	_, s := benchEngine(b, false)
	benchAuthorize(b, s.Denied, false, false)
}

func BenchmarkAuthorizeCached(b *testing.B) {
	e, s := benchEngine(b, true)
	c := Check{Actor: s.Inherit.Actor, Action: s.Inherit.Action, Resource: s.Inherit.Resource}
	for i := 0; i < 10; i++ {
		e.Authorize(c)
		e.cache.Wait()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Authorize(c)
	}
}

// BenchmarkAuthorizeMixed cycles through sampled questions, half allowed.
func BenchmarkAuthorizeMixed(b *testing.B) {
	e, s := benchEngine(b, false)
	benchChecks(b, e, s.SampleQueries(4096, 3))
}

// BenchmarkAuthorizeIssueReads cycles through DESIGN.md §11's workload,
// 2,000 issue reads, about half allowed.
func BenchmarkAuthorizeIssueReads(b *testing.B) {
	e, s := benchEngine(b, false)
	benchChecks(b, e, s.IssueReads(2000, 1))
}

func benchChecks(b *testing.B, e *Engine, qs []datasets.Query) {
	checks := make([]Check, len(qs))
	for i, q := range qs {
		checks[i] = Check{Actor: q.Actor, Action: q.Action, Resource: q.Resource}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		e.Authorize(checks[i%len(checks)])
		i++
	}
}

func BenchmarkListBigUser(b *testing.B) {
	e, s := benchEngine(b, false)
	ids, _, _, err := e.List(s.BigUser, "read", "Repository", nil)
	if err != nil || int64(len(ids)) != s.BigUserRepos {
		b.Fatalf("list = %d ids, %v; want %d", len(ids), err, s.BigUserRepos)
	}
	b.ReportMetric(float64(len(ids)), "ids")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.List(s.BigUser, "read", "Repository", nil)
	}
}

func BenchmarkActions(b *testing.B) {
	e, s := benchEngine(b, false)
	b.ReportAllocs()
	for b.Loop() {
		e.Actions(s.Inherit.Actor, s.Inherit.Resource, nil)
	}
}

// BenchmarkHeapPerFact reports heap bytes per fact of a loaded state.
func BenchmarkHeapPerFact(b *testing.B) {
	for _, n := range []int{100_000, benchFacts} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var before, after runtime.MemStats
			var st *replica.State
			for b.Loop() {
				st = nil
				runtime.GC()
				runtime.ReadMemStats(&before)
				st = loadFresh(b, n)
				runtime.GC()
				runtime.ReadMemStats(&after)
			}
			runtime.KeepAlive(st)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "heapB/fact")
		})
	}
}

func loadFresh(tb testing.TB, n int) *replica.State {
	l := replica.NewLoader(replica.Config{Env: "bench", Compiler: Compile})
	l.SetPolicy(replica.PolicySource{Src: datasets.GitclubPolicy})
	args := make([]uint32, 0, 8)
	err := datasets.Generate(datasets.Config{Facts: n, Seed: 1}, func(f replica.Fact) error {
		args = args[:0]
		for _, a := range f.Args {
			args = append(args, l.AddValue(a.Type, a.ID))
		}
		return l.AddFact(f.Predicate, args)
	})
	if err != nil {
		tb.Fatal(err)
	}
	st, err := l.Finish(1)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}
