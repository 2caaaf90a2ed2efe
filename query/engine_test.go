package query

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

var gitclubCache sync.Map // facts -> *replica.State

// gitclub returns a state loaded with the synthetic gitclub data set of n
// facts (seed 1). States are shared between tests and benchmarks of one
// run, read-only.
func gitclub(tb testing.TB, n int) (*replica.State, datasets.Shape) {
	tb.Helper()
	cfg := datasets.Config{Facts: n, Seed: 1}
	shape, err := datasets.Describe(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if st, ok := gitclubCache.Load(n); ok {
		return st.(*replica.State), shape
	}
	l := replica.NewLoader(replica.Config{Env: "test", Compiler: Compile})
	if err := l.SetPolicy(replica.PolicySource{Src: datasets.GitclubPolicy, Filename: datasets.PolicyFilename}); err != nil {
		tb.Fatal(err)
	}
	args := make([]uint32, 0, 8)
	err = datasets.Generate(cfg, func(f replica.Fact) error {
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
	gitclubCache.Store(n, st)
	return st, shape
}

func newEngine(tb testing.TB, st *replica.State, cfg Config) *Engine {
	tb.Helper()
	e, err := New(st, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	return e
}

// TestAgainstReference compares the Polar engine on the gitclub policy with
// the hand-written reference evaluator of testenv/datasets.
func TestAgainstReference(t *testing.T) {
	n := 100_000
	st, shape := gitclub(t, n)
	ref, err := datasets.LoadReference(datasets.Config{Facts: n, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, st, Config{CacheMaxBytes: -1})
	queries := shape.SampleQueries(3000, 7)
	allowed := 0
	for _, q := range queries {
		got, _, err := e.Authorize(Check{Actor: q.Actor, Action: q.Action, Resource: q.Resource})
		if err != nil {
			t.Fatalf("%v: %v", q, err)
		}
		want := ref.Authorize(q.Actor, q.Action, q.Resource)
		if got != want {
			t.Errorf("authorize %v: engine %v, reference %v", q, got, want)
		}
		if got {
			allowed++
		}
	}
	if allowed == 0 || allowed == len(queries) {
		t.Fatalf("sample is one-sided: %d of %d allowed", allowed, len(queries))
	}
	for _, user := range []replica.Value{shape.BigUser, shape.Direct.Actor, shape.Inherit.Actor} {
		got, all, _, err := e.List(user, "read", "Repository", nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.List(user, "read", "Repository")
		if err != nil {
			t.Fatal(err)
		}
		if all || len(got) != len(want) {
			t.Fatalf("list for %v: engine %d ids (all=%v), reference %d", user, len(got), all, len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("list for %v differs at %d: %s vs %s", user, i, got[i], want[i])
			}
		}
	}
}

// newApplied returns an empty state and a func applying events to it.
func newApplied(t *testing.T) (*replica.State, func(replica.Event)) {
	st := replica.New(replica.Config{Env: "t", Compiler: Compile})
	return st, func(ev replica.Event) {
		t.Helper()
		if err := st.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCacheIsKeyedByRevision(t *testing.T) {
	st, must := newApplied(t)
	must(replica.Event{Env: "t", Seq: 1, Kind: replica.KindPolicy, Policy: &replica.PolicySource{Src: `actor User {}
resource Doc { roles = ["r"]; permissions = ["read"]; "read" if "r"; }`}})
	grant := replica.Fact{Predicate: "has_role", Args: []replica.Value{{Type: "User", ID: "a"}, {Type: "String", ID: "r"}, {Type: "Doc", ID: "d"}}}
	must(replica.Event{Env: "t", Seq: 2, Kind: replica.KindBatch, Inserts: []replica.Fact{grant}})
	e := newEngine(t, st, Config{})
	c := Check{Actor: replica.Value{Type: "User", ID: "a"}, Action: "read", Resource: replica.Value{Type: "Doc", ID: "d"}}
	for i := 0; i < 50; i++ { // ristretto admits asynchronously; ask until cached
		ok, m, err := e.Authorize(c)
		if err != nil || !ok {
			t.Fatalf("authorize: %v %v", ok, err)
		}
		if m.Cached {
			break
		}
		e.cache.Wait()
	}
	pat := replica.Pattern{Predicate: "has_role", Args: []replica.PatternArg{replica.Exact(grant.Args[0]), replica.Any(), replica.Any()}}
	must(replica.Event{Env: "t", Seq: 3, Kind: replica.KindBatch, Deletes: []replica.Pattern{pat}})
	ok, m, err := e.Authorize(c)
	if err != nil || ok || m.Cached || m.Revision != 3 {
		t.Fatalf("after revoking: allowed=%v cached=%v rev=%d err=%v", ok, m.Cached, m.Revision, err)
	}
}

func TestNotReadyAndBadRequests(t *testing.T) {
	e := newEngine(t, replica.New(replica.Config{Env: "t", Compiler: Compile}), Config{})
	_, _, err := e.Authorize(Check{Actor: replica.Value{Type: "User", ID: "a"}, Action: "x", Resource: replica.Value{Type: "Doc", ID: "d"}})
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("got %v, want ErrNotReady", err)
	}
	st, _ := gitclub(t, 10_000)
	e = newEngine(t, st, Config{})
	for _, c := range []Check{
		{Actor: replica.Value{Type: "User", ID: ""}, Action: "read", Resource: replica.Value{Type: "Repository", ID: "r"}},
		{Actor: replica.Value{Type: "Robot", ID: "x"}, Action: "read", Resource: replica.Value{Type: "Repository", ID: "r"}},
		{Actor: replica.Value{Type: "User", ID: "a"}, Action: "", Resource: replica.Value{Type: "Repository", ID: "r"}},
		{Actor: replica.Value{Type: "User", ID: "a"}, Action: "read", Resource: replica.Value{Type: "Repository", ID: "r"},
			Context: []replica.Fact{{Predicate: "nope", Args: []replica.Value{{Type: "User", ID: "a"}}}}},
	} {
		if _, _, err := e.Authorize(c); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%+v: got %v, want ErrBadRequest", c, err)
		}
	}
}

// TestWaitForFollowsStateReplacement: a waiter on the old state wakes when
// a re-bootstrapped state that is far enough ahead replaces it.
func TestWaitForFollowsStateReplacement(t *testing.T) {
	e := newEngine(t, replica.New(replica.Config{Env: "t", Compiler: Compile}), Config{})
	done := make(chan error, 1)
	go func() { done <- e.WaitFor(t.Context(), 5) }()
	ahead := replica.New(replica.Config{Env: "t"})
	for seq := uint64(1); seq <= 5; seq++ {
		if err := ahead.Apply(replica.Event{Env: "t", Seq: seq, Kind: replica.KindClear}); err != nil {
			t.Fatal(err)
		}
	}
	e.SetState(ahead)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor did not follow the new state")
	}
}
