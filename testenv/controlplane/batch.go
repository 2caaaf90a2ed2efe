package controlplane

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// Group is one element of a POST /api/batch body: exactly one of Inserts
// (concrete facts) or Deletes (fact patterns, wildcards allowed).
type Group struct {
	Inserts []replica.Fact
	Deletes []replica.Pattern
}

// Inserts returns an insert group.
func Inserts(facts ...replica.Fact) Group { return Group{Inserts: facts} }

// Deletes returns a delete group.
func Deletes(patterns ...replica.Pattern) Group { return Group{Deletes: patterns} }

// MarshalJSON renders the group as {"inserts": [...]} or {"deletes": [...]}.
func (g Group) MarshalJSON() ([]byte, error) {
	if g.Deletes != nil && g.Inserts == nil {
		return json.Marshal(struct {
			Deletes []replica.Pattern `json:"deletes"`
		}{g.Deletes})
	}
	if g.Deletes != nil {
		return nil, errors.New("marshal batch group: both inserts and deletes are set")
	}
	ins := g.Inserts
	if ins == nil {
		ins = []replica.Fact{}
	}
	return json.Marshal(struct {
		Inserts []replica.Fact `json:"inserts"`
	}{ins})
}

// badRequest is a write the control plane rejects (400 {"message": ...});
// nothing changes.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error {
	return &badRequest{msg: fmt.Sprintf(format, args...)}
}

// errNoPolicy rejects fact inserts before the first policy: facts are
// validated against the policy, and an environment without one accepts no
// predicate (see the package's decisions). Deletes need no policy.
var errNoPolicy = &badRequest{msg: "this environment has no policy yet, so it accepts no facts (every fact is checked against the policy): set a policy with POST /api/policy first"}

// Wire forms of facts and patterns: pointers tell a JSON null or a missing
// key (a wildcard) from a value.
type wireArg struct {
	Type *string `json:"type"`
	ID   *string `json:"id"`
}

type wireFact struct {
	Predicate string    `json:"predicate"`
	Args      []wireArg `json:"args"`
}

// decodeJSON decodes a request body, rejecting trailing data.
func decodeJSON(body []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return badf("invalid JSON in %s: %v", what, err)
	}
	if dec.More() {
		return badf("invalid JSON in %s: data after the value", what)
	}
	return nil
}

// decodeGroups decodes a POST /api/batch body: an array whose elements each
// have exactly one of the keys "inserts" and "deletes" (other keys are
// ignored).
func decodeGroups(body []byte) ([]rawGroup, error) {
	var elems []map[string]json.RawMessage
	if err := decodeJSON(body, &elems, "batch body (want an array of {\"inserts\": [...]} or {\"deletes\": [...]})"); err != nil {
		return nil, err
	}
	groups := make([]rawGroup, len(elems))
	for i, e := range elems {
		ins, hasIns := e["inserts"]
		del, hasDel := e["deletes"]
		switch {
		case hasIns && hasDel:
			return nil, badf("batch element %d has both \"inserts\" and \"deletes\"; use one key per element", i)
		case !hasIns && !hasDel:
			return nil, badf("batch element %d has neither \"inserts\" nor \"deletes\"", i)
		case hasIns:
			if err := decodeJSON(ins, &groups[i].facts, fmt.Sprintf("batch element %d inserts", i)); err != nil {
				return nil, err
			}
			groups[i].insert = true
		default:
			if err := decodeJSON(del, &groups[i].facts, fmt.Sprintf("batch element %d deletes", i)); err != nil {
				return nil, err
			}
		}
	}
	return groups, nil
}

// rawGroup is a decoded but unvalidated change group.
type rawGroup struct {
	insert bool
	facts  []wireFact
}

// checkInsert validates a fact to insert against the policy and returns it
// with canonical values. where names it in messages ("insert 3").
func checkInsert(w wireFact, pol *polar.Policy, where string) (replica.Fact, error) {
	if w.Predicate == "" {
		return replica.Fact{}, badf("%s: the fact has no predicate", where)
	}
	if len(w.Args) == 0 {
		return replica.Fact{}, badf("%s: %s has no arguments", where, w.Predicate)
	}
	f := replica.Fact{Predicate: w.Predicate, Args: make([]replica.Value, len(w.Args))}
	pf := polar.Fact{Predicate: w.Predicate, Args: make([]polar.Value, len(w.Args))}
	for i, a := range w.Args {
		if a.Type == nil || a.ID == nil {
			return replica.Fact{}, badf("%s: %s argument %d is a wildcard (null type or id); inserted facts must be concrete", where, w.Predicate, i)
		}
		v, err := replica.Canonical(replica.Value{Type: *a.Type, ID: *a.ID})
		if err != nil {
			return replica.Fact{}, badf("%s: %s argument %d: %v", where, w.Predicate, i, err)
		}
		f.Args[i] = v
		pf.Args[i] = polar.Value{Type: v.Type, ID: v.ID}
	}
	if err := pol.CheckFact(pf); err != nil {
		return replica.Fact{}, badf("%s: %s: %v", where, f, err)
	}
	return f, nil
}

