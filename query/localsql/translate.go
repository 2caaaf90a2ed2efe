package localsql

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/outpost-authz/outpost/query/polar"
)

// The translator evaluates the policy symbolically. Everything the server
// knows is evaluated here: calls of predicates that cannot reach a bound
// (local) predicate go to the engine (polar.Policy.Query) with every stored
// and context fact; stored facts of the other predicates are scanned here.
// Only what depends on bound predicates is left as SQL: a call of a bound
// predicate becomes a binding query in a FROM list, and a variable it binds
// becomes a column of that query. The result is a disjunction of branches,
// each a FROM list and a conjunction of conditions.

// policyInfo is derived from a policy and the set of bound predicates.
type policyInfo struct {
	policy   *polar.Policy
	rules    map[string][]*polar.RuleView // by predicate/arity
	localDep map[string]bool              // predicate/arity reaches a bound predicate
	needed   map[*polar.RuleView][]bool   // variables of each rule's head
	facts    map[string][]*Signature      // the signatures the policy can use (Bindings.Usable)
	unused   []string                     // why the others cannot be used
}

func (b *Bindings) infoFor(p *polar.Policy) *policyInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.info != nil && b.info.policy == p {
		return b.info
	}
	in := &policyInfo{policy: p, rules: map[string][]*polar.RuleView{}, localDep: map[string]bool{}, needed: map[*polar.RuleView][]bool{}}
	in.facts, in.unused = b.Usable(p)
	views := p.RuleViews()
	for i := range views {
		r := &views[i]
		k := predKey(r.Pred, len(r.Params))
		in.rules[k] = append(in.rules[k], r)
		nd := make([]bool, len(r.VarTypes))
		for _, prm := range r.Params {
			if prm.Kind == polar.TermVar {
				nd[prm.Var] = true
			}
		}
		in.needed[r] = nd
	}
	for k := range in.facts {
		in.localDep[k] = true
	}
	var calls func(lits []polar.LitView) bool
	calls = func(lits []polar.LitView) bool {
		for _, l := range lits {
			if l.Kind == polar.LitCall && in.localDep[predKey(l.Pred, len(l.Args))] {
				return true
			}
			if l.Kind == polar.LitNot && calls(l.Sub) {
				return true
			}
		}
		return false
	}
	for changed := true; changed; {
		changed = false
		for k, rs := range in.rules {
			if in.localDep[k] {
				continue
			}
			for _, r := range rs {
				if calls(r.Body) {
					in.localDep[k] = true
					changed = true
					break
				}
			}
		}
	}
	b.info = in
	return in
}

type termKind uint8

const (
	kFree  termKind = iota // unbound; typ narrows it ("" = any)
	kConst                 // the value v
	kCol                   // the SQL expression sql, holding ids of type typ
)

type term struct {
	k   termKind
	v   polar.Value
	sql string
	typ string
}

func (t term) bound() bool { return t.k != kFree }

// state is one branch: the binding queries it joins and its conditions.
type state struct {
	from  []string
	where []string
}

func (s state) with(from, cond string) state {
	if from != "" {
		s.from = append(s.from[:len(s.from):len(s.from)], from)
	}
	if cond != "" && cond != "true" {
		s.where = append(s.where[:len(s.where):len(s.where)], cond)
	}
	return s
}

// DefaultMaxSteps bounds the symbolic evaluation of one request.
const DefaultMaxSteps = 200_000

// maxDepth bounds the nesting of rule expansions.
const maxDepth = 64

type gen struct {
	p     *polar.Policy
	db    polar.Database
	b     *Bindings
	info  *policyInfo
	qo    *polar.QueryOptions
	now   int64
	ctx   map[string][][]polar.Value // context facts by predicate/arity
	alias int
	steps int
	max   int
	err   error
	stack []frameKey
	memo  map[string][][]polar.Value // engine answers and stored facts by call
	goals map[string]*subgoal        // translated sub-goals by call (memo.go)
	cuts  int                        // ground goals cut as repeating an ancestor
	neg   int                        // depth of negations being translated
}

