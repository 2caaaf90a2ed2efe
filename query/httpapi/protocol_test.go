package httpapi

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/query"
)

func TestRequestIDAndTiming(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	body := authzBody("User:alice", "read", "Repository:anvil")
	long := strings.Repeat("a", 129)
	cases := []struct {
		name, in string
		echo     bool
	}{
		{"uuid echoed", "6f1c9a52-3d7e-4b8a-9b71-0c2f5e8d4a10", true},
		{"any printable token echoed", "req:42/retry#2 (fallback)", true},
		{"128 bytes echoed", long[:128], true},
		{"129 bytes replaced", long, false},
		{"non-ASCII replaced", "réq", false},
		{"absent generated", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, ts.Client(), "POST", ts.URL+"/api/authorize", body,
				map[string]string{"Authorization": "Bearer " + testKey, "X-Request-ID": tc.in})
			got := r.header.Get("X-Request-ID")
			if tc.echo && got != tc.in {
				t.Errorf("X-Request-ID = %q, want the request's", got)
			}
			if !tc.echo && !uuidRE.MatchString(got) {
				t.Errorf("X-Request-ID = %q, want a fresh UUID v4", got)
			}
			checkAPIHeaders(t, r, "3")
		})
	}
	// Error answers carry the same headers.
	r := send(t, ts.Client(), "POST", ts.URL+"/api/authorize", "{", map[string]string{"Authorization": "Bearer " + testKey, "X-Request-ID": "abc"})
	if r.status != 400 || r.header.Get("X-Request-ID") != "abc" {
		t.Errorf("error answer: %d id=%q", r.status, r.header.Get("X-Request-ID"))
	}
	checkAPIHeaders(t, r, "3")
	if a, b := newUUID(), newUUID(); a == b || !uuidRE.MatchString(a) {
		t.Errorf("newUUID: %s %s", a, b)
	}
}

func TestPathsAreCleanedWithoutRedirect(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return errors.New("redirected") }
	body := authzBody("User:alice", "read", "Repository:anvil")
	for _, p := range []string{"//api/authorize", "/api//authorize", "///api///authorize", "/api/authorize/", "/api/./authorize", "/x/../api/authorize"} {
		r := send(t, c, "POST", ts.URL+p, body, nil)
		if r.status != 200 || string(r.body) != `{"allowed":true}` {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
	// CleanPath on a caller's router with mux's default cleaning (which
	// would redirect) also serves //api/... directly.
	r := mux.NewRouter()
	ts.srv.MountCheckAPI(r)
	h := CleanPath(r)
	rec := &recorderProbe{header: http.Header{}}
	req, _ := http.NewRequest("POST", "http://x//api/authorize", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testKey)
	h.ServeHTTP(rec, req)
	if rec.status != 200 {
		t.Errorf("mounted //api/authorize: %d %s", rec.status, rec.body.String())
	}
}

type recorderProbe struct {
	header http.Header
	status int
	body   strings.Builder
}

func (r *recorderProbe) Header() http.Header { return r.header }
func (r *recorderProbe) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(b)
}
func (r *recorderProbe) WriteHeader(c int) { r.status = c }

func TestMountCheckAPILeavesWritesToCaller(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	r := mux.NewRouter()
	ts.srv2(t).MountCheckAPI(r)
	r.HandleFunc("/api/facts", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) }).Methods("POST")
	r.HandleFunc("/api/batch", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(298) }).Methods("POST")
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/api/facts", 299},
		{"POST", "/api/batch", 298},
		{"GET", "/api/facts?predicate=is_root", 200},
		{"GET", "/api/healthcheck", 200},
		{"POST", "/api/authorize", 200},
	} {
		rec := &recorderProbe{header: http.Header{}}
		body := authzBody("User:alice", "read", "Repository:anvil")
		req, _ := http.NewRequest(tc.method, "http://x"+tc.path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		CleanPath(r).ServeHTTP(rec, req)
		if rec.status != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.status, tc.want)
		}
	}
}

