package polar

import (
	"errors"
	"fmt"
	"strconv"
)

// The evaluator: top-down, set-at-a-time resolution with variant tabling.
//
// A call is identified by its predicate and argument pattern (bound symbols,
// unbound slots, typed wildcards). Calls are evaluated to their full answer
// set (or to one answer when the caller only needs existence) and memoised
// for the rest of the query. A call that meets an identical call still
// running further up the stack (recursion through the data, e.g. a folder
// cycle) receives that call's answers found so far; the earlier call is then
// re-evaluated until its answer set stops growing, and everything computed
// from partial answers is not memoised. Answers only grow, so this reaches
// the least fixpoint and terminates (spec §7.1, §7.5). Negation is
// evaluated against complete answers of lower strata (§7.6).

// ErrBudgetExceeded is returned when a query needs more evaluation steps
// than its budget allows.
var ErrBudgetExceeded = errors.New("query exceeded its evaluation budget")

// ErrUnbound is returned when an operator needs a value that no literal of
// the rule binds (e.g. `x != y` with y unbound).
var ErrUnbound = errors.New("operand is not bound")

// Symbols at or above wildBase are typed wildcards: wildBase+1+t stands for
// any value of policy type t. Symbol 0 in a pattern or answer means any
// value at all.
const wildBase uint32 = 0xFFFF0000

func isConcrete(s uint32) bool { return s != 0 && s < wildBase }

func wildType(s uint32) int {
	if s < wildBase+1 {
		return -1
	}
	return int(s - wildBase - 1)
}

func wildSym(t int) uint32 {
	if t < 0 {
		return 0
	}
	return wildBase + 1 + uint32(t)
}

type callKey struct {
	pred int32
	a    [MaxArity]uint32
}

type memoEntry struct {
	ans      []uint32
	n        int
	complete bool
}

type frame struct {
	pred    *pred
	key     callKey
	args    []uint32
	depth   int
	low     int
	iterate bool
	ground  bool
	exists  bool
	done    bool
	ans     []uint32
	n       int
	set     map[callKey]struct{}
}

func (f *frame) add(t []uint32) bool {
	ar := f.pred.arity
	if f.set == nil && f.n < 16 {
	scan:
		for i := 0; i < f.n; i++ {
			row := f.ans[i*ar : (i+1)*ar]
			for j := range row {
				if row[j] != t[j] {
					continue scan
				}
			}
			return false
		}
	} else {
		if f.set == nil {
			f.set = make(map[callKey]struct{}, 32)
			for i := 0; i < f.n; i++ {
				var k callKey
				copy(k.a[:], f.ans[i*ar:(i+1)*ar])
				f.set[k] = struct{}{}
			}
		}
		var k callKey
		copy(k.a[:], t)
		if _, dup := f.set[k]; dup {
			return false
		}
		f.set[k] = struct{}{}
	}
	f.ans = append(f.ans, t...)
	f.n++
	if f.ground || f.exists {
		f.done = true
	}
	return true
}

// qctx is the state of one query evaluation. It is not shared.
type qctx struct {
	p        *Policy
	db       Database
	now      int64
	nowSym   uint32
	litSyms  []uint32
	extra    []Value // literals of an ad-hoc query rule
	local    map[Value]uint32
	localVal []Value
	localTyp []int
	ctx      map[string][]uint32 // context facts by predicate key, flattened
	relIDs   []int32
	typeMap  []int32
	steps    int
	budget   int
	memo     map[callKey]*memoEntry
	stack    []*frame
	err      error
	mem      arena
}

func (q *qctx) fail(err error) {
	if q.err == nil {
		q.err = err
	}
}

func (q *qctx) tick() bool {
	q.steps++
	if q.steps > q.budget {
		q.fail(fmt.Errorf("%w of %d steps; the policy or data needs more work than allowed for one query", ErrBudgetExceeded, q.budget))
	}
	return q.err == nil
}

// intern returns the symbol of a concrete value: the store's, or a local one.
func (q *qctx) intern(v Value) uint32 {
	if s := q.db.Lookup(v.Type, v.ID); s != 0 {
		return s
	}
	if s, ok := q.local[v]; ok {
		return s
	}
	if q.local == nil {
		q.local = map[Value]uint32{}
	}
	s := uint32(LocalSymBase + len(q.localVal))
	q.local[v] = s
	q.localVal = append(q.localVal, v)
	q.localTyp = append(q.localTyp, q.p.env.index(v.Type))
	return s
}

