package localsql

import (
	"strings"

	"github.com/outpost-authz/outpost/query/polar"
)

// Sub-goal memoisation. The role-implication rules of a typical policy
// reach the same sub-goal many times in one question (each level of
// reader ← writer ← maintainer ← admin, for the user and again for each
// of its groups, re-derives the levels below it). A call whose arguments
// are constants or free variables (no database column) has answers that
// depend only on the call itself, so they are translated once per
// question and replayed: each answer is kept with what it adds to the
// branch (binding queries and conditions), and a replay appends that to
// the caller's branch.
//
// A replayed answer reuses the aliases of its binding queries. That is
// sound wherever the answer lands in a branch that does not already hold
// one of those binding queries (branches are separate SQL scopes); when
// it would, the call is translated afresh with new aliases. Inside a
// negation nothing is memoised (its subquery sees the aliases of the
// enclosing branch), and a translation that cut a goal repeating one of
// its ancestors is used once but not kept (it depends on the ancestors).

// subgoal holds the answers of one call and what each adds to a branch.
type subgoal struct {
	answers []memoAnswer
}

type memoAnswer struct {
	ans   []term
	delta state
}

// memoable reports whether a call's answers are worth keeping: no
// argument is a database column and at least one is free (ground calls
// rarely repeat within a question).
func memoable(args []term) bool {
	free := false
	for _, a := range args {
		switch a.k {
		case kCol:
			return false
		case kFree:
			free = true
		}
	}
	return free
}

// goalKey identifies a call by predicate, constants and free types.
func goalKey(key string, args []term) string {
	var b strings.Builder
	n := len(key)
	for _, a := range args {
		n += 3 + len(a.v.Type) + len(a.v.ID) + len(a.typ)
	}
	b.Grow(n)
	b.WriteString(key)
	for _, a := range args {
		b.WriteByte(0)
		if a.k == kConst {
			b.WriteByte('c')
			b.WriteString(a.v.Type)
			b.WriteByte(1)
			b.WriteString(a.v.ID)
			continue
		}
		b.WriteByte('f')
		b.WriteString(a.typ)
	}
	return b.String()
}

// memoCall answers a call without columns from the question's memo,
// translating it first when it is not there.
func (g *gen) memoCall(rule *polar.RuleView, key, pred string, args []term, st state, k answerFn) bool {
	mk := goalKey(key, args)
	e, ok := g.goals[mk]
	if !ok {
		cuts := g.cuts
		e = &subgoal{}
		g.expand(rule, key, pred, args, state{}, func(ans []term, d state) bool {
			e.answers = append(e.answers, memoAnswer{ans, d})
			return true
		})
		if g.err != nil {
			return false
		}
		if g.cuts == cuts {
			if g.goals == nil {
				g.goals = map[string]*subgoal{}
			}
			g.goals[mk] = e
		}
	}
	for i := range e.answers {
		if sharesFrom(st, e.answers[i].delta) {
			return g.expand(rule, key, pred, args, st, k)
		}
	}
	for i := range e.answers {
		if !k(e.answers[i].ans, st.join(e.answers[i].delta)) {
			return false
		}
	}
	return g.err == nil
}

// sharesFrom reports whether d joins a binding query (the same alias)
// that s already joins.
func sharesFrom(s, d state) bool {
	for _, f := range d.from {
		for _, h := range s.from {
			if f == h {
				return true
			}
		}
	}
	return false
}

// join appends what d adds to the branch s.
func (s state) join(d state) state {
	if len(d.from) > 0 {
		s.from = append(s.from[:len(s.from):len(s.from)], d.from...)
	}
	if len(d.where) > 0 {
		s.where = append(s.where[:len(s.where):len(s.where)], d.where...)
	}
	return s
}
