package replica

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// Compiler compiles a policy source into an opaque form that queries use.
// It must be safe to call concurrently with readers of the State (it runs
// outside the State's lock).
type Compiler func(src PolicySource) (compiled any, err error)

// Config configures a State.
type Config struct {
	// Env is the environment this state replicates. When non-empty, an event
	// for another environment is poison. Empty accepts any environment.
	Env string
	// Compiler compiles policy events. Nil stores policies uncompiled (the
	// compiled form is nil).
	Compiler Compiler
}

// Validate reports configuration errors. Every Config is currently valid.
func (c Config) Validate() error { return nil }

// State is the replicated state of one environment at its applied revision:
// policy, tokens and facts. See the package documentation for its
// concurrency rules.
type State struct {
	cfg Config

	// applied is the seq of the last applied event. It is stored only with
	// mu held for writing, and may be loaded without mu.
	applied    atomic.Uint64
	duplicates atomic.Uint64

	// notifyMu guards changed, the channel closed when the revision moves.
	notifyMu sync.Mutex
	changed  chan struct{}

	// wmu serialises writers. The writer reads the store holding only wmu
	// (readers only read it too) and mutates it holding wmu and mu.
	wmu sync.Mutex
	// pieceHook, when set (tests), runs between the pieces of an event
	// applied in pieces, holding wmu but not mu.
	pieceHook func()

	gate *gate // readers and the writer (gate.go)
	// Guarded by the gate.
	st       *store
	policy   PolicySource
	compiled any
	tokens   []Token
}

// New returns an empty State at revision 0.
func New(cfg Config) *State {
	return &State{cfg: cfg, st: newStore(), gate: newGate()}
}

// Revision returns the applied revision without taking the lock.
func (s *State) Revision() uint64 { return s.applied.Load() }

// Duplicates returns how many events Apply skipped because their seq was
// already applied.
func (s *State) Duplicates() uint64 { return s.duplicates.Load() }

// Apply applies one event following DESIGN.md §3:
//
//   - seq <= applied: a duplicate. Apply counts it (see Duplicates) and
//     returns nil without looking further at the event.
//   - seq == applied+1: the event is validated and applied atomically; a
//     reader sees all of it or none of it.
//   - seq > applied+1: Apply returns a *GapError (wrapping ErrGap).
//
// An event that cannot be applied (another environment, seq 0, unknown
// kind, fields of another kind, an invalid fact or pattern, a token that is
// not a SHA-256 hex hash, a policy the Compiler rejects) returns an error
// wrapping ErrPoison and changes nothing. Work that needs no lock
// (validation, canonicalisation, hashing, compiling) happens before the
// write lock is taken.
//
// Apply is safe to call concurrently, but events must be offered in order.
func (s *State) Apply(ev Event) error {
	if s.cfg.Env != "" && ev.Env != s.cfg.Env {
		return poisonf(ev.Seq, "event is for environment %q, this replica serves %q", ev.Env, s.cfg.Env)
	}
	if ev.Seq == 0 {
		return poisonf(0, "seq is 0")
	}
	if done, err := s.checkSeq(ev.Seq); done {
		return err
	}
	p, err := s.prepare(ev)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if done, err := s.checkSeq(ev.Seq); done {
		return err
	}
	if p.insertOnly() && len(p.inserts) > pieceFacts {
		if err := s.checkLimits(p); err != nil {
			return err
		}
		s.insertPieces(p)
	} else {
		s.gate.lock()
		err := s.commit(p)
		if err == nil {
			s.st.publish()
			s.applied.Store(ev.Seq)
		}
		s.gate.unlock()
		if err != nil {
			return err
		}
	}
	s.notify()
	return nil
}

// pieceFacts bounds the inserts applied per hold of the write lock when an
// event is applied in pieces, so a reader waits for at most one piece (a
// few microseconds) rather than for a whole large event.
var pieceFacts = 16

// insertOnly reports whether p is a batch that only inserts, the kind of
// event applied in pieces: pending rows are appended and never move, so
// readers can skip them (see relation.vis). Deletes swap rows around and
// are applied in one hold, and so is a batch that also sets the policy
// (the facts and the policy change together).
func (p *prepared) insertOnly() bool {
	return p.kind == KindBatch && len(p.deletes) == 0 && p.policy == (PolicySource{}) && p.compiled == nil && !p.setPolicy
}

// insertPieces applies an insert-only event pieceFacts inserts per hold of
// the write lock. Readers in between see the previous revision: the rows,
// symbols, types and relations added so far stay unpublished until the
// last piece publishes them together with the new revision. The limits
// were checked by the caller, holding wmu, so no piece can fail.
func (s *State) insertPieces(p *prepared) {
	for i := 0; i < len(p.inserts); i += pieceFacts {
		j := min(i+pieceFacts, len(p.inserts))
		s.gate.lock()
		s.insertFacts(p.inserts[i:j])
		last := j == len(p.inserts)
		if last {
			s.st.publish()
			s.applied.Store(p.seq)
		}
		s.gate.unlock()
		if !last && s.pieceHook != nil {
			s.pieceHook()
		}
	}
}

