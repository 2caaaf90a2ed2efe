package replica

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// Loader builds a State in bulk, e.g. from a checkpoint: values first (each
// AddValue returns the next symbol), then facts as tuples of those symbols,
// then Finish builds the dedupe tables, the indexes and the digest sum in
// one pass per relation. A Loader is not safe for concurrent use and is
// spent by Finish.
type Loader struct {
	cfg      Config
	st       *store
	policy   PolicySource
	compiled any
	tokens   []Token
	err      error // first error; sticky

	lastType    string
	lastTypeNum uint16
	last        *relation
}

// NewLoader returns an empty Loader.
func NewLoader(cfg Config) *Loader {
	return &Loader{cfg: cfg, st: newStore()}
}

// ReserveValues makes room for n more values.
func (l *Loader) ReserveValues(n int) { l.st.in.reserve(n) }

// Reserve makes room for rows more facts of pred/arity.
func (l *Loader) Reserve(pred string, arity, rows int) {
	if pred == "" || arity <= 0 || rows <= 0 {
		return
	}
	r := l.st.relationOrNew(pred, arity)
	r.data = growHuge(r.data, rows*arity)
}

// AddValue interns a value and returns its symbol. Values added in order
// get symbols 1, 2, 3, ...; adding a value again returns its symbol. The id
// must be in canonical form (see Canonical). On error AddValue returns 0
// and the error is reported by Err, AddFact and Finish.
func (l *Loader) AddValue(typ, id string) uint32 {
	if l.err != nil {
		return 0
	}
	if err := checkID(typ, id); err != nil {
		l.err = fmt.Errorf("load value %d: %w", l.st.in.count()+1, err)
		return 0
	}
	t := l.lastTypeNum
	if typ != l.lastType || t == 0 {
		var err error
		if t, err = l.st.in.addType(typ); err != nil {
			l.err = fmt.Errorf("load value %d: %w", l.st.in.count()+1, err)
			return 0
		}
		l.lastType, l.lastTypeNum = typ, t
	}
	if l.st.in.count() >= MaxSymbols {
		l.err = fmt.Errorf("load value: more than %d values", MaxSymbols)
		return 0
	}
	return l.st.in.intern(t, id)
}

// AddFact adds the fact pred(args...) given by symbols from AddValue. The
// slice is copied. Duplicate facts are reported by Finish.
func (l *Loader) AddFact(pred string, args []uint32) error {
	if l.err != nil {
		return l.err
	}
	r := l.last
	if r == nil || r.arity != len(args) || r.name != pred {
		if pred == "" {
			l.err = errors.New("load fact: empty predicate")
			return l.err
		}
		if len(args) == 0 {
			l.err = fmt.Errorf("load fact %s: no arguments", pred)
			return l.err
		}
		r = l.st.relationOrNew(pred, len(args))
		l.last = r
	}
	n := uint32(l.st.in.count())
	for _, s := range args {
		if s == 0 || s > n {
			l.err = fmt.Errorf("load fact %s: argument symbol %d is not a loaded value (have %d)", pred, s, n)
			return l.err
		}
	}
	r.data = append(r.data, args...)
	return nil
}

// SetPolicy sets the policy, compiling it with the Config's Compiler.
func (l *Loader) SetPolicy(src PolicySource) error {
	var compiled any
	if l.cfg.Compiler != nil {
		c, err := l.cfg.Compiler(src)
		if err != nil {
			return fmt.Errorf("load policy: compile %s: %w", src.Filename, err)
		}
		compiled = c
	}
	l.policy, l.compiled = src, compiled
	return nil
}

// SetTokens sets the token set.
func (l *Loader) SetTokens(tokens []Token) error {
	if err := ValidateTokens(tokens); err != nil {
		return fmt.Errorf("load tokens: %w", err)
	}
	l.tokens = slices.Clone(tokens)
	return nil
}

// Err returns the first error met so far.
func (l *Loader) Err() error { return l.err }

