package replica

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// benchFact returns the i-th fact of a synthetic has_role data set: 5 roles
// per user, users = n/5, 100k repos, 3 role names; no duplicates.
func benchFact(i int) (user, role, repo string) {
	u, k := i/5, i%5
	r := (u*13 + k*20011) % 100000
	return "user-" + strconv.Itoa(u), [3]string{"admin", "maintainer", "member"}[i%3], "repo-" + strconv.Itoa(r)
}

type benchData struct {
	types, ids []string // values in first-seen order
	facts      []uint32 // 3 value indexes (1-based) per fact
}

func makeBenchData(n int) *benchData {
	d := &benchData{types: []string{""}, ids: []string{""}}
	seen := map[string]uint32{}
	val := func(typ, id string) uint32 {
		k := typ + ":" + id
		if s, ok := seen[k]; ok {
			return s
		}
		d.types, d.ids = append(d.types, typ), append(d.ids, id)
		seen[k] = uint32(len(d.ids) - 1)
		return seen[k]
	}
	d.facts = make([]uint32, 0, 3*n)
	for i := range n {
		u, r, repo := benchFact(i)
		d.facts = append(d.facts, val("User", u), val("String", r), val("Repo", repo))
	}
	return d
}

// BenchmarkLoad loads 1M 3-argument facts through the Loader, as a
// checkpoint reader does (values first, then tuples), and reports facts/s
// and the heap the loaded State holds per fact.
func BenchmarkLoad(b *testing.B) {
	const n = 1_000_000
	d := makeBenchData(n)
	var s *State
	for b.Loop() {
		s = nil
		l := NewLoader(Config{})
		l.ReserveValues(len(d.ids) - 1)
		l.Reserve("has_role", 3, n)
		for i := 1; i < len(d.ids); i++ {
			l.AddValue(d.types[i], d.ids[i])
		}
		for i := 0; i < len(d.facts); i += 3 {
			if err := l.AddFact("has_role", d.facts[i:i+3]); err != nil {
				b.Fatal(err)
			}
		}
		var err error
		if s, err = l.Finish(1); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "facts/s")
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	if s.Acquire().FactCount() != n {
		b.Fatal("wrong count")
	}
	s = nil
	runtime.GC()
	runtime.ReadMemStats(&without)
	b.ReportMetric(float64(with.HeapAlloc-without.HeapAlloc)/n, "heapB/fact")
}

// BenchmarkInsert applies batch events of 100 new facts to a growing state.
func BenchmarkInsert(b *testing.B) {
	s := New(Config{})
	seq := uint64(0)
	i := 0
	b.ResetTimer()
	for b.Loop() {
		ev := Event{Seq: seq + 1, Kind: KindBatch, Inserts: make([]Fact, 100)}
		for j := range ev.Inserts {
			u, r, repo := benchFact(i)
			i++
			ev.Inserts[j] = fact("has_role", v("User", u), v("String", r), v("Repo", repo))
		}
		if err := s.Apply(ev); err != nil {
			b.Fatal(err)
		}
		seq++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "facts/s")
}

func loadBench(b *testing.B, n int) *State {
	b.Helper()
	d := makeBenchData(n)
	l := NewLoader(Config{})
	for i := 1; i < len(d.ids); i++ {
		l.AddValue(d.types[i], d.ids[i])
	}
	for i := 0; i < len(d.facts); i += 3 {
		l.AddFact("has_role", d.facts[i:i+3])
	}
	s, err := l.Finish(1)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkScan scans 1M has_role facts with one bound position.
func BenchmarkScan(b *testing.B) {
	s := loadBench(b, 1_000_000)
	view := s.Acquire()
	defer view.Release()
	rel, _ := view.RelationID("has_role", 3)
	cases := []struct {
		name string
		pos  int
		val  func(i int) uint32
	}{
		{"user(5 rows)", 0, func(i int) uint32 { return view.Lookup("User", fmt.Sprint("user-", i%200000)) }},
		{"repo(10 rows)", 2, func(i int) uint32 { return view.Lookup("Repo", fmt.Sprint("repo-", i%100000)) }},
		{"user+role(<=2 rows)", -1, nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			const k = 4096
			patterns := make([][]uint32, k)
			for i := range patterns {
				p := make([]uint32, 3)
				if c.pos < 0 {
					p[0] = view.Lookup("User", fmt.Sprint("user-", (i*7919)%200000))
					p[1] = view.Lookup("String", "admin")
				} else {
					p[c.pos] = c.val(i * 7919)
				}
				patterns[i] = p
			}
			rows := 0
			i := 0
			for b.Loop() {
				view.Scan(rel, patterns[i%k], func([]uint32) bool { rows++; return true })
				i++
			}
			b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
		})
	}
	b.Run("lookup", func(b *testing.B) {
		ids := make([]string, 4096)
		for i := range ids {
			ids[i] = fmt.Sprint("user-", i*31%200000)
		}
		i := 0
		for b.Loop() {
			if view.Lookup("User", ids[i%len(ids)]) == 0 {
				b.Fatal("missing")
			}
			i++
		}
	})
}

// BenchmarkExport measures View.Export of 1M facts: the time a checkpoint
// writer holds the read lock.
func BenchmarkExport(b *testing.B) {
	s := loadBench(b, 1_000_000)
	view := s.Acquire()
	defer view.Release()
	for b.Loop() {
		if view.Export().FactCount() != 1_000_000 {
			b.Fatal("wrong count")
		}
	}
}

// BenchmarkReaderWaitDuringLargeEvent applies one insert-only event of
// 200k facts (12,500 pieces) while a goroutine takes and releases views in
// a loop, and reports how long the apply took, how many views the reader
// got meanwhile and its longest wait for one: whether readers still get
// in between the pieces of a large event.
func BenchmarkReaderWaitDuringLargeEvent(b *testing.B) {
	var ins []Fact
	for i := range 200_000 {
		ins = append(ins, fact("big", v("Item", fmt.Sprint(i))))
	}
	s := newTestState(b)
	stop := make(chan struct{})
	var views int
	var longest time.Duration
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			view := s.Acquire()
			longest = max(longest, time.Since(t0))
			view.Release()
			views++
		}
	})
	time.Sleep(10 * time.Millisecond) // the reader is running
	t0 := time.Now()
	if err := s.Apply(batch(1, ins)); err != nil {
		b.Fatal(err)
	}
	took := time.Since(t0)
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(took.Milliseconds()), "apply-ms")
	b.ReportMetric(float64(views), "views")
	b.ReportMetric(float64(longest.Microseconds()), "longest-wait-us")
}
