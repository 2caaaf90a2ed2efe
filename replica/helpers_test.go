package replica

import (
	"fmt"
	"slices"
	"testing"
)

func v(typ, id string) Value { return Value{Type: typ, ID: id} }

func fact(pred string, args ...Value) Fact { return Fact{Predicate: pred, Args: args} }

func pat(pred string, args ...PatternArg) Pattern { return Pattern{Predicate: pred, Args: args} }

func batch(seq uint64, inserts []Fact, deletes ...Pattern) Event {
	return Event{Env: "test", Seq: seq, Kind: KindBatch, Inserts: inserts, Deletes: deletes}
}

func newTestState(tb testing.TB) *State {
	tb.Helper()
	return New(Config{Env: "test"})
}

func mustApply(tb testing.TB, s *State, evs ...Event) {
	tb.Helper()
	for _, ev := range evs {
		if err := s.Apply(ev); err != nil {
			tb.Fatalf("apply %d: %v", ev.Seq, err)
		}
	}
}

// factStrings returns the stored facts as sorted strings.
func factStrings(tb testing.TB, s *State) []string {
	tb.Helper()
	view := s.Acquire()
	defer view.Release()
	var out []string
	view.Facts(Pattern{}, func(f Fact) bool {
		out = append(out, f.String())
		return true
	})
	slices.Sort(out)
	if len(out) != view.FactCount() {
		tb.Fatalf("Facts returned %d facts, FactCount says %d", len(out), view.FactCount())
	}
	checkState(tb, s)
	return out
}

func digestOf(tb testing.TB, s *State) string {
	tb.Helper()
	view := s.Acquire()
	defer view.Release()
	return view.Digest()
}

// checkState verifies the internal invariants of every relation and the
// digest sum against a recomputation.
func checkState(tb testing.TB, s *State) {
	tb.Helper()
	s.gate.rlock()
	defer s.gate.runlock()
	var sum FactSum
	facts := 0
	for _, r := range s.st.rels {
		if err := r.check(); err != nil {
			tb.Fatalf("relation %s/%d: %v", r.name, r.arity, err)
		}
		for row := range r.rows() {
			sum = sum.Add(s.st.hashTuple(r, r.tuple(uint32(row))))
		}
		facts += r.rows()
	}
	if sum != s.st.sum || facts != s.st.facts {
		tb.Fatalf("digest sum %v/%d, recomputed %v/%d", s.st.sum, s.st.facts, sum, facts)
	}
}

// check verifies a relation's dedupe table and indexes.
func (r *relation) check() error {
	a := r.arity
	n := r.rows()
	if len(r.data)%a != 0 || len(r.where) != a {
		return fmt.Errorf("data %d, where %d", len(r.data), len(r.where))
	}
	for p, w := range r.where {
		if w != nil && len(w) != n {
			return fmt.Errorf("where[%d] has %d rows of %d", p, len(w), n)
		}
	}
	if r.dused != n {
		return fmt.Errorf("dedupe holds %d, rows %d", r.dused, n)
	}
	seen := make([]bool, n)
	for _, e := range r.dedupe {
		if e == 0 {
			continue
		}
		if entryRow(e) >= n || seen[entryRow(e)] {
			return fmt.Errorf("dedupe entry %d bad or repeated", e)
		}
		seen[entryRow(e)] = true
	}
	for row := range n {
		if got, _ := r.findRow(r.tuple(uint32(row))); got != row {
			return fmt.Errorf("row %d found at %d", row, got)
		}
	}
	for p := range a {
		x := &r.idx[p]
		total, used := 0, 0
		for _, sl := range x.slots {
			if sl.sym == 0 {
				continue
			}
			used++
			if x.n(sl) == 0 {
				return fmt.Errorf("pos %d sym %d: empty list", p, sl.sym)
			}
			if x.find(sl.sym) < 0 {
				return fmt.Errorf("pos %d sym %d: not findable", p, sl.sym)
			}
			var one [1]uint32
			for i, row := range x.list(sl, &one) {
				if int(row) >= n || r.data[int(row)*a+p] != sl.sym || r.at(p, row) != uint32(i) {
					return fmt.Errorf("pos %d sym %d: entry %d row %d inconsistent", p, sl.sym, i, row)
				}
			}
			total += int(x.n(sl))
			if r.where[p] == nil && x.n(sl) > whereMin {
				return fmt.Errorf("pos %d sym %d: list of %d untracked", p, sl.sym, x.n(sl))
			}
		}
		if total != n || used != x.used {
			return fmt.Errorf("pos %d: lists hold %d rows of %d, %d slots used of %d", p, total, n, used, x.used)
		}
	}
	return nil
}