// srv2 is a second Server over the same engine with its own registry.
func (ts *testServer) srv2(t *testing.T) *Server {
	s, err := New(Config{Engine: ts.eng, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReadOnlyLocalUnknownAndMethods(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	readOnly := "this node is a read-only replica; send writes to the control plane"
	cases := []struct {
		method, path string
		status       int
		msg, allow   string
	}{
		{"POST", "/api/facts", 405, readOnly, "GET"},
		{"DELETE", "/api/facts", 405, readOnly, "GET"},
		{"POST", "/api/batch", 405, readOnly, ""},
		{"POST", "/api/bulk_load", 405, readOnly, ""},
		{"POST", "/api/bulk_delete", 405, readOnly, ""},
		{"POST", "/api/bulk", 405, readOnly, ""},
		{"POST", "/api/clear_data", 405, readOnly, ""},
		{"POST", "/api/policy", 405, readOnly, "GET"},
		{"GET", "/api/nope", 404, "no such endpoint: GET /api/nope", ""},
		{"GET", "/favicon.ico", 404, "no such endpoint: GET /favicon.ico", ""},
		{"POST", "/api/stats", 404, "no such endpoint: POST /api/stats", ""},
		{"GET", "/api/authorize", 405, "method GET is not allowed on /api/authorize; allowed: POST", "POST"},
		{"PUT", "/api/facts", 405, "method PUT is not allowed on /api/facts; allowed: GET", "GET"},
		{"POST", "/healthcheck", 405, "method POST is not allowed on /healthcheck; allowed: GET, HEAD", "GET, HEAD"},
		{"DELETE", "/api/list", 405, "method DELETE is not allowed on /api/list; allowed: POST", "POST"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			// No key: these answers never depend on one.
			r := send(t, ts.Client(), tc.method, ts.URL+tc.path, `{}`, map[string]string{"Authorization": ""})
			if r.status != tc.status || r.message(t) != tc.msg {
				t.Errorf("%d %s, want %d %q", r.status, r.body, tc.status, tc.msg)
			}
			if tc.allow != "" && r.header.Get("Allow") != tc.allow {
				t.Errorf("Allow = %q, want %q", r.header.Get("Allow"), tc.allow)
			}
			checkAPIHeaders(t, r, "3")
		})
	}
}

func TestBodyLimit(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	prefix := `{"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository","resource_id":"anvil","pad":"`
	exact := prefix + strings.Repeat("x", DefaultMaxBodyBytes-len(prefix)-2) + `"}`
	if len(exact) != 10_485_760 {
		t.Fatalf("body is %d bytes", len(exact))
	}
	if r := ts.post(t, "/api/authorize", exact); r.status != 200 || string(r.body) != `{"allowed":true}` {
		t.Errorf("10 MiB body: %d %.200s", r.status, r.body)
	}
	over := prefix + strings.Repeat("x", DefaultMaxBodyBytes-len(prefix)-1) + `"}`
	r := ts.post(t, "/api/authorize", over)
	if r.status != 413 || r.message(t) != "request body is larger than the limit of 10485760 bytes" {
		t.Errorf("10 MiB + 1: %d %.200s", r.status, r.body)
	}
	checkAPIHeaders(t, r, "3")
	// Without Content-Length (chunked), the limit holds while reading.
	req, _ := http.NewRequest("POST", ts.URL+"/api/authorize", &slowReader{s: over})
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 || req.ContentLength != 0 {
		t.Errorf("chunked over the limit: %d (content length %d)", resp.StatusCode, req.ContentLength)
	}
}

// slowReader hides its length so the client sends chunked.
type slowReader struct {
	s string
	i int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	n := copy(p, r.s[r.i:])
	r.i += n
	return n, nil
}

func TestNotReady(t *testing.T) {
	st := newState()
	ts := startServer(t, st, nil)
	notReady := "replica has not loaded a snapshot yet"
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/authorize", authzBody("User:alice", "read", "Repository:anvil")},
		{"POST", "/api/list", `{}`},
		{"POST", "/api/actions", `{}`},
		{"POST", "/api/authorize_resources", `{}`},
		{"POST", "/api/evaluate_query", `{}`},
		{"POST", "/api/query", `{}`},
		{"GET", "/api/facts?predicate=x", ""},
		{"GET", "/api/policy_metadata", ""},
		{"GET", "/api/healthcheck", ""},
		{"GET", "/healthcheck", ""},
	} {
		r := send(t, ts.Client(), tc.method, ts.URL+tc.path, tc.body, nil)
		if r.status != 503 || r.message(t) != notReady {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.status, r.body)
		}
		checkAPIHeaders(t, r, "0")
	}
	a := &applier{t, st}
	a.tokens(testKey)
	a.policy(testPolicy)
	for _, p := range []string{"/healthcheck", "/api/healthcheck"} {
		if r := send(t, ts.Client(), "GET", ts.URL+p, "", map[string]string{"Authorization": ""}); r.status != 200 || r.message(t) != "ok" {
			t.Errorf("%s after load: %d %s", p, r.status, r.body)
		}
	}
	r := ts.post(t, "/api/authorize", authzBody("User:alice", "read", "Repository:anvil"))
	if r.status != 200 || string(r.body) != `{"allowed":false}` {
		t.Errorf("authorize after load: %d %s", r.status, r.body)
	}
	checkAPIHeaders(t, r, "2")
}

