package osoapi

import (
	"github.com/outpost-authz/outpost/replica"
)

// Change is the difference between the served state and a fetched one.
type Change struct {
	Policy  *replica.PolicySource // the new policy, nil when unchanged
	Deletes []replica.Pattern     // exact facts, or every fact of a relation that became empty
	Inserts []replica.Fact
}

// Empty reports whether nothing changed.
func (c Change) Empty() bool { return c.Policy == nil && len(c.Deletes) == 0 && len(c.Inserts) == 0 }

// ContentDigest is the state digest without the token set: what a node on
// the oso-api source shares with its upstream (Oso's API does not expose
// API keys, so the token part can never match).
func ContentDigest(v *replica.View) string {
	src, _ := v.Policy()
	return replica.ComputeDigest(src, nil, v.FactSum(), uint64(v.FactCount()))
}

// Diff computes what turns the state old into the state cur (policy and
// facts; tokens are left alone). It holds a view of each while it runs.
func Diff(old, cur *replica.State) Change {
	ov := old.Acquire()
	defer ov.Release()
	nv := cur.Acquire()
	defer nv.Release()
	var c Change
	osrc, _ := ov.Policy()
	nsrc, _ := nv.Policy()
	if osrc != nsrc {
		p := nsrc
		c.Policy = &p
	}
	if ov.FactCount() == nv.FactCount() && ov.FactSum() == nv.FactSum() {
		return c // the same facts (the sum of 128-bit fact hashes agrees)
	}
	// Deletes: facts of old that cur does not have.
	for _, r := range ov.Relations() {
		if r.Len == 0 {
			continue
		}
		nid, ok := nv.RelationID(r.Name, r.Arity)
		if !ok || nv.Count(nid, make([]uint32, r.Arity)) == 0 {
			args := make([]replica.PatternArg, r.Arity)
			c.Deletes = append(c.Deletes, replica.Pattern{Predicate: r.Name, Args: args})
			continue
		}
		missing(ov, nv, r, nid, func(f replica.Fact) {
			args := make([]replica.PatternArg, len(f.Args))
			for i, a := range f.Args {
				args[i] = replica.Exact(a)
			}
			c.Deletes = append(c.Deletes, replica.Pattern{Predicate: f.Predicate, Args: args})
		})
	}
	// Inserts: facts of cur that old does not have.
	for _, r := range nv.Relations() {
		if r.Len == 0 {
			continue
		}
		oid, ok := ov.RelationID(r.Name, r.Arity)
		if !ok {
			oid = -1
		}
		missing(nv, ov, r, oid, func(f replica.Fact) { c.Inserts = append(c.Inserts, f) })
	}
	return c
}

// missing calls fn with every fact of relation r of from that relation
// toRel of to lacks (toRel -1: to has no such relation).
func missing(from, to *replica.View, r replica.RelationInfo, toRel int, fn func(replica.Fact)) {
	pattern := make([]uint32, r.Arity)
	from.ForEachTuple(r.ID, func(t []uint32) bool {
		found := toRel >= 0
		for i, s := range t {
			if !found {
				break
			}
			typ, id := from.Value(s)
			if pattern[i] = to.Lookup(typ, id); pattern[i] == 0 {
				found = false
			}
		}
		if found {
			found = false
			to.Scan(toRel, pattern, func([]uint32) bool { found = true; return false })
		}
		if !found {
			f := replica.Fact{Predicate: r.Name, Args: make([]replica.Value, len(t))}
			for i, s := range t {
				typ, id := from.Value(s)
				f.Args[i] = replica.Value{Type: typ, ID: id}
			}
			fn(f)
		}
		return true
	})
}
