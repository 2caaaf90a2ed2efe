package polar

import (
	"sort"
	"strings"
)

// Type inference, validation of rules and fact signatures (spec §5.5, §6.4,
// §7.6, §8, §13.4).

// inferRule computes the static type of each variable of a rule from its
// specializers, matches, constants and comparisons, reporting conflicts.
func (b *builder) inferRule(r *irRule) {
	b.file = r.file
	narrow := func(v int, typ string, pos Pos) {
		cur := r.vars[v].typ
		m, ok := b.env.meet(cur, typ)
		if !ok {
			b.errorf(pos, "T005", "variable %s cannot be both %s and %s", r.termString(irTerm{kind: tVar, v: v}), cur, typ)
			return
		}
		r.vars[v].typ = m
	}
	for _, p := range r.params {
		if p.term.kind == tVar && p.typ != "" {
			narrow(p.term.v, p.typ, r.pos)
		}
		if p.term.kind == tConst && p.typ != "" && !b.env.subtypeName(p.term.val.Type, p.typ) {
			b.errorf(r.pos, "T005", "literal %s does not fit %s", literalString(p.term.val), p.typ)
		}
	}
	var walk func(body []irLit)
	walk = func(body []irLit) {
		for _, l := range body {
			switch l.kind {
			case lMatches:
				if l.a.kind == tVar {
					narrow(l.a.v, l.typ, l.pos)
				}
			case lEq:
				if l.a.kind == tVar && l.b.kind == tConst {
					narrow(l.a.v, l.b.val.Type, l.pos)
				}
				if l.b.kind == tVar && l.a.kind == tConst {
					narrow(l.b.v, l.a.val.Type, l.pos)
				}
				if l.a.kind == tConst && l.b.kind == tConst && l.a.val != l.b.val {
					// always false; harmless
				}
			case lCmp:
				for _, t := range []irTerm{l.a, l.b} {
					switch t.kind {
					case tConst:
						if t.val.Type != TypeInteger {
							b.errorf(l.pos, "T007", "%s compares %s, which is not an Integer", l.op, literalString(t.val))
						}
					case tVar:
						narrow(t.v, TypeInteger, l.pos)
					}
				}
			case lIn:
				var typ string
				for _, e := range l.list {
					if typ == "" {
						typ = e.val.Type
					} else if e.val.Type != typ {
						b.errorf(l.pos, "T005", "list elements after in must all have the same type (found %s and %s)", typ, e.val.Type)
					}
				}
				if typ != "" && l.a.kind == tVar {
					narrow(l.a.v, typ, l.pos)
				}
			}
			// Constraints inside a negation are tests, not facts about the
			// variable: `not x matches T` must not narrow x to T.
		}
	}
	walk(r.body)
}

