package polar

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// ErrUnknownType is returned for a request that names a type the policy
// does not declare.
var ErrUnknownType = errors.New("unknown type")

// ErrInvalidQuery is returned for a structurally invalid query (wrong
// arity, unknown variable, wildcard where a value is needed).
var ErrInvalidQuery = errors.New("invalid query")

// DefaultMaxSteps is the evaluation budget of a query when none is set.
const DefaultMaxSteps = 2_000_000

// Default limits of QueryOptions.
const (
	// DefaultMaxRows bounds the rows (or ids) of one answer.
	DefaultMaxRows = 1_000_000
	// DefaultMaxBytes bounds the estimated encoded size of one answer.
	DefaultMaxBytes = 64 << 20
	// DefaultMaxMemory bounds the working memory (answer sets and memo
	// table) of one query.
	DefaultMaxMemory = 64 << 20
)

// ErrResultTooLarge is returned when an answer has more rows or bytes than
// QueryOptions allow.
var ErrResultTooLarge = errors.New("result too large")

// ErrMemoryExceeded is returned when a query needs more working memory
// than QueryOptions.MaxMemory, or than QueryOptions.Grow grants.
var ErrMemoryExceeded = errors.New("query exceeded its memory limit")

// ErrCanceled is returned when the query's context ends first (the client
// went away); it wraps the context's error.
var ErrCanceled = errors.New("query canceled")

// QueryOptions configure one query. The zero value is usable.
type QueryOptions struct {
	// Now returns the current Unix time in seconds for @current_unix_time.
	// It is read once per query, at the term's first use. Nil means the
	// system clock.
	Now func() int64
	// ReadClock is set by the query when it read the clock: its answer
	// then depends on the time as well as on the facts, and must not be
	// reused once the time has moved on (an answer cache skips it).
	ReadClock bool
	// MaxSteps bounds the work of the query; exceeding it is an error that
	// wraps ErrBudgetExceeded. Zero means DefaultMaxSteps.
	MaxSteps int
	// Context facts hold for this query only.
	Context []Fact
	// Ctx, when set, is checked every few thousand steps; once it is done
	// the query stops with an error wrapping ErrCanceled.
	Ctx context.Context
	// MaxRows and MaxBytes bound the answer of Query, EvaluateQuery and
	// List (rows or ids, and an estimate of their JSON size); 0 means the
	// defaults, negative means no limit. Exceeding them wraps
	// ErrResultTooLarge.
	MaxRows  int
	MaxBytes int64
	// MaxMemory bounds the working memory of the query: rows of answer
	// sets, memo entries and the answer being built (estimated bytes). 0
	// means DefaultMaxMemory, negative no limit.
	MaxMemory int64
	// Grow, when set, is asked for more memory each time the query's
	// working memory passes another GrowChunk bytes beyond the first
	// chunk; an error from it stops the query (wrapped in
	// ErrMemoryExceeded unless it already is). Release gives back what
	// Grow granted, once, when the query ends.
	Grow    func(bytes int64) error
	Release func(bytes int64)
	// Heavy, when set, is called once (with Ctx) when the query has taken
	// HeavySteps steps; it may block (to queue heavy queries behind each other) and
	// returns what to call when the query ends. An error stops the query.
	Heavy func(ctx context.Context) (done func(), err error)
}

// HeavySteps is the work after which a query counts as heavy (see
// QueryOptions.Heavy). An authorize question takes tens of steps.
const HeavySteps = 100_000

// GrowChunk is the granularity of QueryOptions.Grow.
const GrowChunk = 1 << 20

func limit[T int | int64](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 1<<62 - 1
	}
	return v
}

var qctxPool = sync.Pool{New: func() any { return newQctx() }}

func (p *Policy) begin(db Database, o *QueryOptions) (*qctx, error) {
	q := qctxPool.Get().(*qctx)
	q.p, q.db = p, db
	q.budget = DefaultMaxSteps
	q.maxRows, q.maxBytes, q.maxMemory = DefaultMaxRows, int64(DefaultMaxBytes), int64(DefaultMaxMemory)
	if o != nil {
		q.reqCtx, q.grow, q.release, q.heavy = o.Ctx, o.Grow, o.Release, o.Heavy
		q.maxRows = limit(o.MaxRows, DefaultMaxRows)
		q.maxBytes = limit(o.MaxBytes, DefaultMaxBytes)
		q.maxMemory = limit(o.MaxMemory, DefaultMaxMemory)
	}
	if o != nil && o.MaxSteps > 0 {
		q.budget = o.MaxSteps
	}
	if o != nil {
		q.clock = o.Now
		o.ReadClock = false
	}
	q.bind(db, p)
	if o != nil && len(o.Context) > 0 {
		if err := q.loadContext(o.Context); err != nil {
			q.end()
			return nil, err
		}
	}
	return q, nil
}

