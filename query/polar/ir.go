package polar

import (
	"strconv"
	"strings"
)

// The intermediate representation: rules after desugaring, with bodies in
// disjunctive normal form (one irRule per disjunct) and variables numbered.

// Value is a typed value. A Value with an empty ID is a typed wildcard ("any
// value of Type"); the zero Value is an untyped wildcard. Concrete values
// always have a non-empty ID.
type Value struct {
	Type string
	ID   string
}

func (v Value) String() string {
	switch {
	case v.Type == "" && v.ID == "":
		return "_"
	case v.ID == "":
		return v.Type + ":_"
	}
	return v.Type + ":" + v.ID
}

// IsWildcard reports whether v stands for any value (of its type).
func (v Value) IsWildcard() bool { return v.ID == "" }

// Fact is a ground atom, as used for context facts and test setups.
type Fact struct {
	Predicate string
	Args      []Value
}

type termKind uint8

const (
	tVar   termKind = iota // a variable (wildcards become fresh variables)
	tConst                 // a constant value
	tTime                  // @current_unix_time
)

type irTerm struct {
	kind termKind
	v    int   // variable index for tVar
	val  Value // constant for tConst
	lit  int   // index into Policy.literals for tConst, set by the compiler
}

type litKind uint8

const (
	lCall litKind = iota
	lMatches
	lEq
	lNe
	lCmp
	lIn
	lNot
)

type irLit struct {
	kind litKind
	pos  Pos
	pred string   // lCall
	args []irTerm // lCall
	op   CompareOp
	a, b irTerm   // lEq, lNe, lCmp; a for lMatches and lIn
	typ  string   // lMatches
	list []irTerm // lIn: constants
	sub  []irLit  // lNot: a conjunction
}

type irParam struct {
	term irTerm
	typ  string // specializer, "" when none
}

type irVar struct {
	name string // "_" for wildcards, "" for generated variables
	typ  string // static type after inference, "" when unknown
}

type irRule struct {
	pred   string
	params []irParam
	body   []irLit
	vars   []irVar
	pos    Pos
	file   string
	origin string // what the rule came from, for messages
}

func (r *irRule) key() string { return predKey(r.pred, len(r.params)) }

func predKey(name string, arity int) string { return name + "/" + strconv.Itoa(arity) }

// String renders a rule in Polar syntax, for messages and debugging.
func (r *irRule) String() string {
	var b strings.Builder
	b.WriteString(r.pred)
	b.WriteByte('(')
	for i, p := range r.params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.termString(p.term))
		if p.typ != "" {
			b.WriteString(": ")
			b.WriteString(p.typ)
		}
	}
	b.WriteByte(')')
	if len(r.body) > 0 {
		b.WriteString(" if ")
		r.writeBody(&b, r.body)
	}
	b.WriteByte(';')
	return b.String()
}

func (r *irRule) writeBody(b *strings.Builder, body []irLit) {
	for i, l := range body {
		if i > 0 {
			b.WriteString(" and ")
		}
		switch l.kind {
		case lCall:
			b.WriteString(l.pred)
			b.WriteByte('(')
			for j, a := range l.args {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(r.termString(a))
			}
			b.WriteByte(')')
		case lMatches:
			b.WriteString(r.termString(l.a) + " matches " + l.typ)
		case lEq:
			b.WriteString(r.termString(l.a) + " = " + r.termString(l.b))
		case lNe:
			b.WriteString(r.termString(l.a) + " != " + r.termString(l.b))
		case lCmp:
			b.WriteString(r.termString(l.a) + " " + l.op.String() + " " + r.termString(l.b))
		case lIn:
			b.WriteString(r.termString(l.a) + " in [")
			for j, e := range l.list {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(r.termString(e))
			}
			b.WriteByte(']')
		case lNot:
			b.WriteString("not (")
			r.writeBody(b, l.sub)
			b.WriteByte(')')
		}
	}
}

func (r *irRule) termString(t irTerm) string {
	switch t.kind {
	case tVar:
		v := r.vars[t.v]
		if v.name == "" || v.name == "_" {
			return "_" + strconv.Itoa(t.v)
		}
		return v.name
	case tTime:
		return "@current_unix_time"
	}
	return literalString(t.val)
}

func literalString(v Value) string {
	switch v.Type {
	case TypeString:
		return strconv.Quote(v.ID)
	case TypeInteger, TypeBoolean:
		return v.ID
	}
	return v.Type + "{" + strconv.Quote(v.ID) + "}"
}
