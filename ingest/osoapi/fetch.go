package osoapi

import (
	"context"
	"fmt"
	"time"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// suspectCap is a result count that may mean the upstream cut an answer
// short without saying so (Oso documents a 1000-result cap on get for
// developer accounts); such answers are logged.
const suspectCap = 1000

// FetchStats describes one fetch.
type FetchStats struct {
	Requests   int
	Facts      int
	Predicates []string
	Took       time.Duration
}

// fetch reads the upstream's policy and every fact it can read into a new
// State at revision rev (with tokens, when given). Nothing is returned
// unless every answer arrived whole.
func (s *Source) fetch(ctx context.Context, rev uint64, tokens []replica.Token) (*replica.State, FetchStats, error) {
	start := time.Now()
	var stats FetchStats
	src, ok, err := s.client.policy(ctx)
	stats.Requests++
	if err != nil {
		return nil, stats, err
	}
	l := replica.NewLoader(s.cfg.Replica)
	if tokens != nil {
		if err := l.SetTokens(tokens); err != nil {
			return nil, stats, err
		}
	}
	if ok {
		compiled, err := s.cfg.Replica.Compiler(src)
		if err != nil {
			return nil, stats, fmt.Errorf("compile the upstream's policy: %w", err)
		}
		pol, isPolar := compiled.(*polar.Policy)
		if !isPolar {
			return nil, stats, fmt.Errorf("compile the upstream's policy: got %T, want *polar.Policy", compiled)
		}
		if err := l.SetPolicy(src); err != nil {
			return nil, stats, err
		}
		seen := map[string]bool{}
		for _, fp := range pol.FactPredicates() {
			if seen[fp.Name] {
				continue
			}
			seen[fp.Name] = true
			stats.Predicates = append(stats.Predicates, fp.Name)
		}
	}
	syms := make([]uint32, 0, polar.MaxArity)
	for _, pred := range stats.Predicates {
		n, err := s.client.facts(ctx, pred, func(f replica.Fact) error {
			syms = syms[:0]
			for _, a := range f.Args {
				c, err := replica.Canonical(a)
				if err != nil {
					return err
				}
				sym := l.AddValue(c.Type, c.ID)
				if sym == 0 {
					return l.Err()
				}
				syms = append(syms, sym)
			}
			return l.AddFact(f.Predicate, syms)
		})
		stats.Requests++
		stats.Facts += n
		if err != nil {
			return nil, stats, err
		}
		if n == suspectCap {
			s.log.Warn("the upstream answered exactly as many facts as a developer plan's cap; the answer may be incomplete",
				"predicate", pred, "facts", n)
		}
	}
	st, err := l.Finish(rev)
	if err != nil {
		return nil, stats, fmt.Errorf("build state from the upstream's facts: %w", err)
	}
	stats.Took = time.Since(start)
	return st, stats, nil
}