// endFor ends the query of options o, telling o whether it read the clock.
func (q *qctx) endFor(o *QueryOptions) {
	if o != nil {
		o.ReadClock = q.nowSym != 0
	}
	q.end()
}

func (q *qctx) end() {
	if q.release != nil && q.granted > 0 {
		q.release(q.granted)
	}
	if q.heavyDone != nil {
		q.heavyDone()
	}
	q.reqCtx, q.grow, q.release, q.heavy, q.heavyDone = nil, nil, nil, nil, nil
	q.memUsed, q.granted, q.answerBytes = 0, 0, 0
	q.p, q.db, q.err = nil, nil, nil
	q.nowSym, q.steps, q.clock = 0, 0, nil
	q.extra = q.extra[:0]
	clear(q.local)
	q.localVal = q.localVal[:0]
	q.localTyp = q.localTyp[:0]
	q.ctx = nil
	if len(q.memo) > 256 {
		q.memo = nil
	} else {
		clear(q.memo)
	}
	q.stack = q.stack[:0]
	q.depth = 0
	q.mem.reset()
	qctxPool.Put(q)
}

// bind prepares the per-store caches: symbols of policy literals, type
// numbers and relation ids resolved by earlier queries stay valid while the
// store (StoreIdentity) and the policy are the same.
func (q *qctx) bind(db Database, p *Policy) {
	n := len(p.literals)
	si, ok := db.(StoreIdentity)
	same := ok && q.boundPolicy == p && q.boundStore == si.StoreID() && q.boundStore != 0
	if !same {
		q.litSyms = append(q.litSyms[:0], make([]uint32, n)...)
		q.litLocal = append(q.litLocal[:0], make([]bool, n)...)
		q.relIDs = q.relIDs[:0]
		q.typeMap = q.typeMap[:0]
		q.boundPolicy, q.boundStore, q.boundValues, q.boundRels = p, 0, -1, -1
		if ok {
			q.boundStore = si.StoreID()
		}
	}
	q.litSyms = q.litSyms[:n]
	values, rels := -2, -2
	if ok {
		values, rels = si.ValueCount(), si.RelationCount()
	}
	for i, s := range q.litSyms {
		if s >= LocalSymBase {
			// query-local symbols die with the query; the literal is known
			// to be absent while the store has not gained values
			q.litSyms[i] = 0
			q.litLocal[i] = values == q.boundValues
		} else if s == 0 {
			q.litLocal[i] = false
		}
	}
	if rels != q.boundRels {
		for i, r := range q.relIDs {
			if r == -1 {
				q.relIDs[i] = -2
			}
		}
	}
	q.boundValues, q.boundRels = values, rels
}

func (q *qctx) loadContext(facts []Fact) error {
	q.ctx = map[string][]uint32{}
	for i, f := range facts {
		if len(f.Args) == 0 || len(f.Args) > MaxArity {
			return fmt.Errorf("%w: context fact %d (%s) has %d arguments", ErrInvalidQuery, i, f.Predicate, len(f.Args))
		}
		key := predKey(f.Predicate, len(f.Args))
		for _, a := range f.Args {
			if err := q.p.checkValue(a); err != nil {
				return fmt.Errorf("context fact %d (%s): %w", i, f.Predicate, err)
			}
			q.ctx[key] = append(q.ctx[key], q.intern(a))
		}
	}
	return nil
}

// checkValue verifies that v is a concrete value of a known concrete type.
func (p *Policy) checkValue(v Value) error {
	if v.Type == "" || v.ID == "" {
		return fmt.Errorf("%w: a value needs a type and an id", ErrInvalidQuery)
	}
	t, ok := p.env.lookup(v.Type)
	if !ok {
		return fmt.Errorf("%w %s: the policy declares no such type", ErrUnknownType, v.Type)
	}
	if t.abstract {
		return fmt.Errorf("%w: %s is abstract; values need a concrete type", ErrInvalidQuery, v.Type)
	}
	return nil
}

