package httpapi

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"testing"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// The conformance policies: query/polar keeps copies of
// /work/shared/conformance in its testdata (and checks they are current).
const conformanceGlob = "../polar/testdata/parse/conformance_*.polar"

// TestConformanceThroughHTTP runs every test block of the conformance
// policies through the HTTP API and checks that each assertion gets the
// answer `outpost test` expects: the setup facts are loaded into a state
// (as stored facts, and again as context facts over an empty store), then
// each assertion is asked through /api/authorize (three-argument allow
// with concrete values), /api/actions (`iff action in [...]`) or /api/query
// (any other predicate or arity).
func TestConformanceThroughHTTP(t *testing.T) {
	files, _ := filepath.Glob(conformanceGlob)
	if len(files) == 0 {
		t.Fatal("no conformance policies at " + conformanceGlob)
	}
	// query/polar keeps a copy of each shared policy (TestConformanceCopies
	// checks they match), so the two counts agree unless the glob misses some.
	copies, _ := filepath.Glob("../polar/testdata/parse/conformance_*.polar")
	if len(files) != len(copies) {
		t.Errorf("found %d conformance policies, want %d (the copies in query/polar/testdata/parse)", len(files), len(copies))
	}
	asked := 0
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			file, err := polar.Parse(name, string(src))
			if err != nil {
				t.Fatal(err)
			}
			p, err := polar.Compile([]*polar.File{file}, polar.CompileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.RunTests(nil) {
				if !r.OK() {
					t.Fatalf("outpost test fails %q itself: %+v", r.Name, r.Failures)
				}
			}
			fixtures := map[string]*polar.Fixture{}
			var blocks []*polar.TestBlock
			for _, it := range file.Items {
				switch x := it.(type) {
				case *polar.Fixture:
					fixtures[x.Name] = x
				case *polar.TestBlock:
					blocks = append(blocks, x)
				}
			}
			st := newState()
			a := &applier{t, st}
			a.policy(string(src))
			a.tokens(testKey)
			ts := startServer(t, st, nil)
			for _, b := range blocks {
				setup := setupFacts(t, b, fixtures)
				// Stored facts: replace the state's facts with the setup.
				a.apply(replica.Event{Kind: replica.KindClear})
				if len(setup) > 0 {
					a.insert(setup...)
				}
				for _, as := range b.Asserts {
					asked++
					checkAssertion(t, ts, b.Name, as, nil)
				}
				// Context facts over an empty store. Context facts are
				// checked against the policy's fact signatures like
				// written facts (polar.md §15.5), which a setup block
				// need not pass: such a block is only asked with stored
				// facts.
				if err := checkFacts(p, setup); err != nil {
					t.Logf("%s: setup is not valid as context facts (%v); stored facts only", b.Name, err)
					continue
				}
				a.apply(replica.Event{Kind: replica.KindClear})
				for _, as := range b.Asserts {
					checkAssertion(t, ts, b.Name, as, setup)
				}
			}
		})
	}
	t.Logf("%d assertions asked through HTTP (with stored facts, and again as context facts where the setup is valid as such)", asked)
}

// setupFacts converts a test block's fixtures and setup facts.
func setupFacts(t *testing.T, b *polar.TestBlock, fixtures map[string]*polar.Fixture) []replica.Fact {
	t.Helper()
	if b.Setup == nil {
		return nil
	}
	var stmts []*polar.FactStmt
	for _, ref := range b.Setup.Fixtures {
		fx, ok := fixtures[ref.Name]
		if !ok {
			t.Fatalf("%s: unknown fixture %s", b.Name, ref.Name)
		}
		stmts = append(stmts, fx.Facts...)
	}
	stmts = append(stmts, b.Setup.Facts...)
	out := make([]replica.Fact, 0, len(stmts))
	for _, s := range stmts {
		f := replica.Fact{Predicate: s.Name}
		for _, arg := range s.Args {
			v, ok := literal(arg)
			if !ok {
				t.Fatalf("%s: setup fact %s has a non-literal argument", b.Name, s.Name)
			}
			f.Args = append(f.Args, v)
		}
		out = append(out, f)
	}
	return out
}

func checkFacts(p *polar.Policy, facts []replica.Fact) error {
	for _, f := range facts {
		pf := polar.Fact{Predicate: f.Predicate}
		for _, a := range f.Args {
			pf.Args = append(pf.Args, polar.Value(a))
		}
		if err := p.CheckFact(pf); err != nil {
			return err
		}
	}
	return nil
}

