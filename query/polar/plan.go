package polar

// Join planning: for each rule and each adornment (which head parameters are
// bound by the caller), the body literals are ordered so that every call is
// driven by its most selective bound arguments and filters run as soon as
// their variables are bound. Plans are computed on first use and cached.

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
	for i, h := range r.head {
		if h.kind == tVar {
			needed[h.v] = true
			if mask&(1<<i) != 0 {
				bound[h.v] = true
			}
		}
	}
	pl := planBody(r.body, bound, needed)
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
func planBody(body []clit, bound, needed []bool) *plan {
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
			st.sub = planBody(l.sub, bound, make([]bool, len(bound)))
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

func appendUnique(s []int, v int) []int {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