// wildArg returns the symbol for a wildcard of the named type ("" = any).
func (p *Policy) wildArg(typ string) (uint32, error) {
	if typ == "" {
		return 0, nil
	}
	t, ok := p.env.lookup(typ)
	if !ok {
		return 0, fmt.Errorf("%w %s: the policy declares no such type", ErrUnknownType, typ)
	}
	return wildSym(t.index), nil
}

// Authorize reports whether allow(actor, action, resource) holds.
func (p *Policy) Authorize(db Database, actor Value, action string, resource Value, o *QueryOptions) (bool, error) {
	if err := p.checkValue(actor); err != nil {
		return false, fmt.Errorf("actor: %w", err)
	}
	if err := p.checkValue(resource); err != nil {
		return false, fmt.Errorf("resource: %w", err)
	}
	q, err := p.begin(db, o)
	if err != nil {
		return false, err
	}
	defer q.endFor(o)
	allow := p.allow
	if allow == nil {
		return false, nil
	}
	args := [3]uint32{q.intern(actor), q.intern(Value{TypeString, action}), q.intern(resource)}
	_, n, _ := q.call(allow, args[:], true)
	return n > 0, q.err
}

// Actions returns the sorted set of actions a for which allow(actor, a,
// resource) holds. all is true when the policy allows every action (a
// wildcard answer); the explicit actions found are still returned.
func (p *Policy) Actions(db Database, actor, resource Value, o *QueryOptions) (actions []string, all bool, err error) {
	if err := p.checkValue(actor); err != nil {
		return nil, false, fmt.Errorf("actor: %w", err)
	}
	if err := p.checkValue(resource); err != nil {
		return nil, false, fmt.Errorf("resource: %w", err)
	}
	var acts []string
	err = p.allowColumn(db, o, actor, Value{Type: TypeString}, resource, 1, func(v Value) {
		switch {
		case v.IsWildcard():
			all = true
		case v.Type == TypeString:
			acts = append(acts, v.ID)
		}
	})
	if err != nil {
		return nil, false, err
	}
	actions = dedupeSorted(acts)
	return actions, all, nil
}

// List returns the sorted ids of every resource of resourceType for which
// allow(actor, action, resource) holds. all is true when the policy allows
// every resource of the type (a wildcard answer); ids found explicitly are
// still returned.
func (p *Policy) List(db Database, actor Value, action, resourceType string, o *QueryOptions) (ids []string, all bool, err error) {
	if err := p.checkValue(actor); err != nil {
		return nil, false, fmt.Errorf("actor: %w", err)
	}
	if err := p.checkValue(Value{resourceType, "x"}); err != nil {
		return nil, false, fmt.Errorf("resource type: %w", err)
	}
	var ids0 []string
	err = p.allowColumn(db, o, actor, Value{TypeString, action}, Value{Type: resourceType}, 2, func(v Value) {
		switch {
		case v.IsWildcard():
			all = true
		case v.Type == resourceType:
			ids0 = append(ids0, v.ID)
		}
	})
	if err != nil {
		return nil, false, err
	}
	ids = dedupeSorted(ids0)
	return ids, all, nil
}

// allowColumn evaluates allow(a, b, c) and calls fn with column col of
// every answer, without materialising rows.
func (p *Policy) allowColumn(db Database, o *QueryOptions, a, b, c Value, col int, fn func(Value)) error {
	pr := p.allow
	if pr == nil {
		return nil
	}
	q, err := p.begin(db, o)
	if err != nil {
		return err
	}
	defer q.endFor(o)
	var args [3]uint32
	for i, v := range []Value{a, b, c} {
		if v.IsWildcard() {
			if args[i], err = p.wildArg(v.Type); err != nil {
				return err
			}
			continue
		}
		args[i] = q.intern(v)
	}
	ans, n, _ := q.call(pr, args[:], false)
	if q.err != nil {
		return q.err
	}
	if err := q.checkRows(n); err != nil {
		return err
	}
	var size int64
	for i := 0; i < n; i++ {
		v := q.value(ans[i*3+col])
		size += int64(len(v.ID)) + 3
		if err := q.checkBytes(size); err != nil {
			return err
		}
		fn(v)
	}
	return nil
}

// checkRows enforces the answer's row limit.
func (q *qctx) checkRows(n int) error {
	if n > q.maxRows {
		return fmt.Errorf("%w: the answer has %d rows, more than the node's limit of %d rows per answer; narrow the question", ErrResultTooLarge, n, q.maxRows)
	}
	return nil
}

