package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
)

const testKey = "test-key-0123456789"

// testPolicy has roles, a relation, a public rule, an unbounded list rule
// (superusers read every repository) and an unbounded actions rule (root
// may do anything on a repository).
const testPolicy = `actor User {}

resource Organization {
  roles = ["member", "admin"];
  permissions = ["read", "invite"];
  "read" if "member";
  "member" if "admin";
  "invite" if "admin";
}

resource Repository {
  roles = ["reader", "maintainer"];
  permissions = ["read", "write"];
  relations = { parent: Organization };
  "read" if "reader";
  "write" if "maintainer";
  "reader" if "maintainer";
  "reader" if "member" on "parent";
}

has_permission(_: User, "read", repo: Repository) if is_public(repo);
has_permission(user: User, "read", _: Repository) if is_superuser(user, true);
allow(actor, action, resource) if has_permission(actor, action, resource);
allow(user: User, _: String, _: Repository) if is_root(user);
`

func val(t, id string) replica.Value { return replica.Value{Type: t, ID: id} }

func fact(pred string, args ...replica.Value) replica.Fact {
	return replica.Fact{Predicate: pred, Args: args}
}

// testFacts: alice reads anvil directly; bob is a member of acme, the
// parent of anvil, gizmo and repo-00..repo-24; public1 is public; sue is
// a superuser; root is root.
func testFacts() []replica.Fact {
	fs := []replica.Fact{
		fact("has_role", val("User", "alice"), val("String", "reader"), val("Repository", "anvil")),
		fact("has_role", val("User", "bob"), val("String", "member"), val("Organization", "acme")),
		fact("has_role", val("User", "carol"), val("String", "maintainer"), val("Repository", "gizmo")),
		fact("has_relation", val("Repository", "anvil"), val("String", "parent"), val("Organization", "acme")),
		fact("has_relation", val("Repository", "gizmo"), val("String", "parent"), val("Organization", "acme")),
		fact("is_public", val("Repository", "public1")),
		fact("is_superuser", val("User", "sue"), val("Boolean", "true")),
		fact("is_root", val("User", "root")),
	}
	for i := range 25 {
		id := "repo-" + string(rune('0'+i/10)) + string(rune('0'+i%10))
		fs = append(fs, fact("has_relation", val("Repository", id), val("String", "parent"), val("Organization", "acme")))
	}
	return fs
}

func keyToken(key string) replica.Token {
	sum := sha256.Sum256([]byte(key))
	return replica.Token{ID: "k-" + key[:4], SHA256: hex.EncodeToString(sum[:]), Access: "read"}
}

// applier applies events with consecutive seqs.
type applier struct {
	tb testing.TB
	st *replica.State
}

func (a *applier) apply(ev replica.Event) {
	a.tb.Helper()
	ev.Env = "t"
	ev.Seq = a.st.Revision() + 1
	if err := a.st.Apply(ev); err != nil {
		a.tb.Fatalf("apply %s event %d: %v", ev.Kind, ev.Seq, err)
	}
}

func (a *applier) policy(src string) {
	a.tb.Helper()
	a.apply(replica.Event{Kind: replica.KindPolicy, Policy: &replica.PolicySource{Src: src, Filename: "main.polar"}})
}

func (a *applier) tokens(keys ...string) {
	a.tb.Helper()
	var ts []replica.Token
	for _, k := range keys {
		ts = append(ts, keyToken(k))
	}
	a.apply(replica.Event{Kind: replica.KindTokens, Tokens: ts})
}

func (a *applier) insert(fs ...replica.Fact) {
	a.tb.Helper()
	a.apply(replica.Event{Kind: replica.KindBatch, Inserts: fs})
}

func newState() *replica.State {
	return replica.New(replica.Config{Env: "t", Compiler: query.Compile})
}

// loadedState is testPolicy (seq 1), the test key (seq 2) and testFacts
// (seq 3).
func loadedState(tb testing.TB) *replica.State {
	st := newState()
	a := &applier{tb, st}
	a.policy(testPolicy)
	a.tokens(testKey)
	a.insert(testFacts()...)
	return st
}

type testServer struct {
	*httptest.Server
	srv *Server
	eng *query.Engine
	reg *prometheus.Registry
}

// startServer serves st through Handler on 127.0.0.1 with a fresh
// registry; edit adjusts the config.
func startServer(tb testing.TB, st *replica.State, edit func(*Config)) *testServer {
	tb.Helper()
	return startServerWith(tb, st, query.Config{CacheMaxBytes: 1 << 20}, edit) // small cache: fast to create
}

// startServerWith is startServer over an engine configured with qcfg.
func startServerWith(tb testing.TB, st *replica.State, qcfg query.Config, edit func(*Config)) *testServer {
	tb.Helper()
	eng, err := query.New(st, qcfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(eng.Close)
	reg := prometheus.NewRegistry()
	cfg := Config{Engine: eng, Registry: reg}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(hs.Close)
	return &testServer{Server: hs, srv: srv, eng: eng, reg: reg}
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(tb testing.TB) any {
	tb.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("status %d: body is not JSON: %v: %q", r.status, err, r.body)
	}
	return v
}

func (r response) object(tb testing.TB) map[string]any {
	tb.Helper()
	m, ok := r.json(tb).(map[string]any)
	if !ok {
		tb.Fatalf("body is not a JSON object: %s", r.body)
	}
	return m
}

func (r response) message(tb testing.TB) string {
	tb.Helper()
	m := r.object(tb)
	if len(m) != 1 {
		tb.Fatalf("error body has keys %v, want exactly message: %s", keys(m), r.body)
	}
	s, _ := m["message"].(string)
	return s
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// send makes one request; hdr adds headers (a nil map: the test key; an
// empty value removes the header).
func send(tb testing.TB, c *http.Client, method, url, body string, hdr map[string]string) response {
	tb.Helper()
	r, err := trySend(c, method, url, body, hdr)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// trySend is send for goroutines other than the test's.
func trySend(c *http.Client, method, url, body string, hdr map[string]string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-OsoApiVersion", "0")
	if hdr == nil {
		hdr = map[string]string{"Authorization": "Bearer " + testKey}
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (ts *testServer) post(tb testing.TB, path, body string) response {
	tb.Helper()
	return send(tb, ts.Client(), http.MethodPost, ts.URL+path, body, nil)
}

func (ts *testServer) get(tb testing.TB, path string) response {
	tb.Helper()
	return send(tb, ts.Client(), http.MethodGet, ts.URL+path, "", nil)
}

// mustJSON marshals v.
func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func authzBody(actor, action, res string) string {
	at, aid, _ := strings.Cut(actor, ":")
	rt, rid, _ := strings.Cut(res, ":")
	return `{"actor_type":"` + at + `","actor_id":"` + aid + `","action":"` + action +
		`","resource_type":"` + rt + `","resource_id":"` + rid + `","context_facts":[]}`
}

// counterValue returns the value of a counter (or gauge) with exactly
// these labels, 0 when absent.
func counterValue(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}