// checkRule validates safety: every variable is typed or bound by a
// positive call, negation is restricted (default mode), comparisons have
// bound operands.
func (b *builder) checkRule(r *irRule, rulePreds map[string]bool, compoundNot bool) {
	b.file = r.file
	bound := make([]bool, len(r.vars)) // bound by a positive call, = const or in
	var markPositive func(body []irLit)
	markPositive = func(body []irLit) {
		for _, l := range body {
			switch l.kind {
			case lCall:
				for _, a := range l.args {
					if a.kind == tVar {
						bound[a.v] = true
					}
				}
			case lIn:
				if l.a.kind == tVar {
					bound[l.a.v] = true
				}
			case lEq:
				if l.a.kind == tVar && l.b.kind == tConst {
					bound[l.a.v] = true
				}
				if l.b.kind == tVar && l.a.kind == tConst {
					bound[l.b.v] = true
				}
			}
		}
		// x = y propagates boundness
		for changed := true; changed; {
			changed = false
			for _, l := range body {
				if l.kind == lEq && l.a.kind == tVar && l.b.kind == tVar && bound[l.a.v] != bound[l.b.v] {
					bound[l.a.v], bound[l.b.v] = true, true
					changed = true
				}
			}
		}
	}
	markPositive(r.body)
	name := func(v int) string { return r.termString(irTerm{kind: tVar, v: v}) }
	inHead := make([]bool, len(r.vars))
	for _, p := range r.params {
		if p.term.kind == tVar {
			inHead[p.term.v] = true
		}
	}
	// every head variable needs a type or a binding, except one that occurs
	// nowhere else: it means what _ means (any value), so it is a warning
	uses := r.varUses()
	reported := map[int]bool{}
	for _, p := range r.params {
		v := p.term.v
		if p.term.kind == tVar && r.vars[v].typ == "" && !bound[v] && !reported[v] && r.vars[v].name != "_" {
			reported[v] = true
			if uses[v] == 1 {
				b.warnf(r.pos, "W003", "variable %s of %s is used nowhere else and has no type, so it matches any value, like _ (write _ or give it a specializer)", name(v), r.pred)
				continue
			}
			b.errorf(r.pos, "T005", "cannot infer the type of variable %s in %s; give it a specializer (%s: Type)", name(v), r.pred, name(v))
		}
	}
	var checkNot func(body []irLit, outer []bool)
	checkNot = func(body []irLit, outer []bool) {
		for _, l := range body {
			switch l.kind {
			case lNe, lCmp:
				op := l.op.String()
				if l.kind == lNe {
					op = "!="
				}
				for _, t := range []irTerm{l.a, l.b} {
					if t.kind == tVar && !outer[t.v] && !inHead[t.v] {
						b.errorf(l.pos, "N004", "variable %s in %s is never bound by a predicate call", name(t.v), op)
					}
				}
			case lNot:
				if !compoundNot {
					if len(l.sub) != 1 || l.sub[0].kind != lCall {
						b.errorf(l.pos, "N001", "not must be applied to a single predicate call")
						continue
					}
					c := l.sub[0]
					if rulePreds[predKey(c.pred, len(c.args))] {
						b.errorf(l.pos, "N001", "not cannot be applied to %s, which is defined by rules; only stored facts can be negated", c.pred)
					}
					for _, a := range c.args {
						if a.kind != tVar || r.vars[a.v].name == "_" || outer[a.v] {
							continue
						}
						// A variable that occurs nowhere else means what _
						// means (not h(u, _): no value at all); a name
						// starting with _ says so on purpose.
						if uses[a.v] == 1 {
							if !strings.HasPrefix(r.vars[a.v].name, "_") {
								b.warnf(l.pos, "W003", "variable %s in not %s(...) is used nowhere else, so it matches any value, like _ (write _ if that is meant)", name(a.v), c.pred)
							}
							continue
						}
						b.errorf(l.pos, "N002", "variable %s in not %s(...) must also appear in a positive predicate call of the rule", name(a.v), c.pred)
					}
					continue
				}
				inner := append([]bool{}, outer...)
				saved := bound
				bound = inner
				markPositive(l.sub)
				bound = saved
				checkNot(l.sub, inner)
			}
		}
	}
	checkNot(r.body, bound)
}

// varUses counts the occurrences of each variable in the head and body.
func (r *irRule) varUses() []int {
	uses := make([]int, len(r.vars))
	count := func(t irTerm) {
		if t.kind == tVar {
			uses[t.v]++
		}
	}
	for _, p := range r.params {
		count(p.term)
	}
	var walk func(body []irLit)
	walk = func(body []irLit) {
		for _, l := range body {
			switch l.kind {
			case lEq, lNe, lCmp:
				count(l.a)
				count(l.b)
			case lMatches, lIn:
				count(l.a)
			}
			for _, t := range l.args {
				count(t)
			}
			for _, t := range l.list {
				count(t)
			}
			walk(l.sub)
		}
	}
	walk(r.body)
	return uses
}

// signature is the argument types of one way a predicate may hold facts; an
// empty name admits any value.
type signature []string

// collectSignatures gathers fact signatures (spec §6.4). fixed holds those
// that come from declare, type and block declarations.
func (b *builder) collectSignatures() (all, fixed map[string][]signature) {
	all = map[string][]signature{}
	fixed = map[string][]signature{}
	add := func(m map[string][]signature, key string, sig signature) {
		for _, s := range m[key] {
			if equalSig(s, sig) {
				return
			}
		}
		m[key] = append(m[key], sig)
	}
	both := func(key string, sig signature) { add(all, key, sig); add(fixed, key, sig) }
	for key, sigs := range b.declares {
		for _, s := range sigs {
			both(key, s)
		}
	}
	for _, name := range sortedKeys(b.blocks) {
		d := b.blocks[name]
		// Roles and permissions admit facts but do not fix the signature:
		// a custom-roles policy calls has_role with a resource-typed role
		// (spec Example 9, conformance 08), which call sites admit.
		if len(d.roles) > 0 {
			add(all, "has_role/3", signature{TypeActor, TypeString, name})
		}
		if len(d.permissions) > 0 {
			add(all, "has_permission/3", signature{TypeActor, TypeString, name})
		}
		for _, r := range d.relations {
			both("has_relation/3", signature{name, TypeString, r.Type.Name})
		}
	}
	if g := b.global; g != nil {
		if len(g.roles) > 0 {
			add(all, "has_role/2", signature{TypeActor, TypeString})
		}
		if len(g.permissions) > 0 {
			add(all, "has_permission/2", signature{TypeActor, TypeString})
		}
	}
	termType := func(r *irRule, t irTerm) string {
		switch t.kind {
		case tConst:
			return t.val.Type
		case tTime:
			return TypeInteger
		}
		return r.vars[t.v].typ
	}
	for _, r := range b.rules {
		sig := make(signature, len(r.params))
		for i, p := range r.params {
			sig[i] = termType(r, p.term)
		}
		add(all, r.key(), sig)
		var walk func(body []irLit)
		walk = func(body []irLit) {
			for _, l := range body {
				switch l.kind {
				case lCall:
					sig := make(signature, len(l.args))
					for i, a := range l.args {
						sig[i] = termType(r, a)
					}
					add(all, predKey(l.pred, len(l.args)), sig)
				case lNot:
					walk(l.sub)
				}
			}
		}
		walk(r.body)
	}
	return all, fixed
}

