package polar

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The evaluator: top-down, set-at-a-time resolution with variant tabling.
//
// A call is identified by its predicate and argument pattern (bound symbols,
// unbound slots, typed wildcards). Calls are evaluated to their full answer
// set (or to one answer when the caller only needs existence) and memoised
// for the rest of the query. Because the planner keeps recursive calls at
// least as bound as their callers (plan.go), a question with a bound
// resource walks up from that resource, one memoised subgoal per ancestor.
//
// A call that meets an identical call still running further up the stack
// (recursion through the data, e.g. a folder cycle, or a list walking down
// a hierarchy) reads that call's answers live: rows added while it iterates
// are visited too, so a linear recursion reaches its closure in one pass.
// When an answer arrives after such a reader has finished, the call is
// evaluated again (only its rules that read a running call), until no
// answer arrives late; everything computed from partial answers is not
// memoised. Answers only grow and are finite, so this reaches the least
// fixpoint and terminates, cycles included (spec §7.1, §7.5). Negation is
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

// shallowStack is the stack depth below which running calls are found by
// scanning the stack rather than through the memo table: cheaper for the
// shallow stacks of ordinary checks, while deep recursion (long chains)
// stays linear.
const shallowStack = 16

// memoBytes estimates a memo table entry (key, entry, map overhead).
const memoBytes = 96

type memoEntry struct {
	ans      []uint32 // nil for a ground call: its one answer is its arguments
	n        int
	complete bool
	running  int32 // 1 + index in the stack of the frame evaluating the call, or 0
}

// frame is a call being evaluated. Frames are pooled per query context.
type frame struct {
	pred   *pred
	key    callKey
	args   []uint32
	depth  int
	low    int
	ground bool
	exists bool
	done   bool
	read   bool // a live reader of this frame's answers finished in this pass
	stale  bool // an answer arrived after a live reader finished
	ans    []uint32
	n      int
	set    rowSet
	live   []uint64 // rules (bit per index) that read a running call
}

// add records an answer unless it is known; it reports whether it was new.
// A ground call has at most one answer, its arguments, which is not stored.
func (f *frame) add(t []uint32) bool {
	if f.ground {
		if f.n > 0 {
			return false
		}
		f.n, f.done = 1, true
		f.stale = f.stale || f.read
		return true
	}
	ar := f.pred.arity
	if f.n < 8 {
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
	} else if !f.set.insert(f.ans, ar, t, f.n) {
		return false
	}
	f.ans = append(f.ans, t...)
	f.n++
	f.stale = f.stale || f.read
	if f.n == 8 {
		f.set.reset()
		for i := 0; i < f.n; i++ {
			f.set.insert(f.ans, ar, f.ans[i*ar:(i+1)*ar], i)
		}
	}
	if f.exists {
		f.done = true
	}
	return true
}

// rowSet is an open-addressing hash set of answer rows stored elsewhere
// (slots hold row index + 1).
type rowSet struct {
	slots []uint32
	n     int
}

func (s *rowSet) reset() {
	clear(s.slots)
	s.n = 0
}

func hashRow(t []uint32) uint64 {
	h := uint64(0x9E3779B97F4A7C15)
	for _, x := range t {
		h ^= uint64(x)
		h *= 0xBF58476D1CE4E5B9
		h ^= h >> 31
	}
	// finalise so that the low bits (the slot) depend on every bit
	h ^= h >> 33
	h *= 0xFF51AFD7ED558CCD
	h ^= h >> 33
	return h
}

// insert adds row index idx (whose tuple is t) unless an equal row is
// present; rows are read from data with arity ar.
func (s *rowSet) insert(data []uint32, ar int, t []uint32, idx int) bool {
	if (s.n+1)*2 > len(s.slots) {
		old := s.slots
		s.slots = make([]uint32, max(64, len(old)*2))
		s.n = 0
		for _, e := range old {
			if e != 0 {
				s.place(data, ar, int(e-1))
			}
		}
	}
	mask := uint64(len(s.slots) - 1)
	for i := hashRow(t) & mask; ; i = (i + 1) & mask {
		e := s.slots[i]
		if e == 0 {
			s.slots[i] = uint32(idx + 1)
			s.n++
			return true
		}
		row := data[int(e-1)*ar : int(e)*ar]
		same := true
		for j := range row {
			if row[j] != t[j] {
				same = false
				break
			}
		}
		if same {
			return false
		}
	}
}

