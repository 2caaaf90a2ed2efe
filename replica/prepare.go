package replica

import (
	"fmt"
	"slices"
)

// prepared is an event validated and canonicalised outside the lock.
type prepared struct {
	seq      uint64
	kind     string
	inserts  []prepFact
	deletes  []prepPattern
	policy   PolicySource
	compiled any
	tokens   []Token
	// setPolicy is true for a batch event that also replaces the policy.
	setPolicy bool
}

type prepFact struct {
	pred string
	args []Value // canonical
	hash FactSum
}

type prepPattern struct {
	pred string
	args []prepArg
	hash FactSum // HashFact of the pattern when every argument is exact
}

type prepArg struct {
	typ, id        string // id canonical
	hasType, hasID bool
}

// prepare validates ev and does all the work that needs no lock.
func (s *State) prepare(ev Event) (*prepared, error) {
	p := &prepared{seq: ev.Seq, kind: ev.Kind}
	other := func(what string) error {
		return poisonf(ev.Seq, "%s event carries %s", ev.Kind, what)
	}
	hasInserts, hasDeletes := len(ev.Inserts) > 0, len(ev.Deletes) > 0
	hasPolicy, hasTokens := ev.Policy != nil, len(ev.Tokens) > 0
	switch ev.Kind {
	case KindBatch:
		if hasTokens {
			return nil, other("tokens")
		}
		if hasPolicy {
			// A batch may replace the policy together with its facts, in
			// one step (the oso-api source's refresh; docs/decisions.md).
			if err := s.preparePolicy(p, ev); err != nil {
				return nil, err
			}
			p.setPolicy = true
		}
		p.inserts = make([]prepFact, len(ev.Inserts))
		// One allocation holds every insert's canonical arguments.
		n := 0
		for _, f := range ev.Inserts {
			n += len(f.Args)
		}
		vals := make([]Value, n)
		var ph predHasher
		for i, f := range ev.Inserts {
			k := len(f.Args)
			pf, err := prepareFact(f, vals[:k:k], &ph)
			if err != nil {
				return nil, poisonf(ev.Seq, "insert %d: %v", i, err)
			}
			vals = vals[k:]
			p.inserts[i] = pf
		}
		p.deletes = make([]prepPattern, len(ev.Deletes))
		for i, d := range ev.Deletes {
			pp, err := preparePattern(d)
			if err != nil {
				return nil, poisonf(ev.Seq, "delete %d: %v", i, err)
			}
			p.deletes[i] = pp
		}
	case KindPolicy:
		switch {
		case !hasPolicy:
			return nil, poisonf(ev.Seq, "policy event has no policy")
		case hasInserts || hasDeletes:
			return nil, other("facts")
		case hasTokens:
			return nil, other("tokens")
		}
		if err := s.preparePolicy(p, ev); err != nil {
			return nil, err
		}
	case KindClear:
		switch {
		case hasPolicy:
			return nil, other("a policy")
		case hasInserts || hasDeletes:
			return nil, other("facts")
		case hasTokens:
			return nil, other("tokens")
		}
	case KindTokens:
		switch {
		case hasPolicy:
			return nil, other("a policy")
		case hasInserts || hasDeletes:
			return nil, other("facts")
		}
		if err := ValidateTokens(ev.Tokens); err != nil {
			return nil, poisonf(ev.Seq, "%v", err)
		}
		p.tokens = slices.Clone(ev.Tokens)
	default:
		return nil, poisonf(ev.Seq, "unknown event kind %q", ev.Kind)
	}
	return p, nil
}

// preparePolicy compiles ev's policy into p.
func (s *State) preparePolicy(p *prepared, ev Event) error {
	p.policy = *ev.Policy
	if s.cfg.Compiler != nil {
		c, err := s.cfg.Compiler(p.policy)
		if err != nil {
			return fmt.Errorf("apply event %d: %w: compile policy %s: %w", ev.Seq, ErrPoison, p.policy.Filename, err)
		}
		p.compiled = c
	}
	return nil
}

