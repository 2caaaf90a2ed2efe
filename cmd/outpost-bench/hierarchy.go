package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// Scenarios of issues #15 and #17:
//
//	hierarchy   deep recursive relations (testenv/datasets.Hierarchy): a
//	            leaf of a 10-way tree of 1.1M folders (allowed, denied, and
//	            at each depth), the end of chains of 2k, 8k and 44k folders,
//	            ten nested groups, and list of the folders a user reaches
//	            in the tree; run once, for the first data set size
//	isolation   authorize p99 of the mixed sample alone, then while four
//	            evaluate_query cross products (has_role × is_public, every
//	            variable unbound) run at once and are refused

// hierarchyState loads a hierarchy data set with its policy.
func hierarchyState(h datasets.Hierarchy) (*replica.State, error) {
	l := replica.NewLoader(replica.Config{Env: benchEnv, Compiler: query.Compile})
	if err := l.SetPolicy(replica.PolicySource{Src: datasets.HierarchyPolicy, Filename: datasets.HierarchyPolicyFilename}); err != nil {
		return nil, err
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
		return nil, fmt.Errorf("generate %s: %w", h.Kind, err)
	}
	return l.Finish(1)
}

func (b *bench) hierarchy(ctx context.Context) ([]Result, error) {
	if b.facts != b.c.facts[0] {
		return nil, nil // the shapes do not depend on the gitclub size
	}
	n := b.c.iterations
	type question struct {
		name  string
		actor replica.Value
		res   replica.Value
		want  bool
	}
	tree := datasets.Hierarchy{Kind: datasets.Tree, Fanout: 10, Depth: 6}
	treeQs := []question{
		{"tree_leaf_allowed", datasets.HierarchyOwner, tree.Leaf(), true},
		{"tree_leaf_denied", datasets.HierarchyOther, tree.Leaf(), false},
	}
	last, width := int64(0), int64(1)
	for d := 1; d <= tree.Depth; d++ {
		width *= int64(tree.Fanout)
		last += width
		f := replica.Value{Type: datasets.TypeFolder, ID: fmt.Sprint("f", last)}
		treeQs = append(treeQs, question{fmt.Sprintf("tree_depth_%d", d), datasets.HierarchyOwner, f, true})
	}
	shapes := []struct {
		h  datasets.Hierarchy
		qs []question
		n  int
	}{{tree, treeQs, n}}
	for _, length := range []int{2_000, 8_000, 44_000} {
		h := datasets.Hierarchy{Kind: datasets.Chain, Length: length}
		shapes = append(shapes, struct {
			h  datasets.Hierarchy
			qs []question
			n  int
		}{h, []question{
			{fmt.Sprintf("chain_%dk_allowed", length/1000), datasets.HierarchyOwner, h.Leaf(), true},
			{fmt.Sprintf("chain_%dk_denied", length/1000), datasets.HierarchyOther, h.Leaf(), false},
		}, max(5, n*200/length/100)})
	}
	groups := datasets.Hierarchy{Kind: datasets.Groups, Fanout: 10, Depth: 3, Length: 10}
	shapes = append(shapes, struct {
		h  datasets.Hierarchy
		qs []question
		n  int
	}{groups, []question{{"nested_groups_10", datasets.HierarchyMember, groups.Leaf(), true}}, n})

	var out []Result
	for _, s := range shapes {
		st, err := hierarchyState(s.h)
		if err != nil {
			return out, err
		}
		e, err := query.New(st, query.Config{CacheMaxBytes: -1})
		if err != nil {
			return out, err
		}
		for _, q := range s.qs {
			op := authorizeOp(e, query.Check{Actor: q.actor, Action: "read", Resource: q.res}, q.want)
			if _, err := timeOps(ctx, 3, op); err != nil {
				e.Close()
				return out, fmt.Errorf("%s: %w", q.name, err)
			}
			lat, err := timeOps(ctx, s.n, op)
			if err != nil {
				e.Close()
				return out, fmt.Errorf("%s: %w", q.name, err)
			}
			r := newResult(q.name, int(s.h.Folders()))
			summarize(&r, lat)
			r.latencyMetrics()
			b.logf("%s: p50 %v p99 %v", q.name, time.Duration(r.P50NS), time.Duration(r.P99NS))
			out = append(out, r)
		}
		if s.h == tree {
			// Other reaches the 111,111 folders below f1
			op := func(int) error {
				ids, _, _, err := e.List(datasets.HierarchyOther, "read", datasets.TypeFolder, nil)
				if err == nil && len(ids) != 111_111 {
					err = fmt.Errorf("list gave %d folders, want 111111", len(ids))
				}
				return err
			}
			lat, err := timeOps(ctx, max(5, n/1000), op)
			if err != nil {
				e.Close()
				return out, fmt.Errorf("tree_list: %w", err)
			}
			r := newResult("tree_list_111k", int(s.h.Folders()))
			summarize(&r, lat)
			r.latencyMetrics()
			r.Items = 111_111
			b.logf("tree_list_111k: p50 %v", time.Duration(r.P50NS))
			out = append(out, r)
		}
		e.Close()
	}
	return out, nil
}

// crossProduct is the evaluate_query of issue #17.
var crossProduct = struct {
	calls []query.QueryCall
	vars  map[string]query.VarConstraint
}{
	calls: []query.QueryCall{
		{Predicate: "has_role", Args: []string{"u", "r", "p"}},
		{Predicate: "is_public", Args: []string{"p2"}},
	},
	vars: map[string]query.VarConstraint{
		"u": {Type: "User"}, "r": {Type: "String"}, "p": {Type: "Repository"}, "p2": {Type: "Repository"},
	},
}

func (b *bench) isolation(ctx context.Context) ([]Result, error) {
	_, e, err := b.uncachedEngine(false)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	mixed := b.mixedChecks()
	op := func(i int) error {
		_, _, err := e.Authorize(mixed[i%len(mixed)])
		return err
	}
	if _, err := timeOps(ctx, 2*len(mixed), op); err != nil {
		return nil, err
	}
	idle, err := timeOps(ctx, b.c.iterations, op)
	if err != nil {
		return nil, err
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused []time.Duration
	var unexpected error
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				_, _, err := e.EvaluateQueryContext(ctx, crossProduct.calls, crossProduct.vars, nil)
				mu.Lock()
				refused = append(refused, time.Since(t0))
				if !errors.Is(err, query.ErrEvaluation) && !errors.Is(err, query.ErrBusy) && ctx.Err() == nil {
					unexpected = fmt.Errorf("cross product: got %v, want a refusal", err)
				}
				mu.Unlock()
			}
		})
	}
	busy, err := timeOps(ctx, b.c.iterations, op)
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if unexpected != nil {
		return nil, unexpected
	}
	ri := newResult("isolation_authorize_idle", b.facts)
	summarize(&ri, idle)
	ri.latencyMetrics()
	rb := newResult("isolation_authorize_busy", b.facts)
	summarize(&rb, busy)
	rb.latencyMetrics()
	if ri.P99NS > 0 {
		rb.metric("p99 busy/idle", float64(rb.P99NS)/float64(ri.P99NS), "x")
	}
	rc := newResult("isolation_cross_product_refused", b.facts)
	summarize(&rc, refused)
	rc.latencyMetrics()
	b.logf("isolation: authorize p99 idle %v, with 4 cross products %v; refusal p50 %v",
		time.Duration(ri.P99NS), time.Duration(rb.P99NS), time.Duration(rc.P50NS))
	return []Result{ri, rb, rc}, nil
}