func TestAuth(t *testing.T) {
	st := loadedState(t)
	body := authzBody("User:alice", "read", "Repository:anvil")
	tokens := startServer(t, st, nil)
	none := startServer(t, st, func(c *Config) { c.Auth = AuthNone })
	cases := []struct {
		name   string
		ts     *testServer
		header string // Authorization; "" = absent
		status int
		msg    string
	}{
		{"missing", tokens, "", 401, "missing API key"},
		{"empty bearer", tokens, "Bearer   ", 401, "missing API key"},
		{"other scheme", tokens, "Basic " + testKey, 401, "missing API key"},
		{"wrong", tokens, "Bearer wrong-key", 401, "invalid API key"},
		{"prefix of the key", tokens, "Bearer " + testKey[:5], 401, "invalid API key"},
		{"right", tokens, "Bearer " + testKey, 200, ""},
		{"right, lower-case scheme and spaces", tokens, "  bearer   " + testKey + "  ", 200, ""},
		{"second key", tokens, "Bearer other-key-0000", 401, "invalid API key"},
		{"none mode without key", none, "", 200, ""},
		{"none mode with any key", none, "Bearer whatever", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, tc.ts.Client(), "POST", tc.ts.URL+"/api/authorize", body, map[string]string{"Authorization": tc.header})
			if r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.status)
			}
			if tc.msg != "" {
				if r.message(t) != tc.msg {
					t.Errorf("message %q, want %q", r.message(t), tc.msg)
				}
				if r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
			}
			checkAPIHeaders(t, r, "3")
		})
	}
	// Every read endpoint is protected; operational ones are not.
	for _, p := range []string{"/api/authorize", "/api/list", "/api/actions", "/api/evaluate_query", "/api/query", "/api/authorize_resources"} {
		if r := send(t, tokens.Client(), "POST", tokens.URL+p, `{}`, map[string]string{"Authorization": ""}); r.status != 401 {
			t.Errorf("POST %s without key: %d", p, r.status)
		}
	}
	for _, p := range []string{"/api/facts?predicate=x", "/api/policy_metadata", "/api/policy"} {
		if r := send(t, tokens.Client(), "GET", tokens.URL+p, "", map[string]string{"Authorization": ""}); r.status != 401 {
			t.Errorf("GET %s without key: %d", p, r.status)
		}
	}
	for _, p := range []string{"/healthcheck", "/api/healthcheck", "/metrics", "/status", "/"} {
		if r := send(t, tokens.Client(), "GET", tokens.URL+p, "", map[string]string{"Authorization": ""}); r.status != 200 {
			t.Errorf("GET %s without key: %d", p, r.status)
		}
	}
	// A key added by a tokens event is accepted from the next request on;
	// a key removed is refused.
	a := &applier{t, st}
	a.tokens("other-key-0000")
	if r := send(t, tokens.Client(), "POST", tokens.URL+"/api/authorize", body, map[string]string{"Authorization": "Bearer other-key-0000"}); r.status != 200 {
		t.Errorf("new key: %d", r.status)
	}
	if r := tokens.post(t, "/api/authorize", body); r.status != 401 || r.message(t) != "invalid API key" {
		t.Errorf("removed key: %d %s", r.status, r.body)
	}
	// A state with no tokens at all refuses everything in tokens mode.
	noTokens := newState()
	(&applier{t, noTokens}).policy(testPolicy)
	ts := startServer(t, noTokens, nil)
	for _, h := range []string{"", "Bearer " + testKey} {
		r := send(t, ts.Client(), "POST", ts.URL+"/api/authorize", body, map[string]string{"Authorization": h})
		if r.status != 401 || !strings.Contains(r.message(t), "no API keys are configured") {
			t.Errorf("no tokens, header %q: %d %s", h, r.status, r.body)
		}
	}
}