func (s *rowSet) place(data []uint32, ar, idx int) {
	mask := uint64(len(s.slots) - 1)
	for i := hashRow(data[idx*ar:(idx+1)*ar]) & mask; ; i = (i + 1) & mask {
		if s.slots[i] == 0 {
			s.slots[i] = uint32(idx + 1)
			s.n++
			return
		}
	}
}

// cont is what happens when a rule body has a solution: add the head
// tuple to a frame, or note that a solution exists (negation).
type cont struct {
	found bool
	f     *frame // nil: only note that a solution exists
	r     *crule
	env   []uint32
}

// scanCtx is the state of one scan of stored and context facts. The
// scan callback is one method value per query context, so scans do not
// allocate; it finds its state on a stack of scanCtx.
type scanCtx struct {
	args    []uint32 // the call pattern: concrete, 0 or typed wildcard
	typed   bool
	into    *frame // collect matches into this frame, or
	st      *step  // continue this plan step
	rest    []step
	env     []uint32
	k       *cont
	matched bool
	stopAll bool
}

// qctx is the state of one query evaluation. It is not shared.
type qctx struct {
	p        *Policy
	db       Database
	clock    func() int64 // QueryOptions.Now; nil: the wall clock
	nowSym   uint32       // the current time, read at its first use
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
	liveHits int // reads of running calls, to know which rules made one

	reqCtx      context.Context
	maxRows     int
	maxBytes    int64
	maxMemory   int64
	memUsed     int64 // estimated bytes of answer sets, memo entries and answer
	granted     int64 // bytes granted by grow
	answerBytes int64 // answer size already charged
	grow        func(int64) error
	release     func(int64)
	heavy       func(context.Context) (func(), error)
	heavyDone   func()
	memo        map[callKey]memoEntry
	stack       []*frame
	err         error
	mem         arena

	// What is resolved against one store and policy, kept across queries
	// while both stay the same (see StoreIdentity).
	boundStore  uint64
	boundPolicy *Policy
	boundValues int
	boundRels   int
	litLocal    []bool // literal i is known to be absent from the store

	frames  []*frame // free frames
	conts   []*cont  // free continuations
	scans   []*scanCtx
	depth   int // scans in use
	tupleFn func([]uint32) bool
}

func newQctx() *qctx {
	q := &qctx{}
	q.tupleFn = q.onTuple
	return q
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
	if q.steps&4095 == 0 {
		q.slowTick()
	}
	return q.err == nil
}

// slowTick runs every few thousand steps: it stops a query whose context
// is done, and queues a query that has become heavy (QueryOptions.Heavy).
func (q *qctx) slowTick() {
	if q.reqCtx != nil {
		if err := q.reqCtx.Err(); err != nil {
			q.fail(fmt.Errorf("%w: %w", ErrCanceled, err))
			return
		}
	}
	if q.heavy != nil && q.heavyDone == nil && q.steps >= HeavySteps {
		done, err := q.heavy(q.reqCtx)
		if err != nil {
			q.fail(fmt.Errorf("%w: %w", ErrCanceled, err))
			return
		}
		q.heavyDone = done
	}
}

// charge accounts n more bytes of working memory: answer rows, memo
// entries, answer values. Past the first GrowChunk, every further chunk is
// asked of q.grow (a node-wide pool).
func (q *qctx) charge(n int64) bool {
	q.memUsed += n
	if q.memUsed > q.maxMemory {
		q.fail(fmt.Errorf("%w of %d MiB (the answer sets of this question grew past the node's per-query limit)", ErrMemoryExceeded, q.maxMemory>>20))
		return false
	}
	if q.grow != nil && q.memUsed > GrowChunk+q.granted {
		if err := q.grow(GrowChunk); err != nil {
			if !errors.Is(err, ErrMemoryExceeded) {
				err = fmt.Errorf("%w: %w", ErrMemoryExceeded, err)
			}
			q.fail(err)
			return false
		}
		q.granted += GrowChunk
	}
	return q.err == nil
}

// rowBytes estimates the working memory of one answer row of arity ar:
// the row and its hash slot.
func rowBytes(ar int) int64 { return int64(ar)*4 + 12 }

// intern returns the symbol of a concrete value: the store's, or a local one.
func (q *qctx) intern(v Value) uint32 {
	if s := q.db.Lookup(v.Type, v.ID); s != 0 {
		return s
	}
	return q.internLocal(v)
}

// localScan is the number of query-local values looked up by scanning
// localVal; past it they are indexed in a map. Most checks have one or
// two (an action that is no stored value, say).
const localScan = 8

