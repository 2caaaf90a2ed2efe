package verify

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/ingest/osoapi"
	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

const policy = `actor User {}
resource Org {
  roles = ["admin", "member"];
  permissions = ["read", "write"];
  "read" if "member";
  "write" if "admin";
  "member" if "admin";
}
resource Repo {
  permissions = ["read", "push"];
  roles = ["writer"];
  relations = { parent: Org };
  "read" if "member" on "parent";
  "push" if "writer";
  "writer" if "admin" on "parent";
}
`

func val(t, id string) replica.Value { return replica.Value{Type: t, ID: id} }

// setup starts a control plane with some data and a node engine built from
// it by the oso-api source's bootstrap.
func setup(t *testing.T) (*controlplane.Running, *query.Engine) {
	t.Helper()
	cp := controlplane.Start(t, controlplane.Config{})
	if _, err := cp.Client.SetPolicyFile(policy, "main.polar"); err != nil {
		t.Fatal(err)
	}
	var facts []replica.Fact
	for i := range 12 {
		o := val("Org", fmt.Sprintf("o%d", i%3))
		role := []string{"admin", "member"}[i%2]
		facts = append(facts, replica.Fact{Predicate: "has_role", Args: []replica.Value{val("User", fmt.Sprintf("u%d", i)), val("String", role), o}})
		facts = append(facts, replica.Fact{Predicate: "has_relation", Args: []replica.Value{val("Repo", fmt.Sprintf("r%d", i)), val("String", "parent"), o}})
	}
	if _, err := cp.Client.Insert(facts...); err != nil {
		t.Fatal(err)
	}
	src, err := osoapi.New(osoapi.Config{URL: cp.URL, Token: cp.ReadKey, Replica: replica.Config{Env: "test", Compiler: query.Compile}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := src.Bootstrap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	eng, err := query.New(st, query.Config{CacheMaxBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	return cp, eng
}

func newVerifier(t *testing.T, eng *query.Engine, upstream Answerer, reg prometheus.Registerer) *Verifier {
	t.Helper()
	v, err := New(Config{
		Local: EngineAnswerer{Engine: eng}, Upstream: upstream, Registerer: reg, Seed: 7,
		Sample: func(_ context.Context, rng *rand.Rand) (Sample, error) { return SampleEngine(eng, rng) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func checkAll(t *testing.T, v *Verifier, n int) map[string]int {
	t.Helper()
	qs, err := v.Questions(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != n {
		t.Fatalf("%d questions, want %d", len(qs), n)
	}
	out := map[string]int{}
	for _, q := range qs {
		out[v.Check(t.Context(), q).Outcome]++
	}
	return out
}

func TestAgreementReportsNoMismatch(t *testing.T) {
	cp, eng := setup(t)
	reg := prometheus.NewRegistry()
	v := newVerifier(t, eng, HTTPAnswerer{URL: cp.URL, Token: cp.ReadKey}, reg)
	got := checkAll(t, v, 200)
	if got[OutcomeMatch] != 200 {
		t.Fatalf("outcomes %v, want 200 matches", got)
	}
	if n := metric(t, reg, OutcomeMatch); n != 200 {
		t.Errorf("outpost_verify_total{outcome=match} = %v", n)
	}
	if st := v.Status(); len(st["last_mismatches"].([]Result)) != 0 {
		t.Errorf("status shows mismatches: %v", st)
	}
	// The questions are varied: every kind, allowed and denied answers.
	qs, _ := v.Questions(t.Context(), 200)
	kinds, allowed, denied := map[string]bool{}, 0, 0
	for _, q := range qs {
		kinds[q.Kind] = true
		if q.Kind == KindAuthorize {
			if a, _ := (EngineAnswerer{eng}).Answer(t.Context(), q); a.Allowed {
				allowed++
			} else {
				denied++
			}
		}
	}
	if len(kinds) != 3 || allowed == 0 || denied == 0 {
		t.Errorf("questions: kinds %v, %d allowed, %d denied; want all three kinds, both answers", kinds, allowed, denied)
	}
}

func TestTamperedFactIsReported(t *testing.T) {
	cp, eng := setup(t)
	// Tamper with the node's state: a role the upstream never had.
	st := eng.State()
	ev := replica.Event{Env: "test", Seq: st.Revision() + 1, Time: time.Now(), Kind: replica.KindBatch,
		Inserts: []replica.Fact{{Predicate: "has_role", Args: []replica.Value{val("User", "mallory"), val("String", "admin"), val("Org", "o1")}}}}
	if err := st.Apply(ev); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	v := newVerifier(t, eng, HTTPAnswerer{URL: cp.URL, Token: cp.ReadKey}, reg)
	r := v.Check(t.Context(), Question{Kind: KindAuthorize, Actor: val("User", "mallory"), Action: "write", Resource: val("Org", "o1")})
	if r.Outcome != OutcomeMismatch || !r.Local.Allowed || r.Upstream.Allowed {
		t.Fatalf("result %+v: want a mismatch, allowed locally only", r)
	}
	if r.Local.Revision == "" || r.Upstream.Revision == "" || r.Local.Revision == r.Upstream.Revision {
		t.Errorf("revisions local %q upstream %q: want both, different", r.Local.Revision, r.Upstream.Revision)
	}
	// Generated questions find it too (the tampered fact is in the sample).
	got := checkAll(t, v, 300)
	if got[OutcomeMismatch] == 0 {
		t.Errorf("outcomes %v: want mismatches", got)
	}
	st2 := v.Status()
	last := st2["last_mismatches"].([]Result)
	if len(last) == 0 || len(last) > DefaultKeep {
		t.Fatalf("status keeps %d mismatches", len(last))
	}
	if !strings.Contains(last[len(last)-1].Question.Actor.ID, "mallory") {
		t.Errorf("last mismatch %+v does not involve the tampered actor", last[len(last)-1])
	}
	if n := metric(t, reg, OutcomeMismatch); n == 0 {
		t.Error("outpost_verify_total{outcome=mismatch} = 0")
	}
}

func TestStubUpstream(t *testing.T) {
	_, eng := setup(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if fail.Load() {
			w.WriteHeader(500)
			w.Write([]byte(`{"message":"down"}`))
			return
		}
		w.Write([]byte(`{"allowed": true, "results": []}`)) // allows everything, lists nothing
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	v := newVerifier(t, eng, HTTPAnswerer{URL: "http://" + ln.Addr().String(), Token: "k"}, nil)
	got := checkAll(t, v, 100)
	if got[OutcomeMismatch] == 0 || got[OutcomeError] != 0 {
		t.Errorf("outcomes %v: want mismatches and no errors", got)
	}
	fail.Store(true)
	r := v.Check(t.Context(), Question{Kind: KindActions, Actor: val("User", "u0"), Resource: val("Org", "o0")})
	if r.Outcome != OutcomeError || !strings.Contains(r.Error, "500") {
		t.Errorf("result %+v: want an error naming the 500", r)
	}
}

// metric reads outpost_verify_total{outcome} from reg.
func metric(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "outpost_verify_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no outpost_verify_total{outcome=%q}", outcome)
	return 0
}