// memoKey identifies a call by predicate and the values it passes
// (wildcards by type).
func memoKey(kind, pred string, vals []polar.Value) string {
	var b strings.Builder
	n := len(kind) + len(pred)
	for _, v := range vals {
		n += 2 + len(v.Type) + len(v.ID)
	}
	b.Grow(n)
	b.WriteString(kind)
	b.WriteString(pred)
	for _, v := range vals {
		b.WriteByte(0)
		b.WriteString(v.Type)
		b.WriteByte(1)
		b.WriteString(v.ID)
	}
	return b.String()
}

type frameKey struct {
	key  string
	args []term
	rule string
}

// sameShape reports whether a call repeats an ancestor: the same constants,
// and columns and free variables of the same types at the same places.
func sameShape(a, b []term) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.k != y.k {
			return false
		}
		switch x.k {
		case kConst:
			if x.v != y.v {
				return false
			}
		default:
			if x.typ != y.typ {
				return false
			}
		}
	}
	return true
}

func (g *gen) fail(err error) bool {
	if g.err == nil {
		g.err = err
	}
	return false
}

func (g *gen) tick() bool {
	g.steps++
	if g.steps > g.max {
		return g.fail(badf("the policy is too complex to translate to SQL for this question (more than %d steps)", g.max))
	}
	return g.err == nil
}

func (g *gen) fits(t, of string) bool { return of == "" || g.p.IsSubtype(t, of) }

// fitsAny reports whether a stored fact's row fits one of the signatures:
// its type at each column argument, its value at each constant.
func (g *gen) fitsAny(row []polar.Value, sigs []*Signature) bool {
	for _, s := range sigs {
		fit := len(s.Args) == len(row)
		for i := 0; fit && i < len(row); i++ {
			a := s.Args[i]
			if a.Col {
				fit = g.fits(row[i].Type, a.Value.Type)
			} else {
				fit = row[i] == a.Value
			}
		}
		if fit {
			return true
		}
	}
	return false
}

func (g *gen) meet(a, b string) (string, bool) {
	switch {
	case a == "":
		return b, true
	case b == "", g.p.IsSubtype(a, b):
		return a, true
	case g.p.IsSubtype(b, a):
		return b, true
	}
	return "", false
}

// unify returns the more precise of two terms that must be equal, and the
// SQL condition that makes them so ("" when none).
func (g *gen) unify(a, b term) (term, string, bool) {
	if a.k == kFree {
		a, b = b, a
	}
	switch {
	case b.k == kFree && a.k == kFree:
		t, ok := g.meet(a.typ, b.typ)
		return term{k: kFree, typ: t}, "", ok
	case b.k == kFree && a.k == kConst:
		return a, "", g.fits(a.v.Type, b.typ)
	case b.k == kFree: // a is a column
		return a, "", g.fits(a.typ, b.typ)
	case a.k == kConst && b.k == kConst:
		return a, "", a.v == b.v
	case a.k == kCol && b.k == kConst:
		a, b = b, a
		fallthrough
	case a.k == kConst: // b is a column
		if a.v.Type != b.typ {
			return a, "", false
		}
		lit, ok := g.lit(a.v, b.typ)
		if !ok {
			return a, "", false
		}
		return a, b.sql + " = " + lit, true
	}
	// two columns
	if a.sql == b.sql {
		return a, "", true
	}
	if a.typ != b.typ {
		return a, "", false
	}
	return a, a.sql + " = " + b.sql, true
}

func (g *gen) constTerm(t polar.TermView) term {
	if t.Kind == polar.TermTime {
		return term{k: kConst, v: polar.Value{Type: polar.TypeInteger, ID: strconv.FormatInt(g.now, 10)}}
	}
	return term{k: kConst, v: t.Val}
}

func (g *gen) termOf(t polar.TermView, env []term) term {
	if t.Kind == polar.TermVar {
		return env[t.Var]
	}
	return g.constTerm(t)
}

// answerFn receives one answer of a call: a term per argument and the
// branch so far. It returns false to stop the search.
type answerFn func(ans []term, st state) bool

// bodyFn receives one solution of a conjunction.
type bodyFn func(env []term, st state) bool