// literal converts a literal term to its wire value.
func literal(term polar.Term) (replica.Value, bool) {
	switch x := term.(type) {
	case *polar.StringLit:
		return replica.Value{Type: "String", ID: x.Value}, true
	case *polar.IntLit:
		return replica.Value{Type: "Integer", ID: strconv.FormatInt(x.Value, 10)}, true
	case *polar.BoolLit:
		return replica.Value{Type: "Boolean", ID: strconv.FormatBool(x.Value)}, true
	case *polar.TypedLit:
		v, ok := literal(x.Lit)
		return replica.Value{Type: x.Type, ID: v.ID}, ok
	}
	return replica.Value{}, false
}

// checkAssertion asks one assertion through HTTP and compares the answer
// with the assertion's polarity.
func checkAssertion(t *testing.T, ts *testServer, block string, as *polar.Assertion, context []replica.Fact) {
	t.Helper()
	if context == nil {
		context = []replica.Fact{}
	}
	where := block + ": " + assertionString(as)
	if context != nil && len(context) > 0 {
		where += " (context facts)"
	}
	args := make([]replica.Value, len(as.Args))
	concrete := true
	for i, prm := range as.Args {
		if v, ok := literal(prm.Term); ok {
			args[i] = v
			continue
		}
		concrete = false
		if prm.Spec != nil {
			args[i].Type = prm.Spec.Name
		}
	}
	switch {
	case as.Iff != nil:
		in, ok := as.Iff.(*polar.In)
		if !ok || as.Name != "allow" || len(args) != 3 || args[1].ID != "" {
			t.Fatalf("%s: unsupported iff form", where)
		}
		var want []string
		for _, el := range in.List {
			v, _ := literal(el)
			want = append(want, v.ID)
		}
		sort.Strings(want)
		r := ts.post(t, "/api/actions", mustJSON(t, map[string]any{
			"actor_type": args[0].Type, "actor_id": args[0].ID,
			"resource_type": args[2].Type, "resource_id": args[2].ID, "context_facts": context}))
		if r.status != 200 {
			t.Fatalf("%s: actions: %d %s", where, r.status, r.body)
		}
		var got []string
		for _, x := range r.object(t)["results"].([]any) {
			got = append(got, x.(string))
		}
		if !reflect.DeepEqual(got, want) || r.header.Get(headerUnbounded) != "" {
			t.Errorf("%s: actions %v (unbounded %q), want %v", where, got, r.header.Get(headerUnbounded), want)
		}
	case as.Name == "allow" && len(args) == 3 && concrete && args[1].Type == "String":
		r := ts.post(t, "/api/authorize", mustJSON(t, map[string]any{
			"actor_type": args[0].Type, "actor_id": args[0].ID, "action": args[1].ID,
			"resource_type": args[2].Type, "resource_id": args[2].ID, "context_facts": context}))
		if r.status != 200 {
			t.Fatalf("%s: authorize: %d %s", where, r.status, r.body)
		}
		if got := r.object(t)["allowed"]; got != !as.Negated {
			t.Errorf("%s: allowed = %v", where, got)
		}
	default:
		pattern := make([]map[string]any, len(args))
		for i, v := range args {
			pattern[i] = map[string]any{"type": nil, "id": nil}
			if v.Type != "" {
				pattern[i]["type"] = v.Type
			}
			if v.ID != "" {
				pattern[i]["id"] = v.ID
			}
		}
		r := ts.post(t, "/api/query", mustJSON(t, map[string]any{
			"fact":          map[string]any{"predicate": as.Name, "args": pattern},
			"context_facts": context}))
		if r.status != 200 {
			t.Fatalf("%s: query: %d %s", where, r.status, r.body)
		}
		if n := len(r.object(t)["results"].([]any)); (n > 0) != !as.Negated {
			t.Errorf("%s: query found %d results", where, n)
		}
	}
}

func assertionString(as *polar.Assertion) string {
	s := "assert "
	if as.Negated {
		s = "assert_not "
	}
	s += as.Name + "("
	for i, prm := range as.Args {
		if i > 0 {
			s += ", "
		}
		s += polar.FormatTerm(prm.Term)
	}
	return s + ")"
}
