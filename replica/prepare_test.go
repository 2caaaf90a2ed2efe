package replica

import (
	"strings"
	"testing"
)

// TestPrepareHashes checks the fact hashes prepare computes (with its
// predicate cache and one-byte length fast path) against HashFact, over
// runs and switches of predicate and arity, long names and ids, and
// Integer ids that canonicalisation rewrites.
func TestPrepareHashes(t *testing.T) {
	long := strings.Repeat("p", 200)
	ev := Event{Seq: 1, Kind: KindBatch, Inserts: []Fact{
		fact("a", v("User", "1")),
		fact("a", v("User", "2")),
		fact("a", v("User", "1"), v("Integer", "+007")),
		fact("b", v("User", "1")),
		fact("a", v("User", "3")),
		fact(long, v(strings.Repeat("T", 130), strings.Repeat("é", 150))),
		fact(long, v("T", "x"), v("Boolean", "true")),
		fact("a", v("Integer", "-0")),
	}}
	s := New(Config{})
	p, err := s.prepare(ev)
	if err != nil {
		t.Fatal(err)
	}
	for i, pf := range p.inserts {
		want := HashFact(Fact{Predicate: pf.pred, Args: pf.args})
		if pf.hash != want {
			t.Errorf("insert %d: hash %v, HashFact %v", i, pf.hash, want)
		}
		if i == 2 && pf.args[1].ID != "7" {
			t.Errorf("insert 2 not canonical: %v", pf.args)
		}
	}
	if err := s.Apply(ev); err != nil {
		t.Fatal(err)
	}
	checkState(t, s)
}
