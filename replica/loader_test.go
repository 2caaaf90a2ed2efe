package replica

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// bulkSource is what a checkpoint writer reads: a View or an Export.
type bulkSource interface {
	ForEachValue(fn func(sym uint32, typ, id string) bool)
	Relations() []RelationInfo
	ForEachTuple(rel int, fn func(tuple []uint32) bool)
	Tokens() []Token
	Revision() uint64
}

// roundTrip copies a state through ForEachValue/Relations/ForEachTuple into
// a Loader, as a checkpoint writer and reader would.
func roundTrip(tb testing.TB, s *State) *State {
	tb.Helper()
	view := s.Acquire()
	defer view.Release()
	src, _ := view.Policy()
	return loadFrom(tb, view, src)
}

func loadFrom(tb testing.TB, src bulkSource, policy PolicySource) *State {
	tb.Helper()
	l := NewLoader(Config{Env: "test"})
	remap := []uint32{0}
	src.ForEachValue(func(sym uint32, typ, id string) bool {
		if int(sym) != len(remap) {
			tb.Fatalf("ForEachValue out of order: %d", sym)
		}
		remap = append(remap, l.AddValue(typ, id))
		return true
	})
	for _, ri := range src.Relations() {
		l.Reserve(ri.Name, ri.Arity, ri.Len)
		buf := make([]uint32, ri.Arity)
		src.ForEachTuple(ri.ID, func(t []uint32) bool {
			for i, s := range t {
				buf[i] = remap[s]
			}
			if err := l.AddFact(ri.Name, buf); err != nil {
				tb.Fatal(err)
			}
			return true
		})
	}
	if err := l.SetPolicy(policy); err != nil {
		tb.Fatal(err)
	}
	if err := l.SetTokens(src.Tokens()); err != nil {
		tb.Fatal(err)
	}
	out, err := l.Finish(src.Revision())
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestLoaderRoundTrip(t *testing.T) {
	s := newTestState(t)
	rng := rand.New(rand.NewPCG(3, 4))
	mustApply(t, s,
		Event{Env: "test", Seq: 1, Kind: KindPolicy, Policy: &PolicySource{Src: "actor User {}", Filename: "p.polar"}},
		Event{Env: "test", Seq: 2, Kind: KindTokens, Tokens: []Token{{ID: "k", SHA256: strings.Repeat("e", 64), Access: "read"}}},
	)
	for seq := uint64(3); seq < 40; seq++ {
		var ins []Fact
		for range 50 {
			u := v("User", fmt.Sprint("u", rng.IntN(200)))
			switch rng.IntN(3) {
			case 0:
				ins = append(ins, fact("has_role", u, v("String", "member"), v("Repo", fmt.Sprint("r", rng.IntN(30)))))
			case 1:
				ins = append(ins, fact("is_active", u))
			default:
				ins = append(ins, fact("rank", u, v("Integer", fmt.Sprint(rng.IntN(9)-4))))
			}
		}
		del := []Pattern{pat("has_role", AnyOf("User"), Any(), Exact(v("Repo", fmt.Sprint("r", rng.IntN(30)))))}
		mustApply(t, s, batch(seq, ins, del...))
	}
	loaded := roundTrip(t, s)
	checkState(t, loaded)
	if a, b := digestOf(t, s), digestOf(t, loaded); a != b {
		t.Fatalf("digest after round trip %s, want %s", b, a)
	}
	if a, b := factStrings(t, s), factStrings(t, loaded); !slices.Equal(a, b) {
		t.Fatalf("facts differ after round trip")
	}
	if loaded.Revision() != s.Revision() {
		t.Fatalf("revision %d, want %d", loaded.Revision(), s.Revision())
	}
	// The loaded state keeps working: apply more and compare with the
	// original doing the same.
	next := batch(s.Revision()+1, []Fact{fact("is_active", v("User", "new"))}, pat("rank", Any(), Any()))
	mustApply(t, s, next)
	mustApply(t, loaded, next)
	if a, b := digestOf(t, s), digestOf(t, loaded); a != b {
		t.Fatalf("digest after a further event %s, want %s", b, a)
	}
	checkState(t, loaded)
}

func TestLoaderErrors(t *testing.T) {
	tests := []struct {
		name string
		run  func(l *Loader) error
		msg  string
	}{
		{"duplicate fact", func(l *Loader) error {
			a, b := l.AddValue("User", "a"), l.AddValue("Org", "o")
			l.AddFact("p", []uint32{a, b})
			l.AddFact("p", []uint32{b, a})
			return l.AddFact("p", []uint32{a, b})
		}, "duplicate fact"},
		{"unknown symbol", func(l *Loader) error {
			a := l.AddValue("User", "a")
			return l.AddFact("p", []uint32{a, 7})
		}, "not a loaded value"},
		{"zero symbol", func(l *Loader) error { return l.AddFact("p", []uint32{0}) }, "not a loaded value"},
		{"non-canonical integer", func(l *Loader) error { l.AddValue("Integer", "01"); return nil }, "canonical"},
		{"empty id", func(l *Loader) error { l.AddValue("User", ""); return nil }, "empty id"},
		{"no args", func(l *Loader) error { return l.AddFact("p", nil) }, "no arguments"},
		{"bad tokens", func(l *Loader) error { return l.SetTokens([]Token{{ID: "x", SHA256: "y", Access: "read"}}) }, "sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLoader(Config{})
			err := tt.run(l)
			if err == nil {
				_, err = l.Finish(1)
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.msg)
			}
		})
	}
}

// TestExportDetached takes an Export, lets the state move on (new values
// across interner chunks, deletes, a clear), and checks the Export still
// describes the old revision.
func TestExportDetached(t *testing.T) {
	s := newTestState(t)
	var ins []Fact
	for i := range 3000 {
		ins = append(ins, fact("p", v("User", fmt.Sprint("u", i)), v("Org", fmt.Sprint("o", i%7))))
	}
	mustApply(t, s, batch(1, ins))
	view := s.Acquire()
	exp := view.Export()
	want := view.Digest()
	view.Release()
	for seq := uint64(2); seq < 12; seq++ {
		var more []Fact
		for i := range 3000 {
			more = append(more, fact("q", v("User", fmt.Sprint("n", seq, "-", i))))
		}
		mustApply(t, s, batch(seq, more, pat("p", Any(), Exact(v("Org", fmt.Sprint("o", seq%7))))))
	}
	mustApply(t, s, Event{Env: "test", Seq: 12, Kind: KindClear})
	if exp.Digest() != want || exp.Revision() != 1 || exp.FactCount() != 3000 {
		t.Fatalf("export changed: %s %d %d", exp.Digest(), exp.Revision(), exp.FactCount())
	}
	loaded := loadFrom(t, exp, exp.Policy())
	if got := digestOf(t, loaded); got != want {
		t.Fatalf("state loaded from export has digest %s, want %s", got, want)
	}
}
