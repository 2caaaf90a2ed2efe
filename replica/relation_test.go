package replica

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestInsertDeleteIdempotent(t *testing.T) {
	f1 := fact("has_role", v("User", "ana"), v("String", "admin"), v("Org", "acme"))
	f2 := fact("has_role", v("User", "bob"), v("String", "admin"), v("Org", "acme"))
	del := func(f Fact) Pattern {
		p := Pattern{Predicate: f.Predicate}
		for _, a := range f.Args {
			p.Args = append(p.Args, Exact(a))
		}
		return p
	}
	tests := []struct {
		name   string
		events []Event
		want   []string
	}{
		{"insert twice in one batch", []Event{batch(1, []Fact{f1, f1})}, []string{f1.String()}},
		{"insert twice in two batches", []Event{batch(1, []Fact{f1}), batch(2, []Fact{f1, f2})}, []string{f1.String(), f2.String()}},
		{"delete absent", []Event{batch(1, []Fact{f1}), batch(2, nil, del(f2))}, []string{f1.String()}},
		{"delete twice", []Event{batch(1, []Fact{f1, f2}), batch(2, nil, del(f1), del(f1)), batch(3, nil, del(f1))}, []string{f2.String()}},
		{"delete then insert in one batch keeps the fact", []Event{batch(1, []Fact{f1}), batch(2, []Fact{f1}, del(f1))}, []string{f1.String()}},
		{"delete all then reinsert", []Event{batch(1, []Fact{f1, f2}), batch(2, nil, del(f1), del(f2)), batch(3, []Fact{f2})}, []string{f2.String()}},
		{"integer ids are canonical", []Event{
			batch(1, []Fact{fact("limit", v("Org", "acme"), v("Integer", "007"))}),
			batch(2, []Fact{fact("limit", v("Org", "acme"), v("Integer", "+7"))}),
		}, []string{"limit(Org:acme, Integer:7)"}},
		{"delete by non-canonical integer", []Event{
			batch(1, []Fact{fact("limit", v("Org", "acme"), v("Integer", "7"))}),
			batch(2, nil, pat("limit", Exact(v("Org", "acme")), Exact(v("Integer", "0007")))),
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestState(t)
			mustApply(t, s, tt.events...)
			if got := factStrings(t, s); !slices.Equal(got, tt.want) {
				t.Errorf("facts = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestScanProperty compares Scan and Count with every subset of bound
// positions against a brute-force filter, on random data with random
// inserts and deletes.
func TestScanProperty(t *testing.T) {
	for _, tc := range []struct{ arity, values int }{{1, 60}, {2, 60}, {3, 60}, {4, 60}, {2, 3000}, {3, 3000}} {
		arity := tc.arity
		t.Run(fmt.Sprintf("arity %d values %d", arity, tc.values), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(arity), 42))
			st := newStore()
			types := []uint16{}
			for _, name := range []string{"A", "B", "C"} {
				ty, _ := st.in.addType(name)
				types = append(types, ty)
			}
			// Few values per position so posting lists get long, many
			// so some stay inline.
			var syms []uint32
			for i := range tc.values {
				syms = append(syms, st.in.intern(types[i%3], fmt.Sprint("v", i)))
			}
			r := st.relationOrNew("p", arity)
			ref := map[[4]uint32]bool{}
			randTuple := func() []uint32 {
				tup := make([]uint32, arity)
				for i := range tup {
					// Skew: position 0 draws from few values.
					if i == 0 {
						tup[i] = syms[rng.IntN(5)]
					} else {
						tup[i] = syms[rng.IntN(len(syms))]
					}
				}
				return tup
			}
			key := func(tup []uint32) (k [4]uint32) { copy(k[:], tup); return }
			for step := range 6000 {
				tup := randTuple()
				if rng.IntN(3) == 0 {
					got := r.delete(tup)
					if got != ref[key(tup)] {
						t.Fatalf("step %d: delete = %v, want %v", step, got, ref[key(tup)])
					}
					delete(ref, key(tup))
				} else {
					got := r.insert(tup)
					if got == ref[key(tup)] {
						t.Fatalf("step %d: insert = %v with present = %v", step, got, ref[key(tup)])
					}
					ref[key(tup)] = true
				}
				if step%500 == 0 {
					if err := r.check(); err != nil {
						t.Fatalf("step %d: %v", step, err)
					}
				}
			}
			if err := r.check(); err != nil {
				t.Fatal(err)
			}
			r.vis = r.rows() // as store.publish does
			// Every subset of bound positions, values taken from stored
			// tuples and random ones.
			for mask := range 1 << arity {
				for range 40 {
					src := randTuple()
					if rng.IntN(2) == 0 && r.rows() > 0 {
						src = slices.Clone(r.tuple(uint32(rng.IntN(r.rows()))))
					}
					pattern := make([]uint32, arity)
					for p := range arity {
						if mask&(1<<p) != 0 {
							pattern[p] = src[p]
						}
					}
					var want [][4]uint32
					for k := range ref {
						ok := true
						for p := range arity {
							ok = ok && (pattern[p] == 0 || k[p] == pattern[p])
						}
						if ok {
							want = append(want, k)
						}
					}
					var got [][4]uint32
					r.scan(pattern, nil, nil, func(tup []uint32) bool {
						got = append(got, key(tup))
						return true
					})
					cmp := func(a, b [4]uint32) int { return slices.Compare(a[:], b[:]) }
					slices.SortFunc(want, cmp)
					slices.SortFunc(got, cmp)
					if !slices.Equal(got, want) {
						t.Fatalf("mask %b pattern %v: got %d tuples, want %d", mask, pattern, len(got), len(want))
					}
					if c := r.count(pattern); c < len(want) {
						t.Fatalf("count %d < %d matches", c, len(want))
					}
					// Early stop.
					calls := 0
					r.scan(pattern, nil, nil, func([]uint32) bool { calls++; return false })
					if calls > 1 {
						t.Fatalf("scan continued after false")
					}
				}
			}
		})
	}
}

// TestPostingChurn grows one key's posting list large, shrinks it, and
// churns it so segments move, shrink, get reused and the arena compacts.
func TestPostingChurn(t *testing.T) {
	st := newStore()
	ty, _ := st.in.addType("T")
	hub := st.in.intern(ty, "hub")
	var leaves []uint32
	for i := range 5000 {
		leaves = append(leaves, st.in.intern(ty, "l"+string(rune(0x4e00+i))))
	}
	r := st.relationOrNew("edge", 2)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 4 {
		for _, l := range leaves {
			r.insert([]uint32{hub, l})
			r.insert([]uint32{l, hub})
		}
		rng.Shuffle(len(leaves), func(i, j int) { leaves[i], leaves[j] = leaves[j], leaves[i] })
		keep := 10 + round
		for _, l := range leaves[keep:] {
			r.delete([]uint32{hub, l})
			r.delete([]uint32{l, hub})
		}
		if err := r.check(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got := r.count([]uint32{hub, 0}); got != keep {
			t.Fatalf("round %d: count = %d, want %d", round, got, keep)
		}
	}
	if a := len(r.idx[0].arena); a > 1<<14 {
		t.Errorf("arena for a 13-row list is %d words after churn; compaction did not run", a)
	}
}
