package query

import (
	"fmt"
	"slices"
	"testing"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

var hierarchyCache = map[datasets.Hierarchy]*replica.State{}

// hierarchy returns a state loaded with the hierarchy data set h; states
// are shared by the tests and benchmarks of one run, read-only.
func hierarchy(tb testing.TB, h datasets.Hierarchy) *replica.State {
	tb.Helper()
	if st, ok := hierarchyCache[h]; ok {
		return st
	}
	l := replica.NewLoader(replica.Config{Env: "test", Compiler: Compile})
	if err := l.SetPolicy(replica.PolicySource{Src: datasets.HierarchyPolicy, Filename: datasets.HierarchyPolicyFilename}); err != nil {
		tb.Fatal(err)
	}
	args := make([]uint32, 0, 8)
	err := h.Generate(func(f replica.Fact) error {
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
	hierarchyCache[h] = st
	return st
}

// TestHierarchiesAgainstReference compares the engine with the hand-written
// breadth-first evaluator on trees, chains, diamonds, cycles and nested
// groups, for authorize and list, with the default budget.
func TestHierarchiesAgainstReference(t *testing.T) {
	for _, h := range []datasets.Hierarchy{
		{Kind: datasets.Tree, Fanout: 3, Depth: 5},
		{Kind: datasets.Chain, Length: 300},
		{Kind: datasets.Diamond, Fanout: 4, Depth: 30},
		{Kind: datasets.Cycle, Length: 50},
		{Kind: datasets.Cycle, Length: 2},
		{Kind: datasets.Groups, Fanout: 3, Depth: 3, Length: 10},
	} {
		t.Run(fmt.Sprintf("%s-%d-%d-%d", h.Kind, h.Fanout, h.Depth, h.Length), func(t *testing.T) {
			ref, err := datasets.LoadHierarchyReference(h)
			if err != nil {
				t.Fatal(err)
			}
			e := newEngine(t, hierarchy(t, h), Config{CacheMaxBytes: -1})
			allowed := 0
			for _, q := range h.Questions() {
				got, _, err := e.Authorize(Check{Actor: q.Actor, Action: q.Action, Resource: q.Resource})
				if err != nil {
					t.Fatalf("%v: %v", q, err)
				}
				if want := ref.Authorize(q.Actor, q.Action, q.Resource); got != want {
					t.Errorf("authorize %v: engine %v, reference %v", q, got, want)
				}
				if got {
					allowed++
				}
			}
			if allowed == 0 {
				t.Fatal("no question was allowed")
			}
			for _, a := range []replica.Value{datasets.HierarchyOwner, datasets.HierarchyOther, datasets.HierarchyMember} {
				for _, act := range []string{"read", "manage"} {
					got, all, _, err := e.List(a, act, datasets.TypeFolder, nil)
					if err != nil {
						t.Fatalf("list %v %s: %v", a, act, err)
					}
					want := ref.List(a, act)
					if all || !slices.Equal(got, want) {
						t.Errorf("list %v %s: engine %d ids (all=%v), reference %d", a, act, len(got), all, len(want))
					}
				}
			}
		})
	}
}

// TestDeepHierarchiesWithinBudget: a leaf of a 1.1M-folder tree and the
// end of a 2,000-folder chain are answered with the default budget.
func TestDeepHierarchiesWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a 1.1M-folder tree")
	}
	tree := datasets.Hierarchy{Kind: datasets.Tree, Fanout: 10, Depth: 6}
	if raceEnabled {
		tree.Depth = 5
	}
	for _, h := range []datasets.Hierarchy{{Kind: datasets.Chain, Length: 2000}, tree} {
		e := newEngine(t, hierarchy(t, h), Config{CacheMaxBytes: -1})
		for _, c := range []struct {
			actor replica.Value
			want  bool
		}{{datasets.HierarchyOwner, true}, {datasets.HierarchyOther, false}} {
			got, _, err := e.Authorize(Check{Actor: c.actor, Action: "read", Resource: h.Leaf()})
			if err != nil || got != c.want {
				t.Errorf("%s: %v read %v = %v, %v; want %v", h.Kind, c.actor, h.Leaf(), got, err, c.want)
			}
		}
	}
}