// prepareFact validates f and returns it with canonical arguments, stored
// in args (len(f.Args) long), and its hash.
func prepareFact(f Fact, args []Value, ph *predHasher) (prepFact, error) {
	if f.Predicate == "" {
		return prepFact{}, fmt.Errorf("fact has an empty predicate")
	}
	if len(f.Args) == 0 {
		return prepFact{}, fmt.Errorf("fact %s has no arguments", f.Predicate)
	}
	pf := prepFact{pred: f.Predicate, args: args}
	for i, a := range f.Args {
		v, err := Canonical(a)
		if err != nil {
			return prepFact{}, fmt.Errorf("%s argument %d: %v", f.Predicate, i, err)
		}
		pf.args[i] = v
	}
	h := ph.state(pf.pred, len(pf.args))
	for _, a := range pf.args {
		h.writeStr(a.Type)
		h.writeStr(a.ID)
	}
	pf.hash = FactSum{h.hi, h.lo} // = HashFact(Fact{pf.pred, pf.args})
	return pf, nil
}

// predHasher remembers the FNV state after the last predicate and arity it
// was asked for: the facts of an event mostly come in runs of one relation.
type predHasher struct {
	pred  string
	arity int
	h     fnv128
}

// state returns predicateHash(pred, arity).
func (c *predHasher) state(pred string, arity int) fnv128 {
	if c.arity != arity || c.pred != pred || c.arity == 0 {
		c.pred, c.arity, c.h = pred, arity, predicateHash(pred, arity)
	}
	return c.h
}

func preparePattern(p Pattern) (prepPattern, error) {
	if err := p.Validate(); err != nil {
		return prepPattern{}, err
	}
	pp := prepPattern{pred: p.Predicate, args: make([]prepArg, len(p.Args))}
	exact := true
	vals := make([]Value, len(p.Args))
	for i, a := range p.Args {
		switch {
		case a.Type == nil:
			exact = false
		case a.ID == nil:
			exact = false
			pp.args[i] = prepArg{typ: *a.Type, hasType: true}
		default:
			v, _ := Canonical(Value{Type: *a.Type, ID: *a.ID}) // checked by Validate
			pp.args[i] = prepArg{typ: v.Type, id: v.ID, hasType: true, hasID: true}
			vals[i] = v
		}
	}
	if exact {
		pp.hash = HashFact(Fact{Predicate: p.Predicate, Args: vals})
	}
	return pp, nil
}

// Validate checks a delete pattern: a non-empty predicate, at least one
// argument, no argument with an id but no type, no empty type, and exact
// arguments that are valid values (see Canonical).
func (p Pattern) Validate() error {
	if p.Predicate == "" {
		return fmt.Errorf("pattern has an empty predicate")
	}
	if len(p.Args) == 0 {
		return fmt.Errorf("pattern %s has no arguments", p.Predicate)
	}
	for i, a := range p.Args {
		switch {
		case a.Type == nil && a.ID != nil:
			return fmt.Errorf("%s argument %d has an id but no type", p.Predicate, i)
		case a.Type == nil:
		case *a.Type == "":
			return fmt.Errorf("%s argument %d has an empty type", p.Predicate, i)
		case a.ID != nil:
			if _, err := Canonical(Value{Type: *a.Type, ID: *a.ID}); err != nil {
				return fmt.Errorf("%s argument %d: %v", p.Predicate, i, err)
			}
		}
	}
	return nil
}

// ValidateTokens checks a token set: each token has an id, a SHA-256 in
// lower-case hex, and access "read" or "write".
func ValidateTokens(tokens []Token) error {
	for i, t := range tokens {
		if t.ID == "" {
			return fmt.Errorf("token %d has an empty id", i)
		}
		if !isSHA256Hex(t.SHA256) {
			return fmt.Errorf("token %s: sha256 %q is not 64 lower-case hex digits", t.ID, t.SHA256)
		}
		if t.Access != "read" && t.Access != "write" {
			return fmt.Errorf("token %s: access %q is not read or write", t.ID, t.Access)
		}
	}
	return nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