// Finish builds the indexes and returns the State at revision. It fails on
// any earlier error and on duplicate facts.
func (l *Loader) Finish(revision uint64) (*State, error) {
	if l.err != nil {
		return nil, l.err
	}
	st := l.st
	l.st = newStore() // the Loader is spent
	for _, r := range st.rels {
		if n := r.rows(); n > maxRows {
			return nil, fmt.Errorf("load relation %s/%d: %d facts; the limit is %d", r.name, r.arity, n, maxRows)
		}
		if cap(r.data)-len(r.data) > len(r.data)/16 {
			r.data = append(makeHuge[uint32](0, len(r.data)), r.data...)
		}
	}
	// The digest sum only reads the tuples and the interner, which are now
	// fixed, so it runs beside the index builds (on another core if any).
	sums := make(chan FactSum, 1)
	go func() {
		var sum FactSum
		for _, r := range st.rels {
			a := r.arity
			for i := 0; i+a <= len(r.data); i += a {
				sum = sum.Add(st.hashTuple(r, r.data[i:i+a]))
			}
		}
		sums <- sum
	}()
	scratch := make([]uint32, st.in.count()+1)
	var keys []uint32
	var err error
	for _, r := range st.rels {
		if keys, err = r.build(scratch, keys); err != nil {
			err = fmt.Errorf("load relation %s/%d: %w", r.name, r.arity, err)
			break
		}
		st.facts += r.rows()
	}
	st.sum = <-sums
	if err != nil {
		return nil, err
	}
	return newFromParts(l.cfg, st, l.policy, l.compiled, l.tokens, revision), nil
}

// inlinePending marks a slot whose single row is not yet filled in (no
// real row: rows are below maxRows).
const inlinePending = ^uint32(0)

// build creates the dedupe table, the where arrays and the indexes of a
// relation whose data was appended in bulk; it does not modify data. cnt is
// zeroed scratch indexed by symbol (left zeroed); keys is scratch reused
// across calls.
func (r *relation) build(cnt []uint32, keys []uint32) ([]uint32, error) {
	a := r.arity
	n := r.rows()
	size := 8
	for n*4 > size*3 {
		size *= 2
	}
	if err := r.buildDedupe(size); err != nil {
		return keys, err
	}
	for p := range a {
		keys = keys[:0]
		words := 0
		longest := uint32(0)
		for i := p; i < len(r.data); i += a {
			s := r.data[i]
			if cnt[s] == 0 {
				keys = append(keys, s)
			}
			cnt[s]++
			longest = max(longest, cnt[s])
		}
		var where []uint32
		if longest > whereMin {
			where = makeHuge[uint32](n, n)
		}
		x := newPosIndex(len(keys))
		for _, s := range keys {
			if c := cnt[s]; c > 1 {
				words += int(c) + segHeader
			}
		}
		x.arena = makeHuge[uint32](words, words)
		pos := uint32(0)
		for _, s := range keys {
			c := cnt[s]
			sl := islot{sym: s, ref: inlinePending}
			if c > 1 {
				x.arena[pos] = c // capacity; the length grows below
				sl.ref = pos + segHeader
				pos += c + segHeader
			}
			cnt[s] = x.insertNew(sl)
		}
		for row := range n {
			i := row*a + p
			sl := &x.slots[cnt[r.data[i]]]
			if sl.ref == inlinePending {
				sl.ref = uint32(row) | inline
			} else {
				k := x.arena[sl.ref-1]
				x.arena[sl.ref+k] = uint32(row)
				x.arena[sl.ref-1] = k + 1
				if where != nil {
					where[row] = k
				}
			}
		}
		for _, s := range keys {
			cnt[s] = 0
		}
		r.idx[p] = x
		r.where[p] = where
	}
	return keys, nil
}

// buildDedupe fills the dedupe table (of the given power-of-two size) from
// data, failing on a duplicate tuple. Temporary hash tags beside the table
// keep tuple comparisons to real candidates.
func (r *relation) buildDedupe(size int) error {
	r.dedupe = makeHuge[uint32](size, size)
	tags := makeHuge[uint32](size, size)
	r.dshift = uint8(64 - bits.TrailingZeros(uint(size)))
	mask := size - 1
	a := r.arity
	n := r.rows()
	for row := range n {
		t := r.data[row*a : row*a+a]
		h := tupleHash(t)
		tag := uint32(h) | 1
		i := int(h >> r.dshift)
		for ; r.dedupe[i] != 0; i = (i + 1) & mask {
			if tags[i] == tag {
				if o := entryRow(r.dedupe[i]); slices.Equal(r.data[o*a:o*a+a], t) {
					return fmt.Errorf("duplicate fact at rows %d and %d", o, row)
				}
			}
		}
		r.dedupe[i] = dedupeEntry(row, h)
		tags[i] = tag
	}
	r.dused = n
	return nil
}