// checkDelete validates a delete pattern: a predicate, at least one
// argument, no argument with an id but no type, valid exact values. Deleting
// facts that do not exist is not an error, so the predicate and types are not
// checked against the policy (facts written under an earlier policy can still
// be deleted). Exact values are returned canonical.
func checkDelete(w wireFact, where string) (replica.Pattern, error) {
	p := replica.Pattern{Predicate: w.Predicate, Args: make([]replica.PatternArg, len(w.Args))}
	for i, a := range w.Args {
		p.Args[i] = replica.PatternArg{Type: a.Type, ID: a.ID}
	}
	if err := p.Validate(); err != nil {
		return replica.Pattern{}, badf("%s: %v", where, err)
	}
	for i, a := range p.Args {
		if a.Type != nil && a.ID != nil {
			v, _ := replica.Canonical(replica.Value{Type: *a.Type, ID: *a.ID}) // checked by Validate
			p.Args[i] = replica.Exact(v)
		}
	}
	return p, nil
}

// normalizeBatch validates change groups against the policy and turns them
// into the single batch event that has the same effect as applying the
// groups in order (DESIGN.md §3: a batch event runs its Deletes first, then
// its Inserts).
//
// The groups are processed in order with a set of pending inserts:
//   - an insert group adds its facts to the pending set (duplicates once);
//   - a delete group removes every pending insert that one of its patterns
//     matches, and records the patterns.
//
// The event's Deletes are all recorded patterns in order, its Inserts the
// pending set at the end, in first-insert order. This equals sequential
// application: a fact ends up stored iff it was inserted after the last
// delete that matches it, or it was stored before and no delete matches it.
// So insert-then-delete of a fact in one batch leaves it absent (the delete
// is recorded and the insert dropped), and delete-then-insert leaves it
// present (the delete runs first, then the insert).
//
// An empty result (no groups, or only empty groups) returns a nil event: a
// no-op that creates no event.
func normalizeBatch(groups []rawGroup, pol *polar.Policy) (*replica.Event, error) {
	var deletes []replica.Pattern
	var pending []replica.Fact
	live := map[string]int{} // fact key -> index in pending; -1 once removed
	total := 0
	for gi, g := range groups {
		for fi, w := range g.facts {
			total++
			if g.insert {
				if pol == nil {
					return nil, errNoPolicy
				}
				f, err := checkInsert(w, pol, fmt.Sprintf("batch element %d insert %d", gi, fi))
				if err != nil {
					return nil, err
				}
				k := factKey(f)
				if i, ok := live[k]; ok && i >= 0 {
					continue
				}
				live[k] = len(pending)
				pending = append(pending, f)
				continue
			}
			p, err := checkDelete(w, fmt.Sprintf("batch element %d delete %d", gi, fi))
			if err != nil {
				return nil, err
			}
			deletes = append(deletes, p)
			if exact, ok := exactFact(p); ok {
				k := factKey(exact)
				if i, ok := live[k]; ok && i >= 0 {
					live[k] = -1
					pending[i].Predicate = "" // tombstone
				}
				continue
			}
			for i := range pending {
				if pending[i].Predicate != "" && matches(p, pending[i]) {
					live[factKey(pending[i])] = -1
					pending[i].Predicate = ""
				}
			}
		}
	}
	if total == 0 {
		return nil, nil
	}
	ev := &replica.Event{Kind: replica.KindBatch, Deletes: deletes}
	for _, f := range pending {
		if f.Predicate != "" {
			ev.Inserts = append(ev.Inserts, f)
		}
	}
	return ev, nil
}

// factKey is an unambiguous map key for a canonical fact.
func factKey(f replica.Fact) string {
	var b strings.Builder
	b.WriteString(strconv.Quote(f.Predicate))
	for _, a := range f.Args {
		b.WriteString(strconv.Quote(a.Type))
		b.WriteString(strconv.Quote(a.ID))
	}
	return b.String()
}

// exactFact returns the fact a pattern without wildcards names.
func exactFact(p replica.Pattern) (replica.Fact, bool) {
	f := replica.Fact{Predicate: p.Predicate, Args: make([]replica.Value, len(p.Args))}
	for i, a := range p.Args {
		if a.Type == nil || a.ID == nil {
			return replica.Fact{}, false
		}
		f.Args[i] = replica.Value{Type: *a.Type, ID: *a.ID}
	}
	return f, true
}

// matches reports whether a (canonical) pattern matches a canonical fact.
func matches(p replica.Pattern, f replica.Fact) bool {
	if p.Predicate != f.Predicate || len(p.Args) != len(f.Args) {
		return false
	}
	for i, a := range p.Args {
		switch {
		case a.Type == nil:
		case *a.Type != f.Args[i].Type:
			return false
		case a.ID != nil && *a.ID != f.Args[i].ID:
			return false
		}
	}
	return true
}
