package replica

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// A batch event that carries a policy replaces it together with the facts,
// in one step; a policy that does not compile rejects the whole event.
func TestBatchWithPolicy(t *testing.T) {
	compile := func(src PolicySource) (any, error) {
		if strings.Contains(src.Src, "syntax error") {
			return nil, errors.New("unexpected token")
		}
		return "compiled:" + src.Src, nil
	}
	s := New(Config{Env: "test", Compiler: compile})
	mustApply(t, s, Event{Env: "test", Seq: 1, Kind: KindPolicy, Policy: &PolicySource{Src: "v1"}},
		batch(2, []Fact{fact("p", v("User", "a"))}))

	bad := batch(3, []Fact{fact("p", v("User", "b"))})
	bad.Policy = &PolicySource{Src: "syntax error"}
	if err := s.Apply(bad); !errors.Is(err, ErrPoison) {
		t.Fatalf("batch with a bad policy: err = %v, want poison", err)
	}
	if got := factStrings(t, s); len(got) != 1 || s.Revision() != 2 {
		t.Fatalf("a rejected batch changed the state: %q at %d", got, s.Revision())
	}

	good := batch(3, []Fact{fact("p", v("User", "b"))}, pat("p", Exact(v("User", "a"))))
	good.Policy = &PolicySource{Src: "v2", Filename: "main.polar"}
	mustApply(t, s, good)
	view := s.Acquire()
	src, compiled := view.Policy()
	view.Release()
	if src.Src != "v2" || src.Filename != "main.polar" || compiled != "compiled:v2" {
		t.Errorf("policy = %+v, compiled %v; want v2", src, compiled)
	}
	if got := factStrings(t, s); len(got) != 1 || !strings.Contains(got[0], "b") {
		t.Errorf("facts = %q, want only p(User:b)", got)
	}
}

// A large insert-only batch that also carries a policy is applied in one
// hold (never in pieces), and sets the policy together with its facts.
func TestBatchWithPolicyNotPieced(t *testing.T) {
	compile := func(src PolicySource) (any, error) { return "compiled:" + src.Src, nil }
	s := New(Config{Env: "test", Compiler: compile})
	pieces := 0
	s.pieceHook = func() { pieces++ }
	var facts []Fact
	for i := range 3*pieceFacts + 1 {
		facts = append(facts, fact("p", v("User", strconv.Itoa(i))))
	}
	ev := batch(1, facts)
	ev.Policy = &PolicySource{Src: "v1"}
	mustApply(t, s, ev)
	if pieces != 0 {
		t.Errorf("a batch with a policy was applied in %d+1 pieces", pieces)
	}
	view := s.Acquire()
	src, compiled := view.Policy()
	view.Release()
	if src.Src != "v1" || compiled != "compiled:v1" {
		t.Errorf("policy = %+v, compiled %v; want v1", src, compiled)
	}
	if got := factStrings(t, s); len(got) != len(facts) || s.Revision() != 1 {
		t.Errorf("%d facts at revision %d, want %d at 1", len(got), s.Revision(), len(facts))
	}
}
