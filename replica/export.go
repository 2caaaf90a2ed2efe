package replica

import "slices"

// Export is a detached copy of a View's contents for writing a checkpoint
// without holding the State's lock: View.Export copies the tuples (a memcpy,
// 4 bytes per argument) and shares the interner's append-only storage, so
// after Release the State can move on while the Export is written out.
// An Export is immutable and safe for concurrent use.
type Export struct {
	revision uint64
	policy   PolicySource
	tokens   []Token
	sum      FactSum
	facts    int

	typeNames []string
	vtype     []uint16
	vloc      []uint32
	chunks    [][]byte
	rels      []exportRel
}

type exportRel struct {
	info RelationInfo
	data []uint32
}

// Export copies the view's facts and captures its values (see Export).
func (v *View) Export() *Export {
	st := v.s.st
	in := st.in
	n := st.pub.syms + 1
	nt := st.pub.types + 1
	e := &Export{
		revision:  v.Revision(),
		policy:    v.s.policy,
		tokens:    slices.Clone(v.s.tokens),
		sum:       st.pub.sum,
		facts:     st.pub.facts,
		typeNames: in.typeNames[:nt:nt],
		vtype:     in.vtype[:n:n],
		vloc:      in.vloc[:n:n],
		chunks:    slices.Clone(in.chunks),
		rels:      make([]exportRel, st.pub.rels),
	}
	for i, r := range st.rels[:st.pub.rels] {
		n := r.visible()
		e.rels[i] = exportRel{
			info: RelationInfo{Name: r.name, Arity: r.arity, Len: n, ID: r.id},
			data: slices.Clone(r.data[:n*r.arity]),
		}
	}
	return e
}

// Revision returns the revision the export was taken at.
func (e *Export) Revision() uint64 { return e.revision }

// Policy returns the policy source.
func (e *Export) Policy() PolicySource { return e.policy }

// Tokens returns a copy of the token set.
func (e *Export) Tokens() []Token { return slices.Clone(e.tokens) }

// FactCount returns the number of facts.
func (e *Export) FactCount() int { return e.facts }

// Digest returns the state digest at the export's revision.
func (e *Export) Digest() string { return ComputeDigest(e.policy, e.tokens, e.sum, uint64(e.facts)) }

// Relations returns every relation, by ID, including empty ones.
func (e *Export) Relations() []RelationInfo {
	out := make([]RelationInfo, len(e.rels))
	for i, r := range e.rels {
		out[i] = r.info
	}
	return out
}

// ValueCount returns the number of symbols (the highest symbol).
func (e *Export) ValueCount() int { return len(e.vtype) - 1 }

// ForEachValue calls fn with every symbol in increasing order until fn
// returns false.
func (e *Export) ForEachValue(fn func(sym uint32, typ, id string) bool) {
	in := interner{typeNames: e.typeNames, vtype: e.vtype, vloc: e.vloc, chunks: e.chunks}
	for s := 1; s < len(e.vtype); s++ {
		if !fn(uint32(s), e.typeNames[e.vtype[s]], in.id(uint32(s))) {
			return
		}
	}
}

// ForEachTuple calls fn with every tuple of relation rel until fn returns
// false. The slice is valid only during the call.
func (e *Export) ForEachTuple(rel int, fn func(tuple []uint32) bool) {
	if rel < 0 || rel >= len(e.rels) {
		return
	}
	r := e.rels[rel]
	a := r.info.Arity
	for i := 0; i+a <= len(r.data); i += a {
		if !fn(r.data[i : i+a : i+a]) {
			return
		}
	}
}