// checkBytes enforces the answer's size limit on the estimated JSON size
// so far, and charges the answer being built to the working memory (about
// twice its JSON size: the Go values, then the encoding).
func (q *qctx) checkBytes(size int64) error {
	if size > q.maxBytes {
		return fmt.Errorf("%w: the answer is larger than the node's limit of %d bytes per answer; narrow the question", ErrResultTooLarge, q.maxBytes)
	}
	if d := size - q.answerBytes; d > 4096 {
		q.answerBytes = size
		if !q.charge(2 * d) {
			return q.err
		}
	}
	return nil
}

func dedupeSorted(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}

// Query returns every tuple of pred/len(args) that matches args, derived or
// stored. An argument is a concrete value, a typed wildcard (Value{Type: T})
// or an untyped wildcard (Value{}). In answers, positions the derivation
// leaves open are wildcards.
func (p *Policy) Query(db Database, predicate string, args []Value, o *QueryOptions) ([][]Value, error) {
	if len(args) == 0 || len(args) > MaxArity {
		return nil, fmt.Errorf("%w: %s needs between 1 and %d arguments", ErrInvalidQuery, predicate, MaxArity)
	}
	syms := make([]uint32, len(args))
	q, err := p.begin(db, o)
	if err != nil {
		return nil, err
	}
	defer q.endFor(o)
	for i, a := range args {
		if a.IsWildcard() {
			s, err := p.wildArg(a.Type)
			if err != nil {
				return nil, fmt.Errorf("argument %d: %w", i, err)
			}
			syms[i] = s
			continue
		}
		if err := p.checkValue(a); err != nil {
			return nil, fmt.Errorf("argument %d: %w", i, err)
		}
		syms[i] = q.intern(a)
	}
	pr := p.lookupPred(predicate, len(args))
	if pr == nil {
		pr = &pred{idx: len(p.preds), key: predKey(predicate, len(args)), name: predicate, arity: len(args)}
	}
	ans, n, _ := q.call(pr, syms, false)
	if q.err != nil {
		return nil, q.err
	}
	return q.rows(ans, n, len(args))
}

func (q *qctx) rows(ans []uint32, n, ar int) ([][]Value, error) {
	if err := q.checkRows(n); err != nil {
		return nil, err
	}
	var size int64
	out := make([][]Value, n)
	for i := range out {
		row := make([]Value, ar)
		for j := range row {
			row[j] = q.value(ans[i*ar+j])
			size += int64(len(row[j].Type)+len(row[j].ID)) + 24
		}
		if err := q.checkBytes(size); err != nil {
			return nil, err
		}
		out[i] = row
	}
	return out, nil
}

// QueryCall is one predicate call of an EvaluateQuery request; its
// arguments are variable names.
type QueryCall struct {
	Predicate string
	Args      []string
}

// VarConstraint gives a query variable its type and, unless IDs is nil,
// the values it may take (an empty non-nil IDs matches nothing).
type VarConstraint struct {
	Type string
	IDs  []string
}

