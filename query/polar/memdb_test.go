package polar

import "testing"

// memDB is a small Database for tests: every fact in a slice, scanned
// linearly. It interns values the way a real store does.
type memDB struct {
	syms   map[Value]uint32
	vals   []Value
	types  map[string]uint16
	tnames []string
	rels   map[string]int
	tuples [][][]uint32
}

func newMemDB() *memDB {
	return &memDB{syms: map[Value]uint32{}, vals: []Value{{}}, types: map[string]uint16{}, rels: map[string]int{}}
}

func (m *memDB) intern(v Value) uint32 {
	if s, ok := m.syms[v]; ok {
		return s
	}
	if _, ok := m.types[v.Type]; !ok {
		m.types[v.Type] = uint16(len(m.tnames))
		m.tnames = append(m.tnames, v.Type)
	}
	s := uint32(len(m.vals))
	m.vals = append(m.vals, v)
	m.syms[v] = s
	return s
}

func (m *memDB) add(f Fact) {
	key := predKey(f.Predicate, len(f.Args))
	r, ok := m.rels[key]
	if !ok {
		r = len(m.tuples)
		m.rels[key] = r
		m.tuples = append(m.tuples, nil)
	}
	t := make([]uint32, len(f.Args))
	for i, a := range f.Args {
		t[i] = m.intern(a)
	}
	m.tuples[r] = append(m.tuples[r], t)
}

func (m *memDB) Lookup(typ, id string) uint32 { return m.syms[Value{typ, id}] }
func (m *memDB) Value(s uint32) (string, string) {
	v := m.vals[s]
	return v.Type, v.ID
}
func (m *memDB) TypeOf(s uint32) uint16   { return m.types[m.vals[s].Type] }
func (m *memDB) TypeName(t uint16) string { return m.tnames[t] }
func (m *memDB) RelationID(name string, arity int) (int, bool) {
	r, ok := m.rels[predKey(name, arity)]
	return r, ok
}
func (m *memDB) Scan(rel int, pattern []uint32, fn func([]uint32) bool) {
outer:
	for _, t := range m.tuples[rel] {
		for i, p := range pattern {
			if p != 0 && t[i] != p {
				continue outer
			}
		}
		if !fn(t) {
			return
		}
	}
}
func (m *memDB) Count(rel int, pattern []uint32) int { return len(m.tuples[rel]) }

var _ Database = (*memDB)(nil)

// mustCompile parses and compiles one policy source.
func mustCompile(tb testing.TB, src string) *Policy {
	tb.Helper()
	f, err := Parse("test.polar", src)
	if err != nil {
		tb.Fatalf("parse: %v", err)
	}
	p, err := Compile([]*File{f}, CompileOptions{})
	if err != nil {
		tb.Fatalf("compile: %v", err)
	}
	return p
}

// parseFacts reads facts written in Polar syntax, one per statement.
func parseFacts(tb testing.TB, p *Policy, src string) []Fact {
	tb.Helper()
	f, err := Parse("facts.polar", "test fixture facts {\n"+src+"\n}")
	if err != nil {
		tb.Fatalf("parse facts: %v", err)
	}
	facts, err := p.factValues(f.Items[0].(*Fixture).Facts)
	if err != nil {
		tb.Fatalf("facts: %v", err)
	}
	return facts
}
