package localsql

import (
	"testing"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// loadState returns a replica state with the policy and the facts.
func loadState(tb testing.TB, src string, facts []polar.Fact) *replica.State {
	tb.Helper()
	l := replica.NewLoader(replica.Config{Env: "test", Compiler: query.Compile})
	if err := l.SetPolicy(replica.PolicySource{Src: src, Filename: "policy.polar"}); err != nil {
		tb.Fatal(err)
	}
	for _, f := range facts {
		args := make([]uint32, len(f.Args))
		for i, a := range f.Args {
			args[i] = l.AddValue(a.Type, a.ID)
		}
		if err := l.AddFact(f.Predicate, args); err != nil {
			tb.Fatal(err)
		}
	}
	st, err := l.Finish(1)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func policyOf(tb testing.TB, v *replica.View) *polar.Policy {
	tb.Helper()
	_, c := v.Policy()
	p, ok := c.(*polar.Policy)
	if !ok {
		tb.Fatal("no compiled policy")
	}
	return p
}

func val(t, id string) polar.Value { return polar.Value{Type: t, ID: id} }

func fact(pred string, args ...polar.Value) polar.Fact {
	return polar.Fact{Predicate: pred, Args: args}
}
