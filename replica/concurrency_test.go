package replica

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentReadersSeeWholeEvents applies batch events while readers
// check every view: event k inserts n facts stamp(Integer k, Item i) and
// deletes event k-3's facts with a wildcard pattern, so at revision R exactly
// events max(1, R-2)..R are present, each completely.
func TestConcurrentReadersSeeWholeEvents(t *testing.T) {
	const (
		n      = 50
		events = 300
	)
	s := newTestState(t)
	views := readWhileWriting(t, func() error { return checkView(s, n) }, func() {
		for k := uint64(1); k <= events; k++ {
			var ins []Fact
			for i := range n {
				ins = append(ins, fact("stamp", v("Integer", strconv.FormatUint(k, 10)), v("Item", fmt.Sprint(i))))
			}
			var del []Pattern
			if k > 3 {
				del = append(del, pat("stamp", Exact(v("Integer", strconv.FormatUint(k-3, 10))), AnyOf("Item")))
			}
			if err := s.Apply(batch(k, ins, del...)); err != nil {
				t.Fatal(err)
			}
		}
	})
	if err := checkView(s, n); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d views checked", views)
}

func checkView(s *State, n int) error {
	view := s.Acquire()
	defer view.Release()
	rev := view.Revision()
	lo := uint64(1)
	if rev > 3 {
		lo = rev - 2
	}
	want := 0
	if rev > 0 {
		want = int(rev-lo+1) * n
	}
	if view.FactCount() != want {
		return fmt.Errorf("revision %d: %d facts, want %d", rev, view.FactCount(), want)
	}
	rel, ok := view.RelationID("stamp", 2)
	if !ok {
		if rev == 0 {
			return nil
		}
		return fmt.Errorf("revision %d: no stamp relation", rev)
	}
	for k := uint64(1); k <= rev+1; k++ {
		sym := view.Lookup("Integer", strconv.FormatUint(k, 10))
		got := 0
		if sym != 0 {
			view.Scan(rel, []uint32{sym, 0}, func([]uint32) bool { got++; return true })
		}
		present := k >= lo && k <= rev
		if (present && got != n) || (!present && got != 0) {
			return fmt.Errorf("revision %d: event %d has %d of %d facts visible", rev, k, got, n)
		}
	}
	return nil
}

// TestPiecesInvisibleUntilPublished stops between the pieces of large
// insert-only events and checks that a view taken there shows exactly the
// previous revision: no new facts, values, types or relations, and the same
// digest and export.
func TestPiecesInvisibleUntilPublished(t *testing.T) {
	const n = 5*16 + 3 // several pieces and a short last one
	s := newTestState(t)
	type seen struct {
		rev           uint64
		facts, values int
		rels          int
		digest        string
	}
	snapshot := func() seen {
		view := s.Acquire()
		defer view.Release()
		ex := view.Export()
		if ex.FactCount() != view.FactCount() || ex.ValueCount() != view.ValueCount() || len(ex.Relations()) != view.RelationCount() {
			t.Errorf("revision %d: export %d facts %d values %d relations, view %d %d %d", view.Revision(),
				ex.FactCount(), ex.ValueCount(), len(ex.Relations()), view.FactCount(), view.ValueCount(), view.RelationCount())
		}
		return seen{view.Revision(), view.FactCount(), view.ValueCount(), view.RelationCount(), view.Digest()}
	}
	var before seen
	var k uint64
	pauses := 0
	s.pieceHook = func() {
		pauses++
		if got := snapshot(); got != before {
			t.Errorf("between pieces of event %d: view shows %+v, want %+v", k, got, before)
		}
		view := s.Acquire()
		defer view.Release()
		if sym := view.Lookup("Integer", strconv.FormatUint(k, 10)); sym != 0 {
			t.Errorf("event %d: its stamp value is visible (symbol %d) before it is applied", k, sym)
		}
		if _, ok := view.RelationID(fmt.Sprintf("tail%d", k), 1); ok {
			t.Errorf("event %d: its new relation is visible before it is applied", k)
		}
		if ty := view.TypeNum(fmt.Sprintf("Type%d", k)); ty != 0 {
			t.Errorf("event %d: its new type is visible before it is applied", k)
		}
		rel, ok := view.RelationID("stamp", 2)
		if !ok {
			return
		}
		view.Scan(rel, []uint32{0, 0}, func(tup []uint32) bool {
			if typ, id := view.Value(tup[0]); typ != "Integer" || id == strconv.FormatUint(k, 10) {
				t.Errorf("event %d: scan shows a pending tuple (%s %s)", k, typ, id)
				return false
			}
			return true
		})
	}
	for k = 1; k <= 4; k++ {
		before = snapshot()
		var ins []Fact
		for i := range n {
			ins = append(ins, fact("stamp", v("Integer", strconv.FormatUint(k, 10)), v("Item", fmt.Sprint(k, "-", i))))
		}
		ins = append(ins, fact(fmt.Sprintf("tail%d", k), v(fmt.Sprintf("Type%d", k), "x")))
		mustApply(t, s, batch(k, ins))
		after := snapshot()
		if after.rev != k || after.facts != int(k)*(n+1) || after.rels != int(k)+1 {
			t.Fatalf("after event %d: %+v", k, after)
		}
	}
	if pauses < 4*5 {
		t.Fatalf("%d pauses between pieces, want at least 20 (events were not applied in pieces)", pauses)
	}
	checkState(t, s)
}