// EvaluateQuery evaluates a conjunction of calls over typed variables
// (the Check API's evaluate_query) and returns every distinct assignment.
// A row maps each variable to its id, or to nil when the derivation leaves
// it open (any value of its type).
func (p *Policy) EvaluateQuery(db Database, calls []QueryCall, vars map[string]VarConstraint, o *QueryOptions) ([]map[string]*string, error) {
	if len(calls) == 0 {
		return nil, fmt.Errorf("%w: no predicate to evaluate", ErrInvalidQuery)
	}
	names := sortedKeys(vars)
	if len(names) > MaxArity*4 {
		return nil, fmt.Errorf("%w: too many variables (%d)", ErrInvalidQuery, len(names))
	}
	s := newScope()
	rule := &irRule{pred: "query"}
	for _, n := range names {
		c := vars[n]
		t, ok := p.env.lookup(c.Type)
		if !ok {
			return nil, fmt.Errorf("variable %s: %w %s: the policy declares no such type", n, ErrUnknownType, c.Type)
		}
		if t.abstract {
			return nil, fmt.Errorf("%w: variable %s has the abstract type %s", ErrInvalidQuery, n, c.Type)
		}
		i := s.named(n)
		s.vars[i].typ = c.Type
		switch {
		case c.IDs == nil:
		case len(c.IDs) == 0:
			return []map[string]*string{}, nil
		default:
			l := irLit{kind: lIn, a: s.v(i)}
			for _, id := range c.IDs {
				v := Value{c.Type, id}
				if err := p.checkValue(v); err != nil {
					return nil, fmt.Errorf("variable %s: %w", n, err)
				}
				l.list = append(l.list, irTerm{kind: tConst, val: v})
			}
			if len(l.list) == 1 {
				l = irLit{kind: lEq, a: s.v(i), b: l.list[0]}
			}
			rule.body = append(rule.body, l)
		}
	}
	for _, c := range calls {
		if len(c.Args) == 0 || len(c.Args) > MaxArity {
			return nil, fmt.Errorf("%w: %s has %d arguments", ErrInvalidQuery, c.Predicate, len(c.Args))
		}
		l := irLit{kind: lCall, pred: c.Predicate}
		for _, a := range c.Args {
			if _, ok := vars[a]; !ok {
				return nil, fmt.Errorf("%w: variable %s in %s has no constraint", ErrInvalidQuery, a, c.Predicate)
			}
			l.args = append(l.args, s.v(s.named(a)))
		}
		rule.body = append(rule.body, l)
	}
	rule.vars = s.vars
	if len(names) > MaxArity {
		return nil, fmt.Errorf("%w: at most %d distinct variables are supported", ErrInvalidQuery, MaxArity)
	}
	for _, n := range names {
		rule.params = append(rule.params, irParam{term: s.v(s.byName[n]), typ: vars[n].Type})
	}
	q, err := p.begin(db, o)
	if err != nil {
		return nil, err
	}
	defer q.endFor(o)
	cr, pr := p.adhocRule(q, rule)
	args := make([]uint32, len(names))
	for i := range args {
		args[i] = wildSym(cr.varTyp[s.byName[names[i]]])
	}
	ans, n, _ := q.call(pr, args, false)
	if q.err != nil {
		return nil, q.err
	}
	if err := q.checkRows(n); err != nil {
		return nil, err
	}
	var size int64
	out := make([]map[string]*string, n)
	for i := range out {
		row := make(map[string]*string, len(names))
		for j, name := range names {
			v := q.value(ans[i*len(names)+j])
			size += int64(len(name)+len(v.ID)) + 8
			if !v.IsWildcard() {
				id := v.ID
				row[name] = &id
			} else {
				row[name] = nil
			}
		}
		if err := q.checkBytes(size); err != nil {
			return nil, err
		}
		out[i] = row
	}
	return out, nil
}

// adhocRule compiles a query-time rule without changing the policy: its
// new literals live in the query context and its predicate is private.
func (p *Policy) adhocRule(q *qctx, r *irRule) (*crule, *pred) {
	lit := func(v Value) int {
		if i, ok := p.litIdx[v]; ok {
			return i
		}
		q.extra = append(q.extra, v)
		q.litSyms = append(q.litSyms, 0)
		return len(p.literals) + len(q.extra) - 1
	}
	ct := func(t irTerm) cterm {
		c := cterm{kind: t.kind, v: t.v}
		if t.kind == tConst {
			c.lit = lit(t.val)
		}
		return c
	}
	next := len(p.preds)
	predOf := func(name string, arity int) *pred {
		if pr := p.lookupPred(name, arity); pr != nil {
			return pr
		}
		next++
		return &pred{idx: next, key: predKey(name, arity), name: name, arity: arity}
	}
	self := &pred{idx: len(p.preds), key: "query", name: "query", arity: len(r.params)}
	cr := &crule{ir: r, pred: self, nvars: len(r.vars)}
	for _, prm := range r.params {
		cr.head = append(cr.head, ct(prm.term))
		cr.headTyp = append(cr.headTyp, p.env.index(prm.typ))
	}
	for _, v := range r.vars {
		cr.varTyp = append(cr.varTyp, p.env.index(v.typ))
	}
	for _, l := range r.body {
		c := clit{kind: l.kind, op: l.op, a: ct(l.a), b: ct(l.b), typ: -1}
		switch l.kind {
		case lCall:
			c.pred = predOf(l.pred, len(l.args))
			for _, a := range l.args {
				c.args = append(c.args, ct(a))
			}
		case lIn:
			for _, e := range l.list {
				c.list = append(c.list, ct(e))
			}
		}
		cr.body = append(cr.body, c)
	}
	cr.plans = make([]atomic.Pointer[plan], 1<<len(r.params))
	self.rules = []*crule{cr}
	self.hasRules = true
	return cr, self
}
