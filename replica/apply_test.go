package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func ptr(s string) *string { return &s }

func TestPatternDeletes(t *testing.T) {
	base := []Fact{
		fact("has_role", v("User", "ana"), v("String", "admin"), v("Org", "acme")),
		fact("has_role", v("User", "bob"), v("String", "admin"), v("Org", "acme")),
		fact("has_role", v("User", "bob"), v("String", "member"), v("Repo", "anvil")),
		fact("has_role", v("Group", "eng"), v("String", "admin"), v("Org", "acme")),
		fact("has_role", v("User", "ana"), v("String", "admin")),
		fact("has_relation", v("Repo", "anvil"), v("String", "parent"), v("Org", "acme")),
	}
	tests := []struct {
		name    string
		pattern Pattern
		want    []int // indexes into base that remain
	}{
		{"exact", pat("has_role", Exact(v("User", "ana")), Exact(v("String", "admin")), Exact(v("Org", "acme"))), []int{1, 2, 3, 4, 5}},
		{"untyped wildcard", pat("has_role", Any(), Exact(v("String", "admin")), Exact(v("Org", "acme"))), []int{2, 4, 5}},
		{"typed wildcard", pat("has_role", AnyOf("User"), Exact(v("String", "admin")), Exact(v("Org", "acme"))), []int{2, 3, 4, 5}},
		{"mixed", pat("has_role", AnyOf("User"), Any(), AnyOf("Org")), []int{2, 3, 4, 5}},
		{"all wildcards", pat("has_role", Any(), Any(), Any()), []int{4, 5}},
		{"arity selects the relation", pat("has_role", Any(), Any()), []int{0, 1, 2, 3, 5}},
		{"unknown predicate", pat("nope", Any(), Any(), Any()), []int{0, 1, 2, 3, 4, 5}},
		{"unknown value", pat("has_role", Exact(v("User", "zed")), Any(), Any()), []int{0, 1, 2, 3, 4, 5}},
		{"unknown type", pat("has_role", AnyOf("Robot"), Any(), Any()), []int{0, 1, 2, 3, 4, 5}},
		{"type with no match at the position", pat("has_role", AnyOf("Org"), Any(), Any()), []int{0, 1, 2, 3, 4, 5}},
		{"wildcard with a bound value", pat("has_role", Exact(v("User", "bob")), Any(), Any()), []int{0, 3, 4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestState(t)
			mustApply(t, s, batch(1, base), batch(2, nil, tt.pattern))
			var want []string
			for _, i := range tt.want {
				want = append(want, base[i].String())
			}
			slices.Sort(want)
			if got := factStrings(t, s); !slices.Equal(got, want) {
				t.Errorf("facts =\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestApplySeqRules(t *testing.T) {
	f := func(i int) Fact { return fact("p", v("User", fmt.Sprint(i))) }
	t.Run("duplicate", func(t *testing.T) {
		s := newTestState(t)
		mustApply(t, s, batch(1, []Fact{f(1)}), batch(2, []Fact{f(2)}))
		before := digestOf(t, s)
		for _, seq := range []uint64{1, 2} {
			if err := s.Apply(batch(seq, []Fact{f(99)})); err != nil {
				t.Fatalf("duplicate seq %d: %v", seq, err)
			}
		}
		if s.Duplicates() != 2 || s.Revision() != 2 || digestOf(t, s) != before {
			t.Errorf("duplicates %d, revision %d, digest changed %v", s.Duplicates(), s.Revision(), digestOf(t, s) != before)
		}
	})
	t.Run("gap", func(t *testing.T) {
		s := newTestState(t)
		mustApply(t, s, batch(1, []Fact{f(1)}))
		err := s.Apply(batch(5, []Fact{f(5)}))
		var gap *GapError
		if !errors.Is(err, ErrGap) || !errors.As(err, &gap) || gap.Applied != 1 || gap.Got != 5 {
			t.Fatalf("err = %v, want GapError{1, 5}", err)
		}
		if s.Revision() != 1 || len(factStrings(t, s)) != 1 {
			t.Errorf("state changed after a gap")
		}
	})
}

func TestApplyPoison(t *testing.T) {
	good := []Fact{fact("p", v("User", "a")), fact("q", v("User", "a"), v("Org", "o"))}
	tests := []struct {
		name string
		ev   Event
		msg  string
	}{
		{"wrong env", Event{Env: "prod", Seq: 3, Kind: KindClear}, "environment"},
		{"unknown kind", Event{Env: "test", Seq: 3, Kind: "bogus"}, "unknown event kind"},
		{"empty type", batch(3, []Fact{good[0], fact("p", v("", "x"))}), "empty type"},
		{"empty id", batch(3, []Fact{good[0], fact("p", v("User", ""))}), "empty id"},
		{"bad integer", batch(3, []Fact{fact("p", v("Integer", "1.5"))}), "Integer"},
		{"no args", batch(3, []Fact{fact("p")}), "no arguments"},
		{"empty predicate", batch(3, []Fact{fact("", v("User", "a"))}), "empty predicate"},
		{"id over the limit", batch(3, []Fact{fact("p", v("User", strings.Repeat("x", MaxIDBytes+1)))}), "limit"},
		{"pattern with id but no type", batch(3, good, pat("p", PatternArg{ID: ptr("a")})), "no type"},
		{"pattern with empty type", batch(3, good, pat("p", AnyOf(""))), "empty type"},
		{"pattern without args", batch(3, good, pat("p")), "no arguments"},
		{"batch with tokens", Event{Env: "test", Seq: 3, Kind: KindBatch, Tokens: []Token{{ID: "k", SHA256: strings.Repeat("a", 64), Access: "read"}}}, "carries tokens"},
		{"clear with facts", Event{Env: "test", Seq: 3, Kind: KindClear, Inserts: good}, "carries facts"},
		{"policy without policy", Event{Env: "test", Seq: 3, Kind: KindPolicy}, "no policy"},
		{"bad token hash", Event{Env: "test", Seq: 3, Kind: KindTokens, Tokens: []Token{{ID: "k", SHA256: "abc", Access: "read"}}}, "sha256"},
		{"bad token access", Event{Env: "test", Seq: 3, Kind: KindTokens, Tokens: []Token{{ID: "k", SHA256: strings.Repeat("a", 64), Access: "admin"}}}, "access"},
		{"seq 0", Event{Env: "test", Seq: 0, Kind: KindClear}, "seq is 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestState(t)
			mustApply(t, s, batch(1, good), Event{Env: "test", Seq: 2, Kind: KindTokens, Tokens: []Token{{ID: "k", SHA256: strings.Repeat("b", 64), Access: "write"}}})
			before, facts := digestOf(t, s), factStrings(t, s)
			err := s.Apply(tt.ev)
			if !errors.Is(err, ErrPoison) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want poison mentioning %q", err, tt.msg)
			}
			if s.Revision() != 2 || digestOf(t, s) != before || !slices.Equal(factStrings(t, s), facts) {
				t.Errorf("poison event changed the state")
			}
		})
	}
}

func TestPolicyCompile(t *testing.T) {
	compile := func(src PolicySource) (any, error) {
		if strings.Contains(src.Src, "syntax error") {
			return nil, fmt.Errorf("%s:1:1: unexpected token", src.Filename)
		}
		return "compiled:" + src.Src, nil
	}
	s := New(Config{Env: "test", Compiler: compile})
	pol := func(seq uint64, src string) Event {
		return Event{Env: "test", Seq: seq, Kind: KindPolicy, Policy: &PolicySource{Src: src, Filename: "main.polar"}}
	}
	mustApply(t, s, pol(1, "actor User {}"))
	err := s.Apply(pol(2, "syntax error"))
	if !errors.Is(err, ErrPoison) || !strings.Contains(err.Error(), "main.polar:1:1") {
		t.Fatalf("err = %v, want poison with the compile error", err)
	}
	view := s.Acquire()
	src, compiled := view.Policy()
	rev := view.Revision()
	view.Release()
	if src.Src != "actor User {}" || compiled != "compiled:actor User {}" || rev != 1 {
		t.Errorf("after failed compile: policy %q compiled %v revision %d", src.Src, compiled, rev)
	}
	mustApply(t, s, pol(2, "actor User {} resource Repo {}"))
	view = s.Acquire()
	defer view.Release()
	if _, c := view.Policy(); c != "compiled:actor User {} resource Repo {}" {
		t.Errorf("compiled = %v", c)
	}
}

func TestClearAndTokens(t *testing.T) {
	s := newTestState(t)
	tok := func(id string, access string) Token {
		return Token{ID: id, SHA256: strings.Repeat("c", 64), Access: access}
	}
	mustApply(t, s,
		Event{Env: "test", Seq: 1, Kind: KindPolicy, Policy: &PolicySource{Src: "actor User {}", Filename: "a.polar"}},
		Event{Env: "test", Seq: 2, Kind: KindTokens, Tokens: []Token{tok("k1", "read"), tok("k2", "write")}},
		batch(3, []Fact{fact("p", v("User", "a")), fact("p", v("User", "b"))}),
	)
	symA := func() uint32 { view := s.Acquire(); defer view.Release(); return view.Lookup("User", "a") }
	before := symA()
	mustApply(t, s, Event{Env: "test", Seq: 4, Kind: KindClear})
	if got := factStrings(t, s); len(got) != 0 {
		t.Fatalf("facts after clear: %q", got)
	}
	view := s.Acquire()
	src, _ := view.Policy()
	if src.Src != "actor User {}" || len(view.Tokens()) != 2 || view.Revision() != 4 {
		t.Errorf("clear lost policy or tokens: %q %v", src.Src, view.Tokens())
	}
	id, ok := view.RelationID("p", 1)
	if !ok || view.Count(id, []uint32{0}) != 0 {
		t.Errorf("relation after clear: %v %d", ok, view.Count(id, []uint32{0}))
	}
	view.Release()
	if symA() != before {
		t.Errorf("clear renumbered a symbol")
	}
	// Same state built fresh has the same digest.
	fresh := newTestState(t)
	mustApply(t, fresh,
		Event{Env: "test", Seq: 1, Kind: KindPolicy, Policy: &PolicySource{Src: "actor User {}", Filename: "a.polar"}},
		Event{Env: "test", Seq: 2, Kind: KindTokens, Tokens: []Token{tok("k2", "write"), tok("k1", "read")}},
	)
	if digestOf(t, s) != digestOf(t, fresh) {
		t.Errorf("digest after clear differs from a fresh state with the same policy and tokens")
	}
	mustApply(t, s, batch(5, []Fact{fact("p", v("User", "a"))}))
	mustApply(t, s, Event{Env: "test", Seq: 6, Kind: KindTokens})
	view = s.Acquire()
	defer view.Release()
	if len(view.Tokens()) != 0 || view.FactCount() != 1 {
		t.Errorf("tokens event did not replace the set: %v", view.Tokens())
	}
}

func TestViewReads(t *testing.T) {
	s := newTestState(t)
	mustApply(t, s, batch(1, []Fact{
		fact("has_role", v("User", "ana"), v("String", "admin"), v("Org", "acme")),
		fact("has_role", v("User", "ana"), v("String", "admin")),
		fact("limit", v("Org", "acme"), v("Integer", "-5")),
	}))
	view := s.Acquire()
	defer view.Release()
	ana := view.Lookup("User", "ana")
	if ana == 0 || ana >= 1<<31 {
		t.Fatalf("Lookup(User, ana) = %d", ana)
	}
	if typ, id := view.Value(ana); typ != "User" || id != "ana" {
		t.Errorf("Value = %s %s", typ, id)
	}
	if view.TypeName(view.TypeOf(ana)) != "User" {
		t.Errorf("TypeOf/TypeName mismatch")
	}
	for _, tc := range []struct{ typ, id string }{{"Integer", "-5"}, {"Integer", "-05"}} {
		if view.Lookup(tc.typ, tc.id) == 0 {
			t.Errorf("Lookup(%s, %s) = 0", tc.typ, tc.id)
		}
	}
	for _, tc := range []struct{ typ, id string }{{"User", "zed"}, {"Robot", "ana"}, {"Integer", "x"}, {"", ""}} {
		if view.Lookup(tc.typ, tc.id) != 0 {
			t.Errorf("Lookup(%s, %s) != 0", tc.typ, tc.id)
		}
	}
	if typ, id := view.Value(1 << 30); typ != "" || id != "" {
		t.Errorf("Value of unknown symbol = %q %q", typ, id)
	}
	rel, ok := view.RelationID("has_role", 3)
	if !ok {
		t.Fatal("no has_role/3")
	}
	if _, ok := view.RelationID("has_role", 4); ok {
		t.Error("has_role/4 exists")
	}
	if view.Count(rel, []uint32{ana, 0, 0}) != 1 || view.Count(rel, []uint32{1<<31 + 5, 0, 0}) != 0 {
		t.Error("Count wrong")
	}
	var prefix []string
	view.Facts(pat("has_role", Exact(v("User", "ana"))), func(f Fact) bool {
		prefix = append(prefix, f.String())
		return true
	})
	want := []string{"has_role(User:ana, String:admin)", "has_role(User:ana, String:admin, Org:acme)"}
	if !slices.Equal(prefix, want) {
		t.Errorf("Facts by prefix = %q, want %q", prefix, want)
	}
	infos := view.Relations()
	if len(infos) != 3 || infos[rel].Name != "has_role" || infos[rel].Len != 1 {
		t.Errorf("Relations = %+v", infos)
	}
}

func TestWaitFor(t *testing.T) {
	s := New(Config{Env: "t"})
	done := make(chan error, 1)
	go func() { done <- s.WaitFor(t.Context(), 2) }()
	for seq := uint64(1); seq <= 2; seq++ {
		if err := s.Apply(Event{Env: "t", Seq: seq, Kind: KindClear}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.WaitFor(ctx, 3); err == nil {
		t.Fatal("WaitFor returned nil for a revision never reached")
	}
}