// solve evaluates the conjunction lits under env, choosing the next literal
// by what is bound, and calls k for every solution.
// rem marks the literals of lits that remain to be solved (bit i: lits[i]).
func (g *gen) solve(rule *polar.RuleView, lits []polar.LitView, rem uint64, env []term, needed []bool, st state, k bodyFn) bool {
	if rem == 0 {
		return k(env, st)
	}
	if len(lits) > maxBody {
		return g.fail(badf("rule %s has more than %d conditions; local authorization translates at most %d", strings.TrimSuffix(rule.Text, ";"), maxBody, maxBody))
	}
	if !g.tick() {
		return false
	}
	i := g.pick(lits, rem, env, needed)
	l := &lits[i]
	rest := rem &^ (1 << i)
	next := func(env []term, st state) bool { return g.solve(rule, lits, rest, env, needed, st, k) }
	switch l.Kind {
	case polar.LitCall:
		args := make([]term, len(l.Args))
		for j, a := range l.Args {
			args[j] = g.termOf(a, env)
		}
		return g.call(rule, l.Pred, args, st, func(ans []term, st state) bool {
			// bind in place and undo before returning: evaluation is
			// depth-first and nothing keeps env past the continuation
			var savedIdx [polar.MaxArity]int
			var savedVal [polar.MaxArity]term
			n := 0
			ok := true
			for j, a := range l.Args {
				t, cond, good := g.unify(g.termOf(a, env), ans[j])
				if !good {
					ok = false
					break
				}
				st = st.with("", cond)
				if a.Kind == polar.TermVar {
					savedIdx[n], savedVal[n] = a.Var, env[a.Var]
					n++
					env[a.Var] = t
				}
			}
			r := true
			if ok {
				r = next(env, st)
			}
			for n > 0 {
				n--
				env[savedIdx[n]] = savedVal[n]
			}
			return r
		})
	case polar.LitMatches:
		a := g.termOf(l.A, env)
		switch a.k {
		case kConst:
			if !g.fits(a.v.Type, l.Type) {
				return true
			}
		case kCol:
			if !g.fits(a.typ, l.Type) {
				return true
			}
		default:
			t, ok := g.meet(a.typ, l.Type)
			if !ok {
				return true
			}
			if l.A.Kind == polar.TermVar {
				env = append([]term(nil), env...)
				env[l.A.Var] = term{k: kFree, typ: t}
			}
		}
		return next(env, st)
	case polar.LitEq:
		a, b := g.termOf(l.A, env), g.termOf(l.B, env)
		if !a.bound() && !b.bound() {
			return g.fail(badf("rule %s: both sides of = are unbound", strings.TrimSuffix(rule.Text, ";")))
		}
		t, cond, ok := g.unify(a, b)
		if !ok {
			return true
		}
		env = append([]term(nil), env...)
		for _, x := range []polar.TermView{l.A, l.B} {
			if x.Kind == polar.TermVar {
				env[x.Var] = t
			}
		}
		return next(env, st.with("", cond))
	case polar.LitNe:
		a, b := g.termOf(l.A, env), g.termOf(l.B, env)
		if !a.bound() || !b.bound() {
			return g.fail(badf("rule %s: != compares a value that no predicate call binds", strings.TrimSuffix(rule.Text, ";")))
		}
		_, cond, ok := g.unify(a, b)
		switch {
		case !ok: // never equal
			return next(env, st)
		case cond == "": // always equal
			return true
		}
		return next(env, st.with("", "NOT ("+cond+")"))
	case polar.LitCmp:
		a, b := g.termOf(l.A, env), g.termOf(l.B, env)
		if !a.bound() || !b.bound() {
			return g.fail(badf("rule %s: %s compares a value that no predicate call binds", strings.TrimSuffix(rule.Text, ";"), l.Op))
		}
		if a.k == kCol || b.k == kCol {
			cond, ok := g.compareSQL(l.Op, a, b)
			if !ok {
				return true
			}
			return next(env, st.with("", cond))
		}
		if !compareConst(l.Op, a.v, b.v) {
			return true
		}
		return next(env, st)
	case polar.LitIn:
		a := g.termOf(l.A, env)
		for _, e := range l.List {
			t, cond, ok := g.unify(a, g.termOf(e, env))
			if !ok {
				continue
			}
			env2 := env
			if l.A.Kind == polar.TermVar && a.k != kConst {
				env2 = append([]term(nil), env...)
				env2[l.A.Var] = t
			}
			if !next(env2, st.with("", cond)) {
				return false
			}
		}
		return true
	case polar.LitNot:
		var subs []state
		g.neg++
		ok := g.solve(rule, l.Sub, allOf(l.Sub), env, make([]bool, len(env)), state{}, func(_ []term, s state) bool {
			subs = append(subs, s)
			return len(s.from) > 0 || len(s.where) > 0 // an unconditional answer decides
		})
		g.neg--
		if !ok && g.err != nil {
			return false
		}
		d := disjunction(subs)
		switch d {
		case "true":
			return true
		case "false":
			return next(env, st)
		}
		return next(env, st.with("", "NOT "+d))
	}
	return g.fail(fmt.Errorf("localsql: unknown literal kind %d", l.Kind))
}

