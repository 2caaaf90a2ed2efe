package replica

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestHashFactIsFNV128a(t *testing.T) {
	f := fact("has_role", v("User", "ana"), v("String", strings.Repeat("é", 100)), v("Integer", "-12"))
	var enc []byte
	str := func(s string) { enc = binary.AppendUvarint(enc, uint64(len(s))); enc = append(enc, s...) }
	str(f.Predicate)
	enc = binary.AppendUvarint(enc, uint64(len(f.Args)))
	for _, a := range f.Args {
		str(a.Type)
		str(a.ID)
	}
	h := fnv.New128a()
	h.Write(enc)
	sum := h.Sum(nil)
	want := FactSum{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}
	if got := HashFact(f); got != want {
		t.Errorf("HashFact = %x, hash/fnv gives %x", got, want)
	}
}

func TestDigestOrderAndHistory(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var facts []Fact
	for i := range 300 {
		facts = append(facts, fact("has_role",
			v("User", fmt.Sprint("u", rng.IntN(40))), v("String", []string{"admin", "member"}[i%2]), v("Org", fmt.Sprint("o", rng.IntN(5)))))
	}
	tokens := []Token{{ID: "a", SHA256: strings.Repeat("1", 64), Access: "read"}, {ID: "b", SHA256: strings.Repeat("2", 64), Access: "write"}}
	policy := &PolicySource{Src: "actor User {}", Filename: "main.polar"}
	build := func(perm []int, noise bool, reverseTokens bool) *State {
		s := newTestState(t)
		seq := uint64(0)
		next := func() uint64 { seq++; return seq }
		toks := append([]Token(nil), tokens...)
		if reverseTokens {
			toks[0], toks[1] = toks[1], toks[0]
		}
		if noise {
			// Unrelated history that cancels out: facts added then deleted,
			// a clear, an old policy and token set.
			mustApply(t, s, Event{Env: "test", Seq: next(), Kind: KindPolicy, Policy: &PolicySource{Src: "old"}})
			mustApply(t, s, batch(next(), []Fact{fact("tmp", v("User", "x")), facts[0]}))
			mustApply(t, s, Event{Env: "test", Seq: next(), Kind: KindClear})
			mustApply(t, s, batch(next(), []Fact{fact("tmp", v("User", "y")), fact("has_role", v("User", "zz"), v("String", "admin"), v("Org", "o1"))}))
			mustApply(t, s, batch(next(), nil, pat("tmp", Any()), pat("has_role", Exact(v("User", "zz")), Any(), Any())))
		}
		mustApply(t, s, Event{Env: "test", Seq: next(), Kind: KindPolicy, Policy: policy})
		mustApply(t, s, Event{Env: "test", Seq: next(), Kind: KindTokens, Tokens: toks})
		for i := 0; i < len(perm); i += 37 {
			var b []Fact
			for _, j := range perm[i:min(i+37, len(perm))] {
				b = append(b, facts[j])
			}
			mustApply(t, s, batch(next(), b))
		}
		checkState(t, s)
		return s
	}
	ident := make([]int, len(facts))
	for i := range ident {
		ident[i] = i
	}
	ref := digestOf(t, build(ident, false, false))
	for i := range 5 {
		perm := rng.Perm(len(facts))
		if got := digestOf(t, build(perm, i%2 == 0, i%2 == 1)); got != ref {
			t.Fatalf("permutation %d: digest %s, want %s", i, got, ref)
		}
	}
	if !strings.HasPrefix(ref, "sha256:") || len(ref) != len("sha256:")+64 {
		t.Errorf("digest format: %s", ref)
	}

	// Any difference changes the digest.
	changes := []struct {
		name string
		ev   Event
	}{
		{"extra fact", batch(100, []Fact{fact("p", v("User", "new"))})},
		{"deleted fact", batch(100, nil, pat("has_role", Exact(facts[3].Args[0]), Exact(facts[3].Args[1]), Exact(facts[3].Args[2])))},
		{"policy source", Event{Env: "test", Seq: 100, Kind: KindPolicy, Policy: &PolicySource{Src: "actor User { }", Filename: "main.polar"}}},
		{"policy filename", Event{Env: "test", Seq: 100, Kind: KindPolicy, Policy: &PolicySource{Src: policy.Src, Filename: "other.polar"}}},
		{"token access", Event{Env: "test", Seq: 100, Kind: KindTokens, Tokens: []Token{tokens[0], {ID: "b", SHA256: tokens[1].SHA256, Access: "read"}}}},
		{"token dropped", Event{Env: "test", Seq: 100, Kind: KindTokens, Tokens: tokens[:1]}},
		{"clear", Event{Env: "test", Seq: 100, Kind: KindClear}},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			s := build(ident, false, false)
			c.ev.Seq = s.Revision() + 1
			mustApply(t, s, c.ev)
			if digestOf(t, s) == ref {
				t.Errorf("digest unchanged")
			}
		})
	}
	// Facts that differ only in how their encoding splits.
	a := ComputeDigest(PolicySource{}, nil, HashFact(fact("ab", v("c", "d"))), 1)
	b := ComputeDigest(PolicySource{}, nil, HashFact(fact("a", v("bc", "d"))), 1)
	c := ComputeDigest(PolicySource{Src: "ab"}, nil, FactSum{}, 0)
	d := ComputeDigest(PolicySource{Src: "a", Filename: "b"}, nil, FactSum{}, 0)
	if a == b || c == d {
		t.Errorf("ambiguous encoding")
	}
}