func TestAPIVersionHeader(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	body := authzBody("User:alice", "read", "Repository:anvil")
	for v, want := range map[string]int{"0": 200, " 0 ": 200, "": 200, "1": 400, "2.0": 400, "abc": 400} {
		r := send(t, ts.Client(), "POST", ts.URL+"/api/authorize", body, map[string]string{"Authorization": "Bearer " + testKey, "X-OsoApiVersion": v})
		if r.status != want {
			t.Errorf("X-OsoApiVersion %q: %d %s", v, r.status, r.body)
		}
		if want == 400 && !strings.Contains(r.message(t), "X-OsoApiVersion") {
			t.Errorf("message %q does not name the header", r.message(t))
		}
	}
}

func TestConcurrencyLimit(t *testing.T) {
	st := loadedState(t)
	ts := startServer(t, st, func(c *Config) { c.MaxConcurrent = 1; c.ConsistencyWait = 5 * time.Second })
	body := authzBody("User:alice", "read", "Repository:anvil")
	done := make(chan response, 1)
	go func() {
		// Holds the only slot while it waits for revision 4.
		r, err := trySend(ts.Client(), "POST", ts.URL+"/api/authorize", body, map[string]string{"Authorization": "Bearer " + testKey, "OsoOffset": "4"})
		if err != nil {
			r.status = -1
			r.body = []byte(err.Error())
		}
		done <- r
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(ts.srv.slots) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r := ts.post(t, "/api/authorize", body)
	if r.status != 503 || r.header.Get("Retry-After") != "1" || !strings.Contains(r.message(t), "too many concurrent requests") {
		t.Errorf("over the limit: %d %s Retry-After=%q", r.status, r.body, r.header.Get("Retry-After"))
	}
	if r := send(t, ts.Client(), "GET", ts.URL+"/healthcheck", "", nil); r.status != 200 {
		t.Errorf("healthcheck is limited too: %d", r.status)
	}
	(&applier{t, st}).insert(fact("is_root", val("User", "x")))
	if r := <-done; r.status != 200 || r.header.Get("X-Outpost-Revision") != "4" {
		t.Errorf("waiting request: %d rev %s", r.status, r.header.Get("X-Outpost-Revision"))
	}
	if got := counterValue(t, ts.reg, "outpost_http_rejected_total", nil); got != 1 {
		t.Errorf("outpost_http_rejected_total = %v", got)
	}
}

func TestPanicIsAnswered500(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	h := ts.srv.instrument("/boom", true, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := &recorderProbe{header: http.Header{}}
	req, _ := http.NewRequest("GET", "http://x/boom", nil)
	h.ServeHTTP(rec, req)
	if rec.status != 500 || !strings.Contains(rec.body.String(), "internal error") || rec.header.Get("X-Request-ID") == "" {
		t.Errorf("panic: %d %s", rec.status, rec.body.String())
	}
	// An unexpected engine error is a logged 500, not a client error.
	if e := ts.srv.toAPIError(errors.New("disk on fire"), "rid"); e.status != 500 {
		t.Errorf("unexpected error → %d", e.status)
	}
	if e := ts.srv.toAPIError(query.ErrNotReady, "rid"); e.status != 503 {
		t.Errorf("ErrNotReady → %d", e.status)
	}
}
