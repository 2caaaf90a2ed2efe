package replica

import (
	"fmt"
	"strconv"
	"strings"
)

// Value is a typed value: (User, "alice"), (String, "read"), (Integer, "42"),
// (Boolean, "true"). Two values are equal iff type and id are equal; Integer
// ids are kept in canonical decimal form so equal numbers have equal ids.
type Value struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

func (v Value) String() string { return v.Type + ":" + v.ID }

// MaxIDBytes is the longest id (in bytes of UTF-8) a stored value may have
// (Oso's limit on fact arguments).
const MaxIDBytes = 384

// MaxQuestionIDBytes is the longest id of a value a question asks about
// (an actor or resource of authorize, list, actions, a query's constants).
// Oso documents 384 bytes for fact arguments, not for questions, so a node
// does not refuse a longer id there: it can match no stored fact, but a
// rule that needs none (every user may read a public page) still applies.
const MaxQuestionIDBytes = 16 << 10

// Canonical checks a concrete value and returns it with a canonical id:
// Integer ids as base-10 int64 without leading zeros or plus sign, Boolean
// ids as true/false (in any case: .NET writes True and False). It rejects
// empty types and ids and ids over MaxIDBytes.
func Canonical(v Value) (Value, error) { return canonical(v, MaxIDBytes) }

// CanonicalQuestion is Canonical for a value asked about rather than
// stored: its id may have up to MaxQuestionIDBytes.
func CanonicalQuestion(v Value) (Value, error) { return canonical(v, MaxQuestionIDBytes) }

func canonical(v Value, maxID int) (Value, error) {
	if v.Type == "" {
		return v, fmt.Errorf("value has an empty type")
	}
	if v.ID == "" {
		return v, fmt.Errorf("value of type %s has an empty id", v.Type)
	}
	if len(v.ID) > maxID {
		return v, fmt.Errorf("id of %s value is %d bytes; the limit is %d", v.Type, len(v.ID), maxID)
	}
	switch v.Type {
	case "Integer":
		n, err := strconv.ParseInt(strings.TrimPrefix(v.ID, "+"), 10, 64)
		if err != nil {
			return v, fmt.Errorf("Integer id %q is not a base-10 signed 64-bit integer", v.ID)
		}
		v.ID = strconv.FormatInt(n, 10)
	case "Boolean":
		switch {
		case strings.EqualFold(v.ID, "true"):
			v.ID = "true"
		case strings.EqualFold(v.ID, "false"):
			v.ID = "false"
		default:
			return v, fmt.Errorf("Boolean id %q is not true or false", v.ID)
		}
	}
	return v, nil
}

// Fact is a ground atom: a predicate applied to concrete values.
type Fact struct {
	Predicate string  `json:"predicate"`
	Args      []Value `json:"args"`
}

func (f Fact) String() string {
	var b strings.Builder
	b.WriteString(f.Predicate)
	b.WriteByte('(')
	for i, a := range f.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.String())
	}
	b.WriteByte(')')
	return b.String()
}

// PatternArg is one argument of a fact pattern. A nil Type matches any value;
// a nil ID matches any value of Type. A nil Type with a non-nil ID is invalid.
type PatternArg struct {
	Type *string `json:"type"`
	ID   *string `json:"id"`
}

// Pattern is a fact pattern used by deletes and queries.
type Pattern struct {
	Predicate string       `json:"predicate"`
	Args      []PatternArg `json:"args"`
}

// Exact returns the pattern argument that matches exactly v.
func Exact(v Value) PatternArg { return PatternArg{Type: &v.Type, ID: &v.ID} }

// AnyOf returns the pattern argument that matches any value of type t.
func AnyOf(t string) PatternArg { return PatternArg{Type: &t} }

// Any returns the pattern argument that matches any value.
func Any() PatternArg { return PatternArg{} }