// pick chooses the next literal: filters first, then calls that have
// bound arguments, bound (local) predicates before engine calls so that
// engine answers narrow database columns.
func (g *gen) pick(lits []polar.LitView, rem uint64, env []term, needed []bool) int {
	bound := func(t polar.TermView) bool { return t.Kind != polar.TermVar || env[t.Var].bound() }
	best, bestScore := -1, -1000
	for i := range lits {
		if rem&(1<<i) == 0 {
			continue
		}
		l := &lits[i]
		score := -100
		switch l.Kind {
		case polar.LitMatches:
			score = 100
		case polar.LitEq:
			if bound(l.A) || bound(l.B) {
				score = 90
			}
		case polar.LitNe, polar.LitCmp:
			if bound(l.A) && bound(l.B) {
				score = 95
			}
		case polar.LitIn:
			if bound(l.A) {
				score = 95
			} else {
				score = 1
			}
		case polar.LitNot:
			score = 80
			for _, v := range litVars(l.Sub, nil) {
				if !env[v].bound() && usedOutside(lits, rem, i, v, needed) {
					score = -100
				}
			}
		case polar.LitCall:
			// like the engine's planner: bound arguments first (a database
			// column counts as bound), then binding queries, then calls
			// answered by the engine; ties keep body order
			key := predKey(l.Pred, len(l.Args))
			n := 0
			for _, a := range l.Args {
				if a.Kind != polar.TermVar || env[a.Var].bound() {
					n++
				}
			}
			score = 3 * n
			switch _, bound := g.info.facts[key]; {
			case bound:
				score += 2
			default:
				score++
			}
			switch {
			case n == len(l.Args):
				score += 5
			case n == 0:
				score -= 25
			}
			// a recursive call goes last, as bound as it can be: a
			// non-ground recursive goal cannot be translated
			for _, f := range g.stack {
				if f.key == key && n < len(l.Args) {
					score -= 4
					break
				}
			}
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

func litVars(lits []polar.LitView, out []int) []int {
	add := func(t polar.TermView) {
		if t.Kind == polar.TermVar {
			out = append(out, t.Var)
		}
	}
	for _, l := range lits {
		for _, a := range l.Args {
			add(a)
		}
		add(l.A)
		add(l.B)
		for _, e := range l.List {
			add(e)
		}
		out = litVars(l.Sub, out)
	}
	return out
}

func usedOutside(lits []polar.LitView, rem uint64, skip, v int, needed []bool) bool {
	if v < len(needed) && needed[v] {
		return true
	}
	for j := range lits {
		if j == skip || rem&(1<<j) == 0 {
			continue
		}
		for _, w := range litVars(lits[j:j+1], nil) {
			if w == v {
				return true
			}
		}
	}
	return false
}

func compareConst(op polar.CompareOp, a, b polar.Value) bool {
	if a.Type != polar.TypeInteger || b.Type != polar.TypeInteger {
		return false
	}
	x, err1 := strconv.ParseInt(a.ID, 10, 64)
	y, err2 := strconv.ParseInt(b.ID, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	switch op.String() {
	case "<":
		return x < y
	case "<=":
		return x <= y
	case ">":
		return x > y
	case ">=":
		return x >= y
	case "=", "==":
		return x == y
	case "!=":
		return x != y
	}
	return false
}

// call produces the answers of pred(args).
func (g *gen) call(rule *polar.RuleView, pred string, args []term, st state, k answerFn) bool {
	if !g.tick() {
		return false
	}
	key := predKey(pred, len(args))
	if !g.info.localDep[key] {
		return g.engineCall(pred, args, st, k)
	}
	for _, f := range g.stack {
		if f.key != key || !sameShape(f.args, args) {
			continue
		}
		for _, a := range args {
			if a.k != kConst {
				return g.fail(badf("rule %s: recursion through facts bound to the database (%s) is not supported in local authorization", strings.TrimSuffix(rule.Text, ";"), pred))
			}
		}
		g.cuts++
		return true // a ground goal repeating itself adds nothing
	}
	if len(g.stack) >= maxDepth {
		return g.fail(badf("rule %s: rules nest more than %d deep through facts bound to the database", strings.TrimSuffix(rule.Text, ";"), maxDepth))
	}
	if g.neg == 0 && memoable(args) {
		return g.memoCall(rule, key, pred, args, st, k)
	}
	return g.expand(rule, key, pred, args, st, k)
}

// expand produces the answers of a call of a predicate that reaches the
// database: its binding queries or stored facts, context facts and rules.
func (g *gen) expand(rule *polar.RuleView, key, pred string, args []term, st state, k answerFn) bool {
	what := "the query"
	if rule != nil {
		what = rule.Text
	}
	depth := len(g.stack)
	g.stack = append(g.stack, frameKey{key: key, args: args, rule: strings.TrimSuffix(what, ";")})
	defer func() { g.stack = g.stack[:depth] }()
	// The frames above depth are this call's: an answer goes on with the
	// caller's other goals (k), which are not inside this call, so they
	// must not see it as an ancestor (is_public(doc) and is_public(other)
	// are siblings, not a recursion).
	caller := k
	k = func(ans []term, st state) bool {
		inner := slices.Clone(g.stack[depth:])
		g.stack = g.stack[:depth]
		ok := caller(ans, st)
		g.stack = append(g.stack[:depth], inner...)
		return ok
	}

	// Bound signatures come from the database; the predicate's stored
	// facts of other signatures still hold (docs/decisions.md).
	sigs := g.info.facts[key]
	for _, s := range sigs {
		if !g.bindingCall(s, args, st, k) {
			return false
		}
	}
	if !g.storedFacts(pred, args, sigs, st, k) {
		return false
	}
	if rows := g.ctx[key]; len(rows) > 0 {
		if !g.rows(args, rows, st, k) {
			return false
		}
	}
	for _, r := range g.info.rules[key] {
		if !g.applyRule(r, args, st, k) {
			return false
		}
	}
	return g.err == nil
}

func (g *gen) applyRule(r *polar.RuleView, args []term, st state, k answerFn) bool {
	// cheap rejections first: specializer types and constant heads
	for i, prm := range r.Params {
		a := args[i]
		if pt := r.ParamTypes[i]; pt != "" {
			switch a.k {
			case kConst:
				if !g.fits(a.v.Type, pt) {
					return true
				}
			case kCol:
				if !g.fits(a.typ, pt) {
					return true
				}
			}
		}
		if prm.Kind == polar.TermVal && a.k == kConst && prm.Val != a.v {
			return true
		}
	}
	env := make([]term, len(r.VarTypes))
	for i, t := range r.VarTypes {
		env[i] = term{k: kFree, typ: t}
	}
	needed := g.info.needed[r]
	for i, prm := range r.Params {
		a := args[i]
		if pt := r.ParamTypes[i]; pt != "" {
			switch a.k {
			case kConst:
				if !g.fits(a.v.Type, pt) {
					return true
				}
			case kCol:
				if !g.fits(a.typ, pt) {
					return true
				}
			default:
				t, ok := g.meet(a.typ, pt)
				if !ok {
					return true
				}
				a.typ = t
			}
		}
		var h term
		if prm.Kind == polar.TermVar {
			h = env[prm.Var]
		} else {
			h = g.constTerm(prm)
		}
		t, cond, ok := g.unify(h, a)
		if !ok {
			return true
		}
		st = st.with("", cond)
		if prm.Kind == polar.TermVar {
			env[prm.Var] = t
		}
	}
	return g.solve(r, r.Body, allOf(r.Body), env, needed, st, func(env []term, st state) bool {
		ans := make([]term, len(r.Params))
		for i, prm := range r.Params {
			ans[i] = g.termOf(prm, env)
		}
		return k(ans, st)
	})
}

// bindingCall joins the binding query of one signature.
func (g *gen) bindingCall(s *Signature, args []term, st state, k answerFn) bool {
	ans := make([]term, len(args))
	alias := "_o_b" + strconv.Itoa(g.alias)
	g.alias++
	from := s.fromPrefix + alias + s.colList
	col := 0
	for i, a := range s.Args {
		var t term
		if a.Col {
			t = term{k: kCol, sql: alias + colNames[col], typ: a.Value.Type}
			col++
		} else {
			t = term{k: kConst, v: a.Value}
		}
		u, cond, ok := g.unify(args[i], t)
		if !ok {
			return true
		}
		st = st.with("", cond)
		ans[i] = u
	}
	return k(ans, st.with(from, ""))
}

// storedFacts visits the stored facts of pred matching the constant args,
// but for those that fit one of the bound signatures: those facts come
// from the database only.
func (g *gen) storedFacts(pred string, args []term, bound []*Signature, st state, k answerFn) bool {
	rel, ok := g.db.RelationID(pred, len(args))
	if !ok {
		return true
	}
	vals := make([]polar.Value, len(args))
	for i, a := range args {
		if a.k == kConst {
			vals[i] = a.v
		}
	}
	key := memoKey("s", pred, vals)
	if rows, ok := g.memo[key]; ok {
		return g.rows(args, rows, st, k)
	}
	pattern := make([]uint32, len(args))
	for i, a := range args {
		if a.k == kConst {
			s := g.db.Lookup(a.v.Type, a.v.ID)
			if s == 0 {
				return true
			}
			pattern[i] = s
		}
	}
	var rows [][]polar.Value
	g.db.Scan(rel, pattern, func(t []uint32) bool {
		row := make([]polar.Value, len(t))
		for i, s := range t {
			typ, id := g.db.Value(s)
			row[i] = polar.Value{Type: typ, ID: id}
		}
		if !g.fitsAny(row, bound) {
			rows = append(rows, row)
		}
		return true
	})
	if g.memo == nil {
		g.memo = map[string][][]polar.Value{}
	}
	g.memo[key] = rows
	return g.rows(args, rows, st, k)
}

// engineCall asks the engine for pred(args): a predicate that cannot reach
// the database is evaluated entirely on the server.
func (g *gen) engineCall(pred string, args []term, st state, k answerFn) bool {
	vals := make([]polar.Value, len(args))
	for i, a := range args {
		switch a.k {
		case kConst:
			vals[i] = a.v
		default:
			vals[i] = polar.Value{Type: a.typ}
		}
	}
	key := memoKey("e", pred, vals)
	if rows, ok := g.memo[key]; ok {
		return g.rows(args, rows, st, k)
	}
	rows, err := g.p.Query(g.db, pred, vals, g.qo)
	if err == nil {
		if g.memo == nil {
			g.memo = map[string][][]polar.Value{}
		}
		g.memo[key] = rows
	}
	if err != nil {
		if errors.Is(err, polar.ErrUnknownType) || errors.Is(err, polar.ErrInvalidQuery) {
			return g.fail(badf("%v", err))
		}
		return g.fail(badf("policy evaluation failed: %v", err))
	}
	return g.rows(args, rows, st, k)
}

// rows turns known tuples of pred(args) into answers. Rows are grouped by
// their values at the positions whose argument is not a database column;
// each group is one answer whose column positions must be in the group's
// set of values (an IN list).
func (g *gen) rows(args []term, rows [][]polar.Value, st state, k answerFn) bool {
	var symb []int
	for i, a := range args {
		if a.k == kCol {
			symb = append(symb, i)
		}
	}
	type group struct {
		ans   []term
		conds []string // conjunctions of col = lit, or lits alone with one column
		all   bool
		seen  map[string]bool
	}
	var order []string
	groups := map[string]*group{}
	for _, row := range rows {
		var key strings.Builder
		ok := true
		for i, v := range row {
			if args[i].k == kCol {
				continue
			}
			if args[i].k == kConst && !v.IsWildcard() && v != args[i].v {
				ok = false
				break
			}
			if key.Len() == 0 {
				key.Grow(64)
			}
			key.WriteString(strconv.Itoa(len(v.Type)))
			key.WriteString(v.Type)
			key.WriteString(strconv.Itoa(len(v.ID)))
			key.WriteByte(':')
			key.WriteString(v.ID)
			key.WriteByte('|')
		}
		if !ok {
			continue
		}
		var conj []string
		for _, i := range symb {
			v, c := row[i], args[i]
			if v.IsWildcard() {
				if !g.fits(c.typ, v.Type) {
					ok = false
					break
				}
				continue
			}
			if v.Type != c.typ {
				ok = false
				break
			}
			lit, good := g.lit(v, c.typ)
			if !good {
				ok = false
				break
			}
			if len(symb) == 1 {
				conj = append(conj, lit)
			} else {
				conj = append(conj, c.sql+" = "+lit)
			}
		}
		if !ok {
			continue
		}
		kk := key.String()
		gr := groups[kk]
		if gr == nil {
			gr = &group{ans: make([]term, len(args)), seen: map[string]bool{}}
			for i, v := range row {
				switch {
				case args[i].k == kCol:
					gr.ans[i] = args[i]
				case v.IsWildcard():
					gr.ans[i] = term{k: kFree, typ: v.Type}
				default:
					gr.ans[i] = term{k: kConst, v: v}
				}
			}
			groups[kk] = gr
			order = append(order, kk)
		}
		if len(conj) == 0 {
			gr.all = true
			continue
		}
		c := strings.Join(conj, " AND ")
		if !gr.seen[c] {
			gr.seen[c] = true
			gr.conds = append(gr.conds, c)
		}
	}
	for _, kk := range order {
		gr := groups[kk]
		cond := ""
		if !gr.all {
			cond = inCondition(args, symb, gr.conds)
		}
		if !k(gr.ans, st.with("", cond)) {
			return false
		}
	}
	return g.err == nil
}

// inCondition joins a group's conditions: one column → col = lit or col
// IN (lits); several → an OR of conjunctions.
func inCondition(args []term, symb []int, conds []string) string {
	if len(symb) == 1 {
		col := args[symb[0]].sql
		if len(conds) == 1 {
			return col + " = " + conds[0]
		}
		return col + " IN (" + strings.Join(conds, ", ") + ")"
	}
	if len(conds) == 1 {
		return "(" + conds[0] + ")"
	}
	return "(" + strings.Join(conds, " OR ") + ")"
}

// compareSQL renders an Integer comparison with a database column. The
// engine compares Integers only: any other type makes it false. Column
// values are cast to bigint (a column bound as Integer:_ holds integers).
func (g *gen) compareSQL(op polar.CompareOp, a, b term) (string, bool) {
	side := func(t term) (string, bool) {
		if t.k == kConst {
			if t.v.Type != polar.TypeInteger {
				return "", false
			}
			return t.v.ID, true
		}
		if t.typ != polar.TypeInteger {
			return "", false
		}
		return "CAST(" + t.sql + " AS bigint)", true
	}
	x, ok1 := side(a)
	y, ok2 := side(b)
	if !ok1 || !ok2 {
		return "", false
	}
	o := op.String()
	if o == "==" {
		o = "="
	}
	return x + " " + o + " " + y, true
}

// maxBody is the longest conjunction the translator takes (a bit mask).
const maxBody = 64

// allOf marks every literal of lits as remaining.
func allOf(lits []polar.LitView) uint64 {
	if len(lits) >= maxBody {
		return ^uint64(0)
	}
	return 1<<len(lits) - 1
}

var colNames = [...]string{".c0", ".c1", ".c2", ".c3", ".c4", ".c5", ".c6", ".c7"}
