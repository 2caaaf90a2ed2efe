package replica

import "slices"

// View is a read view of a State at one revision. It holds the State's read
// lock from Acquire until Release, so nothing it returns changes meanwhile.
// It shows only what the store has published (store.pub, relation.vis):
// rows, symbols, types and relations added by an event still being applied
// in pieces are invisible to it.
// A View must not be used after Release; it may be used by several
// goroutines at once (all its methods only read).
//
// View implements the evaluator's fact interface (query/polar.Database):
// Lookup, Value, TypeOf, TypeName, RelationID, Scan and Count.
type View struct {
	s *State
}

// Release leaves the state's gate. Calling it again does nothing.
func (v *View) Release() {
	if v.s != nil {
		s := v.s
		v.s = nil
		s.gate.runlock()
	}
}

// Revision returns the seq of the last event applied to the state.
func (v *View) Revision() uint64 { return v.s.applied.Load() }

// Policy returns the policy source and its compiled form (nil before the
// first policy event, or when the State has no Compiler).
func (v *View) Policy() (PolicySource, any) { return v.s.policy, v.s.compiled }

// Tokens returns a copy of the token set.
func (v *View) Tokens() []Token { return slices.Clone(v.s.tokens) }

// FactCount returns the number of stored facts.
func (v *View) FactCount() int { return v.s.st.pub.facts }

// ValueCount returns the number of symbols handed out (values ever seen).
func (v *View) ValueCount() int { return v.s.st.pub.syms }

// StoreID identifies the store behind the view. Symbols, type numbers and
// relation ids are valid for every view with the same StoreID (a new id
// comes only with a new State, e.g. after a re-bootstrap); evaluators use
// it to keep what they resolved across queries.
func (v *View) StoreID() uint64 { return v.s.st.id }

// RelationCount returns the number of relations ever created in the store.
func (v *View) RelationCount() int { return v.s.st.pub.rels }

// FactSum returns the running sum of fact hashes (see ComputeDigest).
func (v *View) FactSum() FactSum { return v.s.st.pub.sum }

// Digest returns the state digest (see ComputeDigest). It costs one SHA-256
// pass over the policy source and tokens; facts enter through their
// incrementally maintained sum.
func (v *View) Digest() string {
	return ComputeDigest(v.s.policy, v.s.tokens, v.s.st.pub.sum, uint64(v.s.st.pub.facts))
}

// Lookup returns the symbol of the value (typ, id), or 0 when no fact has
// ever mentioned it. Integer ids are canonicalised first.
//
// Symbols are non-zero, below 1<<31, and stable for the life of the State:
// the interner is append-only, and not even a clear event resets it. Symbols
// of values that no fact mentions any more are reclaimed only when a node
// restarts from a checkpoint.
func (v *View) Lookup(typ, id string) uint32 { return v.visSym(v.s.st.in.lookupValue(typ, id)) }

// visSym returns sym when it is published, else 0.
func (v *View) visSym(sym uint32) uint32 {
	if int64(sym) > int64(v.s.st.pub.syms) {
		return 0
	}
	return sym
}

// validSym reports whether sym is a published symbol.
func (v *View) validSym(sym uint32) bool { return sym != 0 && v.visSym(sym) != 0 }

// Value returns the type and id of a symbol ("", "" for an unknown one).
func (v *View) Value(sym uint32) (typ, id string) {
	in := v.s.st.in
	if !v.validSym(sym) {
		return "", ""
	}
	return in.typeNames[in.vtype[sym]], in.id(sym)
}

// TypeOf returns the type number of a symbol (0 for an unknown one).
func (v *View) TypeOf(sym uint32) uint16 {
	in := v.s.st.in
	if !v.validSym(sym) {
		return 0
	}
	return in.vtype[sym]
}

// TypeName returns the name of a type number ("" for an unknown one).
func (v *View) TypeName(t uint16) string {
	if int(t) > v.s.st.pub.types {
		return ""
	}
	return v.s.st.in.typeName(t)
}

// TypeNum returns the type number of a type name, or 0.
func (v *View) TypeNum(name string) uint16 {
	if t := v.s.st.in.typeNum(name); int(t) <= v.s.st.pub.types {
		return t
	}
	return 0
}