// internLocal gives a value the store does not have a query-local symbol.
func (q *qctx) internLocal(v Value) uint32 {
	if len(q.localVal) <= localScan {
		for i, w := range q.localVal {
			if w == v {
				return uint32(LocalSymBase + i)
			}
		}
	} else if s, ok := q.local[v]; ok {
		return s
	}
	s := uint32(LocalSymBase + len(q.localVal))
	q.localVal = append(q.localVal, v)
	switch n := len(q.localVal); {
	case n == localScan+1:
		if q.local == nil {
			q.local = map[Value]uint32{}
		}
		for i, w := range q.localVal {
			q.local[w] = uint32(LocalSymBase + i)
		}
	case n > localScan+1:
		q.local[v] = s
	}
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
	var s uint32
	if i < len(q.litLocal) && q.litLocal[i] {
		s = q.internLocal(v)
	} else {
		s = q.intern(v)
	}
	q.litSyms[i] = s
	return s
}

func (q *qctx) timeSym() uint32 {
	if q.nowSym == 0 {
		now := time.Now().Unix()
		if q.clock != nil {
			now = q.clock()
		}
		q.nowSym = q.intern(Value{TypeInteger, strconv.FormatInt(now, 10)})
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

// scan visits the stored and context facts of p matching sc.args.
func (q *qctx) scan(p *pred, sc *scanCtx) {
	defer q.mem.release(q.mem.mark())
	pattern := q.mem.alloc(len(sc.args))
	inStore := true
	sc.typed = false
	for i, a := range sc.args {
		switch {
		case isConcrete(a):
			pattern[i] = a
			if a >= LocalSymBase {
				inStore = false
			}
		case a != 0:
			sc.typed = true
		}
	}
	cont := true
	if inStore {
		if rel := q.relID(p); rel >= 0 {
			q.db.Scan(rel, pattern, q.tupleFn)
			cont = !sc.stopAll && q.err == nil && !(sc.into != nil && sc.into.done) && !(sc.st != nil && sc.st.exists && sc.matched)
		}
	}
	if !cont || len(q.ctx) == 0 {
		return
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
		if !q.tupleFn(t) {
			return
		}
	}
}

func (q *qctx) pushScan() *scanCtx {
	if q.depth == len(q.scans) {
		q.scans = append(q.scans, &scanCtx{})
	}
	sc := q.scans[q.depth]
	*sc = scanCtx{}
	q.depth++
	return sc
}

func (q *qctx) popScan() { q.depth-- }

// onTuple is the scan callback; it returns false to stop the scan.
func (q *qctx) onTuple(t []uint32) bool {
	sc := q.scans[q.depth-1]
	if !q.tick() {
		return false
	}
	if sc.typed {
		for i, a := range sc.args {
			if a >= wildBase && !q.fits(t[i], wildType(a)) {
				return true
			}
		}
	}
	if sc.into != nil {
		if sc.into.add(t) && !sc.into.ground && !q.charge(rowBytes(len(t))) {
			return false
		}
		return !sc.into.done
	}
	matched, stop := q.visitRow(sc.st, sc.rest, sc.env, sc.k, t)
	if stop {
		sc.stopAll = true
		return false
	}
	if matched {
		sc.matched = true
		if sc.st.exists {
			return false
		}
	}
	return true
}

// visitRow binds the call's variables to one answer row and continues with
// the rest of the plan. stop reports that evaluation must end.
func (q *qctx) visitRow(st *step, rest []step, env []uint32, k *cont, row []uint32) (matched, stop bool) {
	// Every variable argument is restored afterwards, not only the step's
	// outputs: one bound to a typed wildcard (an answer such as "any
	// Organization") is narrowed to this row's value by unify, and the
	// next row must see the wildcard again.
	l := st.lit
	var saved [MaxArity]uint32
	for i := range l.args {
		if a := &l.args[i]; a.kind == tVar {
			saved[i] = env[a.v]
		}
	}
	ok := true
	for i := range l.args {
		a := &l.args[i]
		if a.kind == tVar && !q.unify(env, a.v, row[i]) {
			ok = false
			break
		}
	}
	if ok {
		stop = !q.solve(rest, env, k)
	}
	for i := len(l.args) - 1; i >= 0; i-- {
		if a := &l.args[i]; a.kind == tVar {
			env[a.v] = saved[i]
		}
	}
	return ok, stop
}

func (q *qctx) newFrame() *frame {
	if n := len(q.frames); n > 0 {
		f := q.frames[n-1]
		q.frames = q.frames[:n-1]
		return f
	}
	return &frame{}
}

func (q *qctx) freeFrame(f *frame) {
	args := f.args[:0]
	live := f.live[:0]
	set := f.set
	set.reset()
	if len(set.slots) > 1<<16 {
		set = rowSet{}
	}
	*f = frame{args: args, set: set, live: live}
	q.frames = append(q.frames, f)
}

func (q *qctx) newCont() *cont {
	if n := len(q.conts); n > 0 {
		k := q.conts[n-1]
		q.conts = q.conts[:n-1]
		*k = cont{}
		return k
	}
	return &cont{}
}

func (q *qctx) freeCont(k *cont) { q.conts = append(q.conts, k) }

// call evaluates p(args) and returns its answers as a flat slice of n
// tuples. exists asks for one answer at most. For a ground call the
// answer returned is args itself. When the same call is running further up
// the stack, call returns that frame as live instead: the caller reads its
// answers as they grow (see solve) and the frame is told when it is done.
func (q *qctx) call(p *pred, args []uint32, exists bool) (ans []uint32, n int, live *frame) {
	var key callKey
	key.pred = int32(p.idx)
	copy(key.a[:], args)
	m, ok := q.memo[key]
	running := -1
	if ok && m.running != 0 {
		running = int(m.running - 1)
	} else if !ok || !(m.complete || (exists && m.n > 0)) {
		// frames low in the stack are found by a scan, deeper ones
		// through their memo entry (see below)
		for i := range min(len(q.stack), shallowStack) {
			if q.stack[i].key == key {
				running = i
				break
			}
		}
	}
	if running >= 0 {
		i := running
		f := q.stack[i]
		top := q.stack[len(q.stack)-1]
		top.low = min(top.low, i)
		q.liveHits++
		if f.ground {
			// the reader takes the answer (or its absence) as it is now
			f.read = true
			return args, f.n, nil
		}
		return f.ans, f.n, f
	}
	if ok && (m.complete || (exists && m.n > 0)) {
		if m.ans == nil {
			return args, m.n, nil
		}
		return m.ans, m.n, nil
	}
	if q.memo == nil {
		q.memo = make(map[callKey]memoEntry)
	}
	f := q.newFrame()
	f.pred, f.key, f.exists = p, key, exists
	f.args = append(f.args[:0], args...)
	f.depth, f.low = len(q.stack), len(q.stack)
	f.ground = true
	for _, a := range args {
		if !isConcrete(a) {
			f.ground = false
		}
	}
	if len(q.stack) >= shallowStack {
		q.memo[key] = memoEntry{running: int32(len(q.stack) + 1)}
	}
	q.charge(memoBytes)
	q.stack = append(q.stack, f)
	q.evalFrame(f)
	q.stack = q.stack[:len(q.stack)-1]
	ans, n = f.ans, f.n
	if f.ground {
		ans = args
	}
	switch {
	case q.err != nil:
		delete(q.memo, key)
	case f.low < f.depth:
		// computed from partial answers of a running call: not memoised
		delete(q.memo, key)
		parent := q.stack[len(q.stack)-1]
		parent.low = min(parent.low, f.low)
	default:
		m := memoEntry{n: n, complete: f.ground || !f.done}
		if !f.ground {
			m.ans = f.ans
		}
		q.memo[key] = m
	}
	q.freeFrame(f)
	if q.err != nil {
		return nil, 0, nil
	}
	return ans, n, nil
}

// evalFrame computes the answers of f: stored facts, then its rules, again
// while an answer arrived after a live reader of f had finished. A repeated
// pass runs only the rules that read a running call in the first pass; the
// others depend on complete answers only and would add nothing.
func (q *qctx) evalFrame(f *frame) {
	sc := q.pushScan()
	sc.args, sc.into = f.args, f
	q.scan(f.pred, sc)
	q.popScan()
	rules := f.pred.rules
	words := (len(rules) + 63) / 64
	f.live = append(f.live[:0], make([]uint64, words)...)
	for pass := 0; ; pass++ {
		f.read, f.stale = false, false
		for i, r := range rules {
			if f.done || q.err != nil {
				return
			}
			if pass > 0 && f.live[i/64]&(1<<(i%64)) == 0 {
				continue
			}
			hits := q.liveHits
			q.applyRule(f, r)
			if pass == 0 && q.liveHits != hits {
				f.live[i/64] |= 1 << (i % 64)
			}
		}
		if q.err != nil || f.done || !f.stale {
			return
		}
	}
}

func (q *qctx) applyRule(f *frame, r *crule) {
	if !q.tick() {
		return
	}
	// Constant head arguments are the cheapest filter: check them first.
	for i := range r.head {
		h := &r.head[i]
		if h.kind != tConst {
			continue
		}
		a := f.args[i]
		c := q.lit(h.lit)
		if isConcrete(a) {
			if a != c {
				return
			}
		} else if !q.fits(c, wildType(a)) {
			return
		}
	}
	defer q.mem.release(q.mem.mark())
	env := q.mem.alloc(r.nvars)
	for i, t := range r.varTyp {
		env[i] = wildSym(t)
	}
	mask := 0
	for i := range r.head {
		h := &r.head[i]
		if h.kind != tVar {
			continue
		}
		a := f.args[i]
		if !q.unify(env, h.v, a) {
			return
		}
		if isConcrete(a) {
			mask |= 1 << i
		}
	}
	pl := r.planFor(mask)
	k := q.newCont()
	k.f, k.r, k.env = f, r, env
	q.solve(pl.steps, env, k)
	q.freeCont(k)
}

// finish handles one solution of a rule body; false stops the search.
func (q *qctx) finish(k *cont) bool {
	if k.f == nil {
		k.found = true
		return false
	}
	m := q.mem.mark()
	tup := q.mem.alloc(len(k.r.head))
	for i := range k.r.head {
		tup[i] = q.term(&k.r.head[i], k.env)
	}
	if k.f.add(tup) && !k.f.ground {
		q.charge(rowBytes(len(tup)))
	}
	q.mem.release(m)
	return !k.f.done && q.err == nil
}

// solve runs the remaining steps of a plan, calling finish for each
// solution. It returns false when evaluation must stop.
func (q *qctx) solve(steps []step, env []uint32, k *cont) bool {
	if len(steps) == 0 {
		return q.finish(k)
	}
	if !q.tick() {
		return false
	}
	st := &steps[0]
	l := st.lit
	rest := steps[1:]
	switch l.kind {
	case lCall:
		m := q.mem.mark()
		ok := q.solveCall(st, rest, env, k)
		q.mem.release(m)
		return ok
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
		var v int
		var val uint32
		switch {
		case isConcrete(a) && isConcrete(b):
			if a != b {
				return true
			}
			return q.solve(rest, env, k)
		case isConcrete(a) && l.b.kind == tVar:
			v, val = l.b.v, a
		case isConcrete(b) && l.a.kind == tVar:
			v, val = l.a.v, b
		default:
			q.fail(fmt.Errorf("%w: both sides of = at %d:%d are unbound", ErrUnbound, l.pos.Line, l.pos.Col))
			return false
		}
		old := env[v]
		if !q.unify(env, v, val) {
			return true
		}
		cont := q.solve(rest, env, k)
		env[v] = old
		return cont
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
		old := env[l.a.v]
		for i := range l.list {
			if q.unify(env, l.a.v, q.term(&l.list[i], env)) {
				cont := q.solve(rest, env, k)
				env[l.a.v] = old
				if !cont {
					return false
				}
			}
			env[l.a.v] = old
		}
		return true
	case lNot:
		nk := q.newCont()
		q.solve(st.sub.steps, env, nk)
		found := nk.found
		q.freeCont(nk)
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

// solveCall runs call step st (see solve); the caller releases what it
// allocates from the arena.
func (q *qctx) solveCall(st *step, rest []step, env []uint32, k *cont) bool {
	l := st.lit
	args := q.mem.alloc(len(l.args))
	for i := range l.args {
		args[i] = q.term(&l.args[i], env)
	}
	if l.pred.hasRules {
		ans, n, live := q.call(l.pred, args, st.exists)
		ar := len(l.args)
		if live != nil {
			// a running call: read its answers as they grow
			for j := 0; j < live.n; j++ {
				if !q.tick() {
					return false
				}
				matched, stop := q.visitRow(st, rest, env, k, live.ans[j*ar:(j+1)*ar])
				if stop {
					return false
				}
				if matched && st.exists {
					return q.err == nil
				}
			}
			live.read = true
			return q.err == nil
		}
		for j := 0; j < n; j++ {
			if !q.tick() {
				return false
			}
			matched, stop := q.visitRow(st, rest, env, k, ans[j*ar:(j+1)*ar])
			if stop {
				return false
			}
			if matched && st.exists {
				break
			}
		}
		return q.err == nil
	}
	sc := q.pushScan()
	sc.args, sc.st, sc.rest, sc.env, sc.k = args, st, rest, env, k
	q.scan(l.pred, sc)
	stop := sc.stopAll
	q.popScan()
	return !stop && q.err == nil
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