func (q *qctx) lit(i int) uint32 {
	if s := q.litSyms[i]; s != 0 {
		return s
	}
	var v Value
	if i < len(q.p.literals) {
		v = q.p.literals[i]
	} else {
		v = q.extra[i-len(q.p.literals)]
	}
	s := q.intern(v)
	q.litSyms[i] = s
	return s
}

func (q *qctx) timeSym() uint32 {
	if q.nowSym == 0 {
		q.nowSym = q.intern(Value{TypeInteger, strconv.FormatInt(q.now, 10)})
	}
	return q.nowSym
}

func (q *qctx) value(s uint32) Value {
	switch {
	case s == 0:
		return Value{}
	case s >= wildBase:
		return Value{Type: q.p.env.types[wildType(s)].name}
	case s >= LocalSymBase:
		return q.localVal[s-LocalSymBase]
	}
	t, id := q.db.Value(s)
	return Value{t, id}
}

// typeOf returns the policy type index of a concrete symbol, -1 when the
// type is not declared by the policy.
func (q *qctx) typeOf(s uint32) int {
	if s >= LocalSymBase {
		return q.localTyp[s-LocalSymBase]
	}
	st := int(q.db.TypeOf(s))
	if st < len(q.typeMap) {
		if m := q.typeMap[st]; m != 0 {
			return int(m) - 2
		}
	}
	for len(q.typeMap) <= st {
		q.typeMap = append(q.typeMap, 0)
	}
	idx := q.p.env.index(q.db.TypeName(uint16(st)))
	q.typeMap[st] = int32(idx + 2)
	return idx
}

func (q *qctx) fits(s uint32, t int) bool {
	if t < 0 {
		return true
	}
	return q.p.env.subtype(q.typeOf(s), t)
}

// narrow intersects the type of an unbound slot with t.
func (q *qctx) narrow(cur uint32, t int) (uint32, bool) {
	ct := wildType(cur)
	switch {
	case t < 0:
		return cur, true
	case ct < 0:
		return wildSym(t), true
	case q.p.env.subtype(ct, t):
		return cur, true
	case q.p.env.subtype(t, ct):
		return wildSym(t), true
	}
	return 0, false
}

// unify binds variable slot vi to v (concrete or wildcard), or checks it.
func (q *qctx) unify(env []uint32, vi int, v uint32) bool {
	cur := env[vi]
	if isConcrete(cur) {
		if isConcrete(v) {
			return cur == v
		}
		return q.fits(cur, wildType(v))
	}
	if isConcrete(v) {
		if !q.fits(v, wildType(cur)) {
			return false
		}
		env[vi] = v
		return true
	}
	nv, ok := q.narrow(cur, wildType(v))
	if !ok {
		return false
	}
	env[vi] = nv
	return true
}

func (q *qctx) term(t *cterm, env []uint32) uint32 {
	switch t.kind {
	case tVar:
		return env[t.v]
	case tConst:
		return q.lit(t.lit)
	}
	return q.timeSym()
}

func (q *qctx) relID(p *pred) int {
	for len(q.relIDs) <= p.idx {
		q.relIDs = append(q.relIDs, -2)
	}
	if r := q.relIDs[p.idx]; r != -2 {
		return int(r)
	}
	r, ok := q.db.RelationID(p.name, p.arity)
	if !ok {
		r = -1
	}
	q.relIDs[p.idx] = int32(r)
	return r
}

// scanFacts visits stored and context facts of p matching args.
func (q *qctx) scanFacts(p *pred, args []uint32, fn func(t []uint32) bool) bool {
	typed := false
	inStore := true
	defer q.mem.release(q.mem.mark())
	pattern := q.mem.alloc(len(args))
	for i, a := range args {
		switch {
		case isConcrete(a):
			pattern[i] = a
			if a >= LocalSymBase {
				inStore = false
			}
		case a != 0:
			typed = true
		}
	}
	visit := func(t []uint32) bool {
		if !q.tick() {
			return false
		}
		if typed {
			for i, a := range args {
				if a >= wildBase && !q.fits(t[i], wildType(a)) {
					return true
				}
			}
		}
		return fn(t)
	}
	cont := true
	if inStore {
		if rel := q.relID(p); rel >= 0 {
			q.db.Scan(rel, pattern, func(t []uint32) bool {
				cont = visit(t)
				return cont
			})
		}
	}
	if !cont || len(q.ctx) == 0 {
		return cont && q.err == nil
	}
	rows := q.ctx[p.key]
	ar := p.arity
outer:
	for i := 0; i+ar <= len(rows); i += ar {
		t := rows[i : i+ar]
		for j, x := range pattern {
			if x != 0 && t[j] != x {
				continue outer
			}
		}
		if !visit(t) {
			return false
		}
	}
	return q.err == nil
}