// TestConcurrentReadersSeeWholeInsertEvents is the torn-read test for
// events applied in pieces: event k inserts n > pieceFacts facts
// stamp(Integer k, Item i), and readers check that at revision R events
// 1..R are complete and event R+1 is absent.
func TestConcurrentReadersSeeWholeInsertEvents(t *testing.T) {
	const (
		n      = 100
		events = 200
	)
	s := newTestState(t)
	views := readWhileWriting(t, func() error { return checkInsertView(s, n) }, func() {
		for k := uint64(1); k <= events; k++ {
			var ins []Fact
			for i := range n {
				ins = append(ins, fact("stamp", v("Integer", strconv.FormatUint(k, 10)), v("Item", fmt.Sprint(i))))
			}
			if err := s.Apply(batch(k, ins)); err != nil {
				t.Fatal(err)
			}
		}
	})
	if err := checkInsertView(s, n); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d views checked", views)
}

func checkInsertView(s *State, n int) error {
	view := s.Acquire()
	defer view.Release()
	rev := view.Revision()
	if view.FactCount() != int(rev)*n {
		return fmt.Errorf("revision %d: %d facts, want %d", rev, view.FactCount(), int(rev)*n)
	}
	if want := int(rev) + n; rev > 0 && view.ValueCount() != want {
		return fmt.Errorf("revision %d: %d values, want %d", rev, view.ValueCount(), want)
	}
	rel, ok := view.RelationID("stamp", 2)
	if !ok {
		if rev == 0 {
			return nil
		}
		return fmt.Errorf("revision %d: no stamp relation", rev)
	}
	all := 0
	view.Scan(rel, []uint32{0, 0}, func([]uint32) bool { all++; return true })
	if all != int(rev)*n {
		return fmt.Errorf("revision %d: full scan sees %d facts, want %d", rev, all, int(rev)*n)
	}
	for _, k := range []uint64{1, rev / 2, rev, rev + 1} {
		sym := view.Lookup("Integer", strconv.FormatUint(k, 10))
		got := 0
		if sym != 0 {
			view.Scan(rel, []uint32{sym, 0}, func([]uint32) bool { got++; return true })
		}
		present := k >= 1 && k <= rev
		if (present && got != n) || (!present && (got != 0 || sym != 0)) {
			return fmt.Errorf("revision %d: event %d has %d of %d facts visible (symbol %d)", rev, k, got, n, sym)
		}
	}
	return nil
}

// readWhileWriting runs three readers calling check in a loop while write
// runs, fails the test with the first error a reader saw, and returns the
// number of views checked.
func readWhileWriting(t *testing.T, check func() error, write func()) int64 {
	t.Helper()
	var done atomic.Bool
	var wg sync.WaitGroup
	var views atomic.Int64
	errs := make(chan error, 4)
	for range 3 {
		wg.Go(func() {
			for !done.Load() {
				if err := check(); err != nil {
					errs <- err
					return
				}
				views.Add(1)
			}
		})
	}
	write()
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return views.Load()
}
