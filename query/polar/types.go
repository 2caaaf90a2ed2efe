package polar

import "sort"

// Built-in type names.
const (
	TypeString   = "String"
	TypeInteger  = "Integer"
	TypeBoolean  = "Boolean"
	TypeActor    = "Actor"
	TypeResource = "Resource"
)

// typeInfo describes one type known to a policy.
type typeInfo struct {
	name     string
	index    int
	kind     BlockKind // for declared types
	builtin  bool
	abstract bool
	supers   []string // direct supertypes
	block    *Block   // nil for built-ins
	file     string   // file of the block
}

// typeEnv is the type lattice of a policy: every type, and the reflexive
// transitive subtype relation as a dense matrix.
type typeEnv struct {
	types  []*typeInfo
	byName map[string]*typeInfo
	sub    []bool // sub[a*n+b] == a <: b
}

func newTypeEnv() *typeEnv {
	e := &typeEnv{byName: map[string]*typeInfo{}}
	for _, n := range []string{TypeString, TypeInteger, TypeBoolean, TypeResource, TypeActor} {
		e.add(&typeInfo{name: n, builtin: true, abstract: n == TypeActor || n == TypeResource})
	}
	e.byName[TypeActor].supers = []string{TypeResource}
	return e
}

func (e *typeEnv) add(t *typeInfo) {
	t.index = len(e.types)
	e.types = append(e.types, t)
	e.byName[t.name] = t
}

func (e *typeEnv) lookup(name string) (*typeInfo, bool) {
	t, ok := e.byName[name]
	return t, ok
}

func (e *typeEnv) index(name string) int {
	if t, ok := e.byName[name]; ok {
		return t.index
	}
	return -1
}

// close computes the subtype matrix. It assumes extends cycles were rejected.
func (e *typeEnv) close() {
	n := len(e.types)
	e.sub = make([]bool, n*n)
	var visit func(from, at int, seen []bool)
	visit = func(from, at int, seen []bool) {
		if seen[at] {
			return
		}
		seen[at] = true
		e.sub[from*n+at] = true
		for _, s := range e.types[at].supers {
			if t, ok := e.byName[s]; ok {
				visit(from, t.index, seen)
			}
		}
	}
	for i := range e.types {
		visit(i, i, make([]bool, n))
	}
}

// subtype reports a <: b for type indexes. A negative index is an unknown
// type, a subtype of nothing.
func (e *typeEnv) subtype(a, b int) bool {
	if a < 0 || b < 0 {
		return false
	}
	return e.sub[a*len(e.types)+b]
}

func (e *typeEnv) subtypeName(a, b string) bool {
	return e.subtype(e.index(a), e.index(b))
}

// meet returns the more specific of two types, or "" and false when neither
// is a subtype of the other. An empty name means "any type".
func (e *typeEnv) meet(a, b string) (string, bool) {
	switch {
	case a == "":
		return b, true
	case b == "":
		return a, true
	case e.subtypeName(a, b):
		return a, true
	case e.subtypeName(b, a):
		return b, true
	}
	return "", false
}

// related reports whether values of a could be values of b or vice versa.
func (e *typeEnv) related(a, b string) bool {
	_, ok := e.meet(a, b)
	return ok
}

// declKind says how a name is declared in a block.
type declKind int

const (
	kindNone declKind = iota
	kindPerm
	kindRole
	kindRel
)

func (k declKind) String() string {
	return [...]string{"undeclared", "permission", "role", "relation"}[k]
}

// blockDecls holds the declarations of one block, and the names visible in
// it (its own plus those inherited from supertypes' blocks).
type blockDecls struct {
	block       *Block
	name        string // "" for global
	roles       []string
	permissions []string
	relations   []RelationEntry
	own         map[string]declKind
	relTarget   map[string]string
	visible     map[string]declKind
	visRel      map[string]string
}

func (b *blockDecls) kind(name string) (declKind, string) {
	k := b.visible[name]
	return k, b.visRel[name]
}

// ResourceMetadata is what /api/policy_metadata reports for one type.
type ResourceMetadata struct {
	Roles       []string          `json:"roles"`
	Permissions []string          `json:"permissions"`
	Relations   map[string]string `json:"relations"`
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
