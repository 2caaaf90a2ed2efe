package replica

import (
	"errors"
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