// call evaluates p(args) and returns its answers as a flat slice of n
// tuples. exists asks for one answer at most.
func (q *qctx) call(p *pred, args []uint32, exists bool) ([]uint32, int) {
	var key callKey
	key.pred = int32(p.idx)
	copy(key.a[:], args)
	if m, ok := q.memo[key]; ok && (m.complete || (exists && m.n > 0)) {
		return m.ans, m.n
	}
	for i := len(q.stack) - 1; i >= 0; i-- {
		if f := q.stack[i]; f.key == key {
			top := q.stack[len(q.stack)-1]
			top.low = min(top.low, i)
			f.iterate = true
			return f.ans, f.n
		}
	}
	ground := true
	for _, a := range args {
		if !isConcrete(a) {
			ground = false
		}
	}
	f := &frame{pred: p, key: key, args: append([]uint32(nil), args...), depth: len(q.stack), low: len(q.stack), ground: ground, exists: exists}
	q.stack = append(q.stack, f)
	q.evalFrame(f)
	q.stack = q.stack[:len(q.stack)-1]
	if q.err != nil {
		return nil, 0
	}
	if f.low < f.depth {
		parent := q.stack[len(q.stack)-1]
		parent.low = min(parent.low, f.low)
	} else {
		if q.memo == nil {
			q.memo = make(map[callKey]*memoEntry)
		}
		q.memo[key] = &memoEntry{ans: f.ans, n: f.n, complete: ground || !f.done}
	}
	return f.ans, f.n
}

func (q *qctx) evalFrame(f *frame) {
	q.scanFacts(f.pred, f.args, func(t []uint32) bool {
		f.add(t)
		return !f.done
	})
	for {
		f.iterate = false
		before := f.n
		for _, r := range f.pred.rules {
			if f.done || q.err != nil {
				return
			}
			q.applyRule(f, r)
		}
		if q.err != nil || f.done || !f.iterate || f.n == before {
			return
		}
	}
}

func (q *qctx) applyRule(f *frame, r *crule) {
	if !q.tick() {
		return
	}
	defer q.mem.release(q.mem.mark())
	env := q.mem.alloc(r.nvars)
	for i, t := range r.varTyp {
		env[i] = wildSym(t)
	}
	mask := 0
	for i := range r.head {
		h := &r.head[i]
		a := f.args[i]
		switch h.kind {
		case tConst:
			c := q.lit(h.lit)
			if isConcrete(a) {
				if a != c {
					return
				}
			} else if !q.fits(c, wildType(a)) {
				return
			}
		case tVar:
			if !q.unify(env, h.v, a) {
				return
			}
			if isConcrete(a) {
				mask |= 1 << i
			}
		}
	}
	pl := r.planFor(mask)
	ar := len(r.head)
	q.solve(pl.steps, env, func() bool {
		m := q.mem.mark()
		tup := q.mem.alloc(ar)
		for i := range r.head {
			tup[i] = q.term(&r.head[i], env)
		}
		f.add(tup)
		q.mem.release(m)
		return !f.done && q.err == nil
	})
}