// RelationID returns the handle of name/arity, or false when no fact of
// that predicate has ever been stored. Handles are stable for the life of
// the State (a relation emptied by deletes or clear keeps its handle).
func (v *View) RelationID(name string, arity int) (int, bool) {
	id, ok := v.s.st.relIDs[relKey{name, arity}]
	if !ok || id >= v.s.st.pub.rels {
		return 0, false
	}
	return id, true
}

func (v *View) rel(id int) *relation {
	if id < 0 || id >= v.s.st.pub.rels {
		return nil
	}
	return v.s.st.rels[id]
}

// Scan calls fn with every tuple of relation rel that matches pattern
// (pattern[i] == 0 matches anything; len(pattern) must be the arity), until
// fn returns false. It walks the shortest posting list among the bound
// positions, or the whole relation when nothing is bound. The tuple slice is
// valid only during the call and must not be modified.
func (v *View) Scan(rel int, pattern []uint32, fn func(tuple []uint32) bool) {
	if r := v.rel(rel); r != nil {
		r.scan(pattern, nil, nil, fn)
	}
}

// Count returns an upper bound on the tuples Scan would visit: the length
// of the shortest posting list among bound positions (0 when a bound symbol
// never occurs there), or the relation's size when nothing is bound.
func (v *View) Count(rel int, pattern []uint32) int {
	if r := v.rel(rel); r != nil {
		return r.count(pattern)
	}
	return 0
}

// RelationInfo describes one relation.
type RelationInfo struct {
	Name  string
	Arity int
	Len   int // stored facts
	ID    int // handle for Scan, Count and ForEachTuple
}

// Relations returns every relation ever created, by ID, including empty
// ones.
func (v *View) Relations() []RelationInfo {
	out := make([]RelationInfo, v.s.st.pub.rels)
	for i, r := range v.s.st.rels[:len(out)] {
		out[i] = RelationInfo{Name: r.name, Arity: r.arity, Len: r.visible(), ID: r.id}
	}
	return out
}

// ForEachValue calls fn with every symbol in increasing order, until fn
// returns false. It includes symbols no stored fact mentions any more.
func (v *View) ForEachValue(fn func(sym uint32, typ, id string) bool) {
	in := v.s.st.in
	for s := 1; s <= v.s.st.pub.syms; s++ {
		if !fn(uint32(s), in.typeNames[in.vtype[s]], in.id(uint32(s))) {
			return
		}
	}
}

// ForEachTuple calls fn with every tuple of relation rel in storage order,
// until fn returns false. The slice is valid only during the call.
func (v *View) ForEachTuple(rel int, fn func(tuple []uint32) bool) {
	r := v.rel(rel)
	if r == nil {
		return
	}
	a := r.arity
	for i := 0; i+a <= r.visible()*a; i += a {
		if !fn(r.data[i : i+a : i+a]) {
			return
		}
	}
}

// Facts calls fn with each stored fact matching pattern until fn returns
// false (the GET /api/facts read). The pattern may be shorter than the
// arity: every relation named pattern.Predicate (every relation when it is
// empty) with arity >= len(pattern.Args) is searched, missing arguments
// matching anything. Relations are visited by name then arity, facts in
// storage order. A pattern that fails Validate (apart from an empty
// predicate or no arguments) matches nothing.
func (v *View) Facts(pattern Pattern, fn func(Fact) bool) {
	in := v.s.st.in
	n := len(pattern.Args)
	syms := make([]uint32, n)
	types := make([]uint16, n)
	for i, a := range pattern.Args {
		switch {
		case a.Type == nil && a.ID != nil:
			return
		case a.Type == nil:
		case a.ID == nil:
			if types[i] = v.TypeNum(*a.Type); types[i] == 0 {
				return
			}
		default:
			if syms[i] = v.Lookup(*a.Type, *a.ID); syms[i] == 0 {
				return
			}
		}
	}
	for _, r := range v.s.st.relationsByName(pattern.Predicate, n) {
		ps := append(slices.Clone(syms), make([]uint32, r.arity-n)...)
		pt := append(slices.Clone(types), make([]uint16, r.arity-n)...)
		stop := false
		r.scan(ps, pt, in.vtype, func(t []uint32) bool {
			f := Fact{Predicate: r.name, Args: make([]Value, len(t))}
			for i, s := range t {
				f.Args[i] = Value{Type: in.typeNames[in.vtype[s]], ID: in.id(s)}
			}
			stop = !fn(f)
			return !stop
		})
		if stop {
			return
		}
	}
}