// Changed returns a channel that is closed the next time the revision
// moves. Take it, check Revision, then wait on it, to miss no change.
func (s *State) Changed() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

func (s *State) notify() {
	s.notifyMu.Lock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	s.notifyMu.Unlock()
}

// WaitFor blocks until the applied revision is at least seq, or ctx ends.
func (s *State) WaitFor(ctx context.Context, seq uint64) error {
	for {
		ch := s.Changed()
		if s.Revision() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// checkSeq handles duplicates and gaps; done is false when seq is next.
func (s *State) checkSeq(seq uint64) (done bool, err error) {
	applied := s.applied.Load()
	switch {
	case seq <= applied:
		s.duplicates.Add(1)
		return true, nil
	case seq > applied+1:
		return true, &GapError{Applied: applied, Got: seq}
	}
	return false, nil
}

// commit mutates the state; mu is held for writing. It fails (with no
// change) only when a limit would be exceeded.
func (s *State) commit(p *prepared) error {
	switch p.kind {
	case KindBatch:
		if err := s.checkLimits(p); err != nil {
			return err
		}
		for i := range p.deletes {
			s.st.deletePattern(&p.deletes[i])
		}
		s.insertFacts(p.inserts)
		if p.setPolicy {
			s.policy, s.compiled = p.policy, p.compiled
		}
	case KindPolicy:
		s.policy, s.compiled = p.policy, p.compiled
	case KindClear:
		s.st.clear()
	case KindTokens:
		s.tokens = p.tokens
	}
	return nil
}

// checkLimits fails when the inserts could exceed the symbol, type or row
// limits. The common case costs a few comparisons.
func (s *State) checkLimits(p *prepared) error {
	in := s.st.in
	args := 0
	for i := range p.inserts {
		args += len(p.inserts[i].args)
	}
	if in.count()+args <= MaxSymbols && len(in.typeNames)+args <= MaxTypes+1 {
		rowsOK := true
		for _, r := range s.st.rels {
			rowsOK = rowsOK && r.rows()+len(p.inserts) <= maxRows
		}
		if rowsOK {
			return nil
		}
	}
	newSyms := 0
	newTypes := map[string]bool{}
	perRel := map[relKey]int{}
	for i := range p.inserts {
		f := &p.inserts[i]
		perRel[relKey{f.pred, len(f.args)}]++
		for _, a := range f.args {
			t := in.typeNum(a.Type)
			if t == 0 {
				newTypes[a.Type] = true
			}
			if t == 0 || in.lookup(t, a.ID) == 0 {
				newSyms++
			}
		}
	}
	if in.count()+newSyms > MaxSymbols {
		return poisonf(p.seq, "inserts would exceed %d distinct values", MaxSymbols)
	}
	if len(in.typeNames)-1+len(newTypes) > MaxTypes {
		return poisonf(p.seq, "inserts would exceed %d distinct types", MaxTypes)
	}
	for k, n := range perRel {
		if r := s.st.relation(k.name, k.arity); r != nil && r.rows()+n > maxRows {
			return poisonf(p.seq, "inserts would exceed %d facts of %s/%d", maxRows, k.name, k.arity)
		}
	}
	return nil
}

func (s *State) insertFacts(inserts []prepFact) {
	in := s.st.in
	var buf []uint32
	// The facts of an event mostly come in runs of one relation, over a few
	// types: remember the last relation and some types.
	var r *relation
	var types typeCache
	for i := range inserts {
		f := &inserts[i]
		if r == nil || r.arity != len(f.args) || r.name != f.pred {
			r = s.st.relationOrNew(f.pred, len(f.args))
		}
		buf = buf[:0]
		for _, a := range f.args {
			t := types.get(in, a.Type) // limits checked
			buf = append(buf, in.intern(t, a.ID))
		}
		s.st.insertTuple(r, buf, f.hash)
	}
}

// typeCache remembers the type numbers of a few type names.
type typeCache struct {
	names [8]string
	nums  [8]uint16
	next  int
}

// get returns the type number of name, adding the type if needed (the
// caller has checked the type limit).
func (c *typeCache) get(in *interner, name string) uint16 {
	for i := range c.nums {
		if c.nums[i] != 0 && c.names[i] == name {
			return c.nums[i]
		}
	}
	t, _ := in.addType(name)
	c.names[c.next], c.nums[c.next] = name, t
	c.next = (c.next + 1) % len(c.nums)
	return t
}

// Acquire returns a read view of the state at its current revision, holding
// the gate's read side until Release. Every call must be paired with Release; a
// goroutine must not Acquire again while it holds a view (a waiting Apply
// blocks new readers, so a nested Acquire can deadlock).
func (s *State) Acquire() *View {
	s.gate.rlock()
	return &View{s: s}
}

// newFromParts assembles a State (used by the Loader).
func newFromParts(cfg Config, st *store, policy PolicySource, compiled any, tokens []Token, revision uint64) *State {
	s := &State{cfg: cfg, st: st, policy: policy, compiled: compiled, tokens: slices.Clone(tokens), gate: newGate()}
	st.publish()
	s.applied.Store(revision)
	return s
}
