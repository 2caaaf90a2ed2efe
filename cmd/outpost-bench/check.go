package main

import (
	"context"
	"fmt"
	"time"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
)

// check times in-process questions on a query.Engine, one call at a time
// with time.Now around each, first with the answer cache off, then on
// (scenario names get "_cached"). Named answers are checked on every call.
func (b *bench) check(ctx context.Context) ([]Result, error) {
	st, err := b.loaded()
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, cached := range []bool{false, true} {
		rs, err := b.checkEngine(ctx, st, cached)
		out = append(out, rs...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (b *bench) checkEngine(ctx context.Context, st *replica.State, cached bool) ([]Result, error) {
	cfg, suffix := query.Config{CacheMaxBytes: -1}, ""
	if cached {
		cfg, suffix = query.Config{}, "_cached"
	}
	e, err := query.New(st, cfg)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	s := b.shape
	n, nList := b.c.iterations, max(20, b.c.iterations/100)
	mixed, issueReads := b.mixedChecks(), b.issueReadChecks()
	cases := []struct {
		name string
		n    int
		warm int
		op   func(i int) error
	}{
		{"authorize_direct", n, 10, authorizeOp(e, check(s.Direct), true)},
		{"authorize_inherit", n, 10, authorizeOp(e, check(s.Inherit), true)},
		{"authorize_denied", n, 10, authorizeOp(e, check(s.Denied), false)},
		{"authorize_mixed", n, 2 * len(mixed), func(i int) error {
			_, _, err := e.Authorize(mixed[i%len(mixed)])
			return err
		}},
		{"authorize_issue_reads", n, 2 * len(issueReads), func(i int) error {
			_, _, err := e.Authorize(issueReads[i%len(issueReads)])
			return err
		}},
		{"list_biguser", nList, 3, func(int) error {
			ids, _, _, err := e.List(s.BigUser, "read", "Repository", nil)
			if err == nil && int64(len(ids)) != s.BigUserRepos {
				err = fmt.Errorf("list gave %d repositories, want %d", len(ids), s.BigUserRepos)
			}
			return err
		}},
		{"actions_inherit", n, 10, func(int) error {
			acts, _, _, err := e.Actions(s.Inherit.Actor, s.Inherit.Resource, nil)
			if err == nil && len(acts) == 0 {
				err = fmt.Errorf("no actions for %v on %v", s.Inherit.Actor, s.Inherit.Resource)
			}
			return err
		}},
	}
	var out []Result
	for _, c := range cases {
		name := c.name + suffix
		// Warm up: fills the cache (ristretto admits entries
		// asynchronously, hence the pause) and the evaluator's pools.
		if _, err := timeOps(ctx, c.warm, c.op); err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		if cached {
			time.Sleep(50 * time.Millisecond)
		}
		h0, m0 := e.CacheStats()
		lat, err := timeOps(ctx, c.n, c.op)
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		r := newResult(name, b.facts)
		summarize(&r, lat)
		r.latencyMetrics()
		if c.name == "list_biguser" {
			r.Items = int(s.BigUserRepos)
		}
		if h1, m1 := e.CacheStats(); cached && h1+m1 > h0+m0 {
			r.Detail["cache_hit_ratio"] = float64(h1-h0) / float64(h1+m1-h0-m0)
			r.metric("cache hits", 100*r.Detail["cache_hit_ratio"], "%")
		}
		b.logf("%s: p50 %v p99 %v", name, time.Duration(r.P50NS), time.Duration(r.P99NS))
		out = append(out, r)
	}
	return out, nil
}

// authorizeOp asks c and checks the answer.
func authorizeOp(e *query.Engine, c query.Check, want bool) func(int) error {
	return func(int) error {
		ok, _, err := e.Authorize(c)
		if err == nil && ok != want {
			err = fmt.Errorf("authorize %v %s %v = %v, want %v", c.Actor, c.Action, c.Resource, ok, want)
		}
		return err
	}
}
