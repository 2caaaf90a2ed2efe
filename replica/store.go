package replica

import (
	"slices"
	"strings"
	"sync/atomic"
)

// store is the fact set of one environment: the interner, the relations and
// the digest's running fact sum. It has no locking of its own (State guards
// it).
type store struct {
	id     uint64 // unique per store in this process (see View.StoreID)
	in     *interner
	rels   []*relation // by relation id; never removed (clear empties them)
	relIDs map[relKey]int
	sum    FactSum // sum of HashFact over stored facts, mod 2^128
	facts  int

	// pub is what readers see (set by publish at the end of every event):
	// an event applied in pieces adds rows, symbols, types and relations
	// beyond these bounds, invisible until its last piece publishes them.
	pub published
}

// published holds the reader-visible bounds of a store.
type published struct {
	facts int
	sum   FactSum
	rels  int // relations [0, rels) are visible
	syms  int // symbols 1..syms are visible
	types int // type numbers 1..types are visible
}

// publish makes everything stored so far visible to readers; the caller
// holds the State's write lock.
func (st *store) publish() {
	for _, r := range st.rels {
		r.vis = r.rows()
	}
	st.pub = published{facts: st.facts, sum: st.sum, rels: len(st.rels), syms: st.in.count(), types: len(st.in.typeNames) - 1}
}

type relKey struct {
	name  string
	arity int
}

var storeIDs atomic.Uint64

func newStore() *store {
	return &store{id: storeIDs.Add(1), in: newInterner(), relIDs: make(map[relKey]int)}
}

func (st *store) relation(name string, arity int) *relation {
	if id, ok := st.relIDs[relKey{name, arity}]; ok {
		return st.rels[id]
	}
	return nil
}

func (st *store) relationOrNew(name string, arity int) *relation {
	if r := st.relation(name, arity); r != nil {
		return r
	}
	// The name may be a substring of a whole decoded event (decodeFast):
	// keep a copy of its own.
	name = strings.Clone(name)
	r := newRelation(name, arity, len(st.rels))
	st.rels = append(st.rels, r)
	st.relIDs[relKey{name, arity}] = r.id
	return r
}

// hashTuple returns HashFact of a stored tuple of r.
func (st *store) hashTuple(r *relation, t []uint32) FactSum {
	h := r.ph
	for _, s := range t {
		h.writeStr(st.in.typeNames[st.in.vtype[s]])
		h.writeStr(st.in.id(s))
	}
	return FactSum{h.hi, h.lo}
}

// insertTuple inserts a tuple whose fact hash is known.
func (st *store) insertTuple(r *relation, t []uint32, h FactSum) {
	if r.insert(t) {
		st.sum = st.sum.Add(h)
		st.facts++
	}
}

// deleteTuple deletes a tuple; h is its fact hash (computed when zero).
func (st *store) deleteTuple(r *relation, t []uint32, h *FactSum) {
	row, slot := r.findRow(t)
	if row < 0 {
		return
	}
	var sum FactSum
	if h != nil {
		sum = *h
	} else {
		sum = st.hashTuple(r, t)
	}
	r.deleteRow(uint32(row), slot)
	st.sum = st.sum.Sub(sum)
	st.facts--
}

// resolvedPattern is a delete pattern in symbols: for each position an exact
// symbol, or a type (0 = any) when sym == 0.
type resolvedPattern struct {
	rel   *relation
	syms  []uint32
	types []uint16
	exact bool
}

// resolve translates a validated pattern; ok is false when it can match
// nothing (unknown relation, value or type).
func (st *store) resolve(p *prepPattern) (rp resolvedPattern, ok bool) {
	rp.rel = st.relation(p.pred, len(p.args))
	if rp.rel == nil || rp.rel.rows() == 0 {
		return rp, false
	}
	rp.syms = make([]uint32, len(p.args))
	rp.types = make([]uint16, len(p.args))
	rp.exact = true
	for i, a := range p.args {
		switch {
		case !a.hasType:
			rp.exact = false
		case !a.hasID:
			rp.exact = false
			if rp.types[i] = st.in.typeNum(a.typ); rp.types[i] == 0 {
				return rp, false
			}
		default:
			if rp.syms[i] = st.in.lookup(st.in.typeNum(a.typ), a.id); rp.syms[i] == 0 {
				return rp, false
			}
		}
	}
	return rp, true
}

// deletePattern deletes every fact matching p.
func (st *store) deletePattern(p *prepPattern) {
	rp, ok := st.resolve(p)
	if !ok {
		return
	}
	if rp.exact {
		st.deleteTuple(rp.rel, rp.syms, &p.hash)
		return
	}
	var matched []uint32
	rp.rel.scan(rp.syms, rp.types, st.in.vtype, func(t []uint32) bool {
		matched = append(matched, t...)
		return true
	})
	a := rp.rel.arity
	for i := 0; i < len(matched); i += a {
		st.deleteTuple(rp.rel, matched[i:i+a], nil)
	}
}

// clear removes every fact; symbols and relation ids stay.
func (st *store) clear() {
	for _, r := range st.rels {
		r.reset()
	}
	st.sum = FactSum{}
	st.facts = 0
}

// relationsByName returns the visible relations named name (every relation
// when name is empty) with arity >= minArity, by arity then id.
func (st *store) relationsByName(name string, minArity int) []*relation {
	var out []*relation
	for _, r := range st.rels[:st.pub.rels] {
		if (name == "" || r.name == name) && r.arity >= minArity {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *relation) int {
		if a.name != b.name {
			if a.name < b.name {
				return -1
			}
			return 1
		}
		return a.arity - b.arity
	})
	return out
}