func equalSig(a, b signature) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkCalls warns of calls to fact-only predicates whose argument types fit
// none of the predicate's fixed signatures (W006). Oso infers fact types
// from use as well as from declarations ("declare statements form a union
// type"), and its Entitlements pattern calls has_relation on a pair of
// types that no relations entry names, so such a call widens the
// signatures (collectSignatures adds it) instead of failing the policy;
// the warning points at what may be a typo.
func (b *builder) checkCalls(fixed map[string][]signature, rulePreds map[string]bool) {
	for _, r := range b.rules {
		b.file = r.file
		var walk func(body []irLit)
		walk = func(body []irLit) {
			for _, l := range body {
				if l.kind == lNot {
					walk(l.sub)
					continue
				}
				if l.kind != lCall {
					continue
				}
				key := predKey(l.pred, len(l.args))
				sigs := fixed[key]
				if len(sigs) == 0 || rulePreds[key] {
					continue
				}
				ok := false
				for _, s := range sigs {
					fits := true
					for i, a := range l.args {
						t := ""
						switch a.kind {
						case tConst:
							t = a.val.Type
						case tTime:
							t = TypeInteger
						default:
							t = r.vars[a.v].typ
						}
						if t != "" && s[i] != "" && !b.env.related(t, s[i]) {
							fits = false
							break
						}
					}
					if fits {
						ok = true
						break
					}
				}
				if !ok {
					b.warnf(l.pos, "W006", "the arguments of %s fit none of its declared signatures (%s); facts of these types are admitted too, as Oso infers fact types from use", r.termStringCall(l), sigList(sigs))
				}
			}
		}
		walk(r.body)
	}
}

func (r *irRule) termStringCall(l irLit) string {
	s := l.pred + "("
	for i, a := range l.args {
		if i > 0 {
			s += ", "
		}
		s += r.termString(a)
		if a.kind == tVar && r.vars[a.v].typ != "" {
			s += ": " + r.vars[a.v].typ
		}
	}
	return s + ")"
}

func sigList(sigs []signature) string {
	out := ""
	for i, s := range sigs {
		if i > 0 {
			out += ", "
		}
		out += "("
		for j, t := range s {
			if j > 0 {
				out += ", "
			}
			if t == "" {
				t = "_"
			}
			out += t
		}
		out += ")"
	}
	return out
}

// stratify rejects recursion through negation (N003).
func (b *builder) stratify() {
	type edge struct {
		to  string
		neg bool
	}
	graph := map[string][]edge{}
	pos := map[string]*irRule{}
	for _, r := range b.rules {
		k := r.key()
		pos[k] = r
		var walk func(body []irLit, neg bool)
		walk = func(body []irLit, neg bool) {
			for _, l := range body {
				switch l.kind {
				case lCall:
					graph[k] = append(graph[k], edge{predKey(l.pred, len(l.args)), neg})
				case lNot:
					walk(l.sub, true)
				}
			}
		}
		walk(r.body, false)
	}
	// Tarjan's SCC
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	comp := map[string]int{}
	n, c := 0, 0
	var strong func(v string)
	strong = func(v string) {
		index[v], low[v] = n, n
		n++
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range graph[v] {
			if _, seen := index[e.to]; !seen {
				strong(e.to)
				low[v] = min(low[v], low[e.to])
			} else if onStack[e.to] {
				low[v] = min(low[v], index[e.to])
			}
		}
		if low[v] == index[v] {
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp[w] = c
				if w == v {
					break
				}
			}
			c++
		}
	}
	keys := sortedKeys(graph)
	for _, k := range keys {
		if _, seen := index[k]; !seen {
			strong(k)
		}
	}
	for _, k := range keys {
		for _, e := range graph[k] {
			if e.neg && comp[k] == comp[e.to] {
				r := pos[k]
				b.file = r.file
				b.errorf(r.pos, "N003", "%s depends on not %s through recursion; negation must not be recursive", k, e.to)
			}
		}
	}
}

func sortDiags(l ErrorList) {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].File != l[j].File {
			return l[i].File < l[j].File
		}
		if l[i].Pos.Line != l[j].Pos.Line {
			return l[i].Pos.Line < l[j].Pos.Line
		}
		return l[i].Pos.Col < l[j].Pos.Col
	})
}
