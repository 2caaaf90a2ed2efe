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
	var done atomic.Bool
	var wg sync.WaitGroup
	var views atomic.Int64
	errs := make(chan error, 4)
	for range 3 {
		wg.Go(func() {
			for !done.Load() {
				if err := checkView(s, n); err != nil {
					errs <- err
					return
				}
				views.Add(1)
			}
		})
	}
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
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := checkView(s, n); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d views checked", views.Load())
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
