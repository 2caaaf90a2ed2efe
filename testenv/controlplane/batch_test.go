package controlplane

import (
	"slices"
	"testing"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

func compiledTestPolicy(t *testing.T) *polar.Policy {
	t.Helper()
	c, err := query.Compile(replica.PolicySource{Src: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*polar.Policy)
}

func toWire(g Group) rawGroup {
	var r rawGroup
	if g.Inserts != nil {
		r.insert = true
		for _, f := range g.Inserts {
			w := wireFact{Predicate: f.Predicate}
			for _, a := range f.Args {
				w.Args = append(w.Args, wireArg{Type: &a.Type, ID: &a.ID})
			}
			r.facts = append(r.facts, w)
		}
		return r
	}
	for _, p := range g.Deletes {
		w := wireFact{Predicate: p.Predicate}
		for _, a := range p.Args {
			w.Args = append(w.Args, wireArg{Type: a.Type, ID: a.ID})
		}
		r.facts = append(r.facts, w)
	}
	return r
}

// applySequentially applies the groups one at a time, each as its own
// event: the reference semantics of an Oso batch.
func applySequentially(t *testing.T, base []replica.Fact, groups []Group) string {
	t.Helper()
	st := replica.New(replica.Config{})
	seq := uint64(1)
	if err := st.Apply(replica.Event{Seq: seq, Kind: replica.KindBatch, Inserts: base}); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		seq++
		ev := replica.Event{Seq: seq, Kind: replica.KindBatch, Inserts: g.Inserts, Deletes: g.Deletes}
		if err := st.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	return factSet(st)
}

func applyNormalized(t *testing.T, base []replica.Fact, groups []Group) string {
	t.Helper()
	var raw []rawGroup
	for _, g := range groups {
		raw = append(raw, toWire(g))
	}
	ev, err := normalizeBatch(raw, compiledTestPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	st := replica.New(replica.Config{})
	if err := st.Apply(replica.Event{Seq: 1, Kind: replica.KindBatch, Inserts: base}); err != nil {
		t.Fatal(err)
	}
	if ev != nil {
		ev.Seq = 2
		if err := st.Apply(*ev); err != nil {
			t.Fatal(err)
		}
	}
	return factSet(st)
}

func factSet(st *replica.State) string {
	v := st.Acquire()
	defer v.Release()
	var out []string
	v.Facts(replica.Pattern{}, func(f replica.Fact) bool { out = append(out, f.String()); return true })
	slices.Sort(out)
	return stringsJoin(out)
}

func stringsJoin(s []string) string {
	out := ""
	for _, x := range s {
		out += x + ";"
	}
	return out
}

// TestNormalizeBatch checks that the single normalised event (deletes
// first, then inserts) has the same effect as applying the groups in order.
func TestNormalizeBatch(t *testing.T) {
	ana, bob, cy := role("ana", "member", "acme"), role("bob", "admin", "acme"), role("cy", "member", "other")
	user, org := "User", "Organization"
	anyAcme := replica.Pattern{Predicate: "has_role", Args: []replica.PatternArg{{Type: &user}, replica.Any(), replica.Exact(v(org, "acme"))}}
	cases := []struct {
		name   string
		base   []replica.Fact
		groups []Group
		want   string
	}{
		{"insert then delete same fact", nil, []Group{Inserts(ana), Deletes(exact(ana))}, ""},
		{"delete then insert same fact", []replica.Fact{ana}, []Group{Deletes(exact(ana)), Inserts(ana)}, ana.String() + ";"},
		{"insert, wildcard delete, insert", nil, []Group{Inserts(ana, bob, cy), Deletes(anyAcme), Inserts(bob)}, bob.String() + ";" + cy.String() + ";"},
		{"wildcard delete hits stored and pending", []replica.Fact{ana}, []Group{Inserts(bob), Deletes(anyAcme)}, ""},
		{"duplicate inserts", nil, []Group{Inserts(ana, ana), Inserts(ana)}, ana.String() + ";"},
		{"delete, insert, delete", []replica.Fact{ana}, []Group{Deletes(exact(ana)), Inserts(ana), Deletes(exact(ana))}, ""},
		{"delete of missing fact", []replica.Fact{cy}, []Group{Deletes(exact(ana))}, cy.String() + ";"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seqRes := applySequentially(t, tc.base, tc.groups)
			normRes := applyNormalized(t, tc.base, tc.groups)
			if seqRes != tc.want {
				t.Fatalf("sequential reference = %q, want %q (test is wrong)", seqRes, tc.want)
			}
			if normRes != seqRes {
				t.Fatalf("normalised = %q, sequential = %q", normRes, seqRes)
			}
		})
	}
}

// TestBatchInOrderOverHTTP checks the same semantics end to end, and that
// one batch is one event.
func TestBatchInOrderOverHTTP(t *testing.T) {
	cp := startWithPolicy(t, Config{})
	ana, bob := role("ana", "member", "acme"), role("bob", "member", "acme")
	seq0 := must(t).Seq(cp.Client.Insert(bob))
	seq := must(t).Seq(cp.Client.Batch(Inserts(ana), Deletes(exact(ana)), Deletes(exact(bob)), Inserts(bob)))
	if seq != seq0+1 {
		t.Fatalf("batch seq %d, want %d (one event)", seq, seq0+1)
	}
	if got := storedFacts(t, cp, "has_role"); len(got) != 1 || got[0] != bob.String() {
		t.Fatalf("after batch: %v, want only %s", got, bob)
	}
	evs, err := cp.Server().elog.read(seq, 1)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := replica.DecodeEvent(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Deletes) != 2 || len(ev.Inserts) != 1 || ev.Inserts[0].String() != bob.String() {
		t.Fatalf("event %+v", ev)
	}
}
