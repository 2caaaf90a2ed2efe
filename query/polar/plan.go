package polar

// Join planning: for each rule and each adornment (which head parameters are
// bound by the caller), the body literals are ordered so that every call is
// driven by its most selective bound arguments and filters run as soon as
// their variables are bound. Plans are computed on first use and cached.
//
// Recursive calls are goal-directed: a call to a predicate of the rule's own
// recursive component is not planned while it would have fewer bound
// arguments than the rule's head has, if some other literal can run first
// (and so bind more of them). For `has_role(a, r, f) if has_relation(f,
// "parent", p) and has_role(a, r, p)` asked with f bound, the parent is
// looked up first and the recursive call is made with p bound: the
// evaluation walks up from the folder instead of computing every folder
// the actor reaches. See docs/evaluation.md.

type plan struct {
	steps []step
}

type step struct {
	lit     *clit
	exists  bool  // lCall: no later step needs what it binds; one answer suffices
	sub     *plan // lNot
	outVars []int // variables the step may bind or narrow, restored on backtrack
}

// planFor returns the plan of r for a call whose bound head parameters are
// given by mask.
func (r *crule) planFor(mask int) *plan {
	if pl := r.plans[mask].Load(); pl != nil {
		return pl
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if pl := r.plans[mask].Load(); pl != nil {
		return pl
	}
	bound := make([]bool, r.nvars)
	needed := make([]bool, r.nvars)
	headBound := 0
	for i, h := range r.head {
		switch {
		case h.kind != tVar:
			headBound++
		case mask&(1<<i) != 0:
			needed[h.v] = true
			if !bound[h.v] {
				headBound++
			}
			bound[h.v] = true
		default:
			needed[h.v] = true
		}
	}
	pl := planBody(r.body, bound, needed, r.pred, headBound)
	r.plans[mask].Store(pl)
	return pl
}

func termVars(t cterm, out []int) []int {
	if t.kind == tVar {
		out = append(out, t.v)
	}
	return out
}

func litVars(l *clit, out []int) []int {
	switch l.kind {
	case lCall:
		for _, a := range l.args {
			out = termVars(a, out)
		}
	case lNot:
		for i := range l.sub {
			out = litVars(&l.sub[i], out)
		}
	default:
		out = termVars(l.a, out)
		out = termVars(l.b, out)
	}
	return out
}

// planBody orders body literals given the variables bound on entry. needed
// marks variables whose values the caller wants (head variables).
// self is the predicate of the rule and headBound the number of its head
// arguments bound on entry (nil and 0 for a negated conjunction).
func planBody(body []clit, bound, needed []bool, self *pred, headBound int) *plan {
	bound = append([]bool{}, bound...)
	remaining := make([]int, len(body))
	for i := range remaining {
		remaining[i] = i
	}
	// variables used outside each literal, to know what a negation shares
	usedElsewhere := func(skip int) map[int]bool {
		m := map[int]bool{}
		for j := range body {
			if j == skip {
				continue
			}
			for _, v := range litVars(&body[j], nil) {
				m[v] = true
			}
		}
		for v, n := range needed {
			if n {
				m[v] = true
			}
		}
		return m
	}
	isBound := func(t cterm) bool { return t.kind != tVar || bound[t.v] }
	pl := &plan{}
	for len(remaining) > 0 {
		best, bestScore := -1, -1
		for ri, i := range remaining {
			l := &body[i]
			score := -1
			switch l.kind {
			case lMatches:
				score = 100
			case lEq:
				if isBound(l.a) || isBound(l.b) {
					score = 90
				}
			case lNe, lCmp:
				if isBound(l.a) && isBound(l.b) {
					score = 95
				}
			case lIn:
				if isBound(l.a) {
					score = 95
				} else {
					score = 2
				}
			case lNot:
				shared := usedElsewhere(i)
				ok := true
				for _, v := range litVars(l, nil) {
					if shared[v] && !bound[v] {
						ok = false
					}
				}
				if ok {
					score = 80
				}
			case lCall:
				score = 0
				for _, a := range l.args {
					switch {
					case a.kind == tConst || a.kind == tTime:
						score++
					case bound[a.v]:
						score += 3
					}
				}
				if !l.pred.hasRules {
					score++
				}
				if self != nil && self.scc != 0 && l.pred.scc == self.scc && boundArgs(l, bound) < headBound {
					// a recursive call less bound than this one would
					// compute more than was asked: let others bind first
					score = 0
				}
			}
			if score > bestScore {
				best, bestScore = ri, score
			}
		}
		if bestScore < 0 {
			best = 0 // only literals with unbound operands remain: run them and let evaluation report it
		}
		i := remaining[best]
		remaining = append(remaining[:best], remaining[best+1:]...)
		l := &body[i]
		st := step{lit: l}
		switch l.kind {
		case lCall:
			for _, a := range l.args {
				if a.kind == tVar && !bound[a.v] {
					st.outVars = appendUnique(st.outVars, a.v)
				}
			}
		case lEq:
			for _, t := range []cterm{l.a, l.b} {
				if t.kind == tVar && !bound[t.v] {
					st.outVars = appendUnique(st.outVars, t.v)
				}
			}
		case lIn, lMatches:
			if l.a.kind == tVar && !bound[l.a.v] {
				st.outVars = []int{l.a.v}
			}
		case lNot:
			st.sub = planBody(l.sub, bound, make([]bool, len(bound)), nil, 0)
		}
		if l.kind != lMatches {
			for _, v := range st.outVars {
				bound[v] = true
			}
		}
		pl.steps = append(pl.steps, st)
	}
	// a call whose new bindings nobody reads needs only one answer
	for i := range pl.steps {
		st := &pl.steps[i]
		if st.lit.kind != lCall {
			continue
		}
		st.exists = true
		for _, v := range st.outVars {
			if needed[v] {
				st.exists = false
				break
			}
			for _, later := range pl.steps[i+1:] {
				for _, w := range litVars(later.lit, nil) {
					if w == v {
						st.exists = false
					}
				}
			}
		}
	}
	return pl
}

// boundArgs counts the arguments of call l that are constants or bound
// variables (a variable repeated counts once).
func boundArgs(l *clit, bound []bool) int {
	n := 0
	for i, a := range l.args {
		switch {
		case a.kind != tVar:
			n++
		case bound[a.v]:
			dup := false
			for _, b := range l.args[:i] {
				if b.kind == tVar && b.v == a.v {
					dup = true
				}
			}
			if !dup {
				n++
			}
		}
	}
	return n
}

func appendUnique(s []int, v int) []int {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