// solve runs the remaining steps of a plan, calling k for each solution.
// It returns false when evaluation must stop (k asked to, or an error).
func (q *qctx) solve(steps []step, env []uint32, k func() bool) bool {
	if len(steps) == 0 {
		return k()
	}
	if !q.tick() {
		return false
	}
	st := &steps[0]
	l := st.lit
	rest := steps[1:]
	var saved [MaxArity]uint32
	save := func() {
		for i, v := range st.outVars {
			saved[i] = env[v]
		}
	}
	restore := func() {
		for i, v := range st.outVars {
			env[v] = saved[i]
		}
	}
	switch l.kind {
	case lCall:
		defer q.mem.release(q.mem.mark())
		args := q.mem.alloc(len(l.args))
		for i := range l.args {
			args[i] = q.term(&l.args[i], env)
		}
		save()
		found := false
		visit := func(t []uint32) bool {
			for i := range l.args {
				a := &l.args[i]
				if a.kind == tVar && !q.unify(env, a.v, t[i]) {
					restore()
					return true
				}
			}
			found = true
			cont := q.solve(rest, env, k)
			restore()
			return cont && !st.exists
		}
		if l.pred.hasRules {
			ans, n := q.call(l.pred, args, st.exists)
			ar := len(l.args)
			for j := 0; j < n; j++ {
				if !visit(ans[j*ar : (j+1)*ar]) {
					return found && st.exists && q.err == nil
				}
			}
			return q.err == nil
		}
		cont := q.scanFacts(l.pred, args, visit)
		return (cont || (found && st.exists)) && q.err == nil
	case lMatches:
		if l.a.kind != tVar {
			if !q.fits(q.term(&l.a, env), l.typ) {
				return true
			}
			return q.solve(rest, env, k)
		}
		cur := env[l.a.v]
		if isConcrete(cur) {
			if !q.fits(cur, l.typ) {
				return true
			}
			return q.solve(rest, env, k)
		}
		nv, ok := q.narrow(cur, l.typ)
		if !ok {
			return true
		}
		env[l.a.v] = nv
		cont := q.solve(rest, env, k)
		env[l.a.v] = cur
		return cont
	case lEq:
		a, b := q.term(&l.a, env), q.term(&l.b, env)
		switch {
		case isConcrete(a) && isConcrete(b):
			if a != b {
				return true
			}
			return q.solve(rest, env, k)
		case isConcrete(a) && l.b.kind == tVar:
			save()
			if !q.unify(env, l.b.v, a) {
				return true
			}
			cont := q.solve(rest, env, k)
			restore()
			return cont
		case isConcrete(b) && l.a.kind == tVar:
			save()
			if !q.unify(env, l.a.v, b) {
				return true
			}
			cont := q.solve(rest, env, k)
			restore()
			return cont
		}
		q.fail(fmt.Errorf("%w: both sides of = at %d:%d are unbound", ErrUnbound, l.pos.Line, l.pos.Col))
		return false
	case lNe, lCmp:
		a, b := q.term(&l.a, env), q.term(&l.b, env)
		if !isConcrete(a) || !isConcrete(b) {
			q.fail(fmt.Errorf("%w: %s at %d:%d compares a value that no predicate call binds", ErrUnbound, l.op, l.pos.Line, l.pos.Col))
			return false
		}
		if l.kind == lNe {
			if a == b {
				return true
			}
			return q.solve(rest, env, k)
		}
		x, ok1 := q.intOf(a)
		y, ok2 := q.intOf(b)
		if !ok1 || !ok2 || !compareInts(l.op, x, y) {
			return true
		}
		return q.solve(rest, env, k)
	case lIn:
		a := q.term(&l.a, env)
		if isConcrete(a) {
			for i := range l.list {
				if q.term(&l.list[i], env) == a {
					return q.solve(rest, env, k)
				}
			}
			return true
		}
		if l.a.kind != tVar {
			return true
		}
		save()
		for i := range l.list {
			if q.unify(env, l.a.v, q.term(&l.list[i], env)) {
				if !q.solve(rest, env, k) {
					restore()
					return false
				}
			}
			restore()
		}
		return true
	case lNot:
		found := false
		q.solve(st.sub.steps, env, func() bool {
			found = true
			return false
		})
		if q.err != nil {
			return false
		}
		if found {
			return true
		}
		return q.solve(rest, env, k)
	}
	return true
}

func (q *qctx) intOf(s uint32) (int64, bool) {
	v := q.value(s)
	if v.Type != TypeInteger {
		return 0, false
	}
	n, err := strconv.ParseInt(v.ID, 10, 64)
	return n, err == nil
}

func compareInts(op CompareOp, x, y int64) bool {
	switch op {
	case OpLt:
		return x < y
	case OpLe:
		return x <= y
	case OpGt:
		return x > y
	case OpGe:
		return x >= y
	}
	return false
}

// arena hands out short-lived uint32 slices in LIFO order from chunks that
// never move, so slices stay valid while later ones are allocated.
type arena struct {
	chunks [][]uint32
	ci     int
	off    int
}

const arenaChunk = 4096

func (a *arena) alloc(n int) []uint32 {
	if len(a.chunks) == 0 {
		a.chunks = append(a.chunks, make([]uint32, arenaChunk))
	}
	if a.off+n > len(a.chunks[a.ci]) {
		a.ci++
		if a.ci == len(a.chunks) {
			a.chunks = append(a.chunks, make([]uint32, max(arenaChunk, n)))
		} else if len(a.chunks[a.ci]) < n {
			a.chunks[a.ci] = make([]uint32, n)
		}
		a.off = 0
	}
	s := a.chunks[a.ci][a.off : a.off+n : a.off+n]
	clear(s)
	a.off += n
	return s
}

type arenaMark struct{ ci, off int }

func (a *arena) mark() arenaMark { return arenaMark{a.ci, a.off} }

// release frees everything allocated since m.
func (a *arena) release(m arenaMark) { a.ci, a.off = m.ci, m.off }

func (a *arena) reset() {
	a.ci, a.off = 0, 0
}
