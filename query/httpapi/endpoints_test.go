package httpapi

import (
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/outpost-authz/outpost/replica"
)

var (
	timingRE = regexp.MustCompile(`^oso;dur=[0-9]+$`)
	uuidRE   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// checkAPIHeaders asserts the headers every /api answer carries.
func checkAPIHeaders(t *testing.T, r response, revision string) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if r.header.Get("X-Request-ID") == "" {
		t.Errorf("no X-Request-ID")
	}
	if st := r.header.Values("Server-Timing"); len(st) != 1 || !timingRE.MatchString(st[0]) {
		t.Errorf("Server-Timing = %q, want one line oso;dur=N", st)
	}
	if got := r.header.Get("X-Outpost-Revision"); revision != "" && got != revision {
		t.Errorf("X-Outpost-Revision = %q, want %s", got, revision)
	}
}

// TestEndpointShapes checks each read endpoint's answer: exact keys and
// values, and the common headers.
func TestEndpointShapes(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	policyHash := policyVersion(replica.PolicySource{Src: testPolicy})
	cases := []struct {
		name, method, path, body string
		want                     string // exact JSON answer (compared decoded)
	}{
		{"authorize direct", "POST", "/api/authorize", authzBody("User:alice", "read", "Repository:anvil"), `{"allowed":true}`},
		{"authorize inherited", "POST", "/api/authorize", authzBody("User:bob", "read", "Repository:repo-07"), `{"allowed":true}`},
		{"authorize denied", "POST", "/api/authorize", authzBody("User:alice", "write", "Repository:anvil"), `{"allowed":false}`},
		{"authorize undeclared action", "POST", "/api/authorize", authzBody("User:alice", "fly", "Repository:anvil"), `{"allowed":false}`},
		{"authorize without context_facts key", "POST", "/api/authorize",
			`{"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository","resource_id":"anvil"}`, `{"allowed":true}`},
		{"authorize with context fact", "POST", "/api/authorize",
			`{"actor_type":"User","actor_id":"dave","action":"read","resource_type":"Repository","resource_id":"x","context_facts":[{"predicate":"is_public","args":[{"type":"Repository","id":"x"}]}]}`,
			`{"allowed":true}`},
		{"authorize ignores unknown fields", "POST", "/api/authorize",
			`{"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository","resource_id":"anvil","context_facts":[],"future":{"x":1}}`,
			`{"allowed":true}`},
		{"authorize_resources keeps order and duplicates", "POST", "/api/authorize_resources",
			`{"actor_type":"User","actor_id":"carol","action":"write","resources":[{"type":"Repository","id":"gizmo"},{"type":"Repository","id":"anvil"},{"type":"Repository","id":"gizmo"}],"context_facts":[]}`,
			`{"results":[{"type":"Repository","id":"gizmo"},{"type":"Repository","id":"gizmo"}]}`},
		{"authorize_resources empty", "POST", "/api/authorize_resources",
			`{"actor_type":"User","actor_id":"carol","action":"write","resources":[]}`, `{"results":[]}`},
		{"list without paging", "POST", "/api/list",
			`{"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository","context_facts":[]}`,
			`{"results":["anvil","public1"]}`},
		{"list with page_size", "POST", "/api/list",
			`{"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository","context_facts":[],"page_size":10000}`,
			`{"results":["anvil","public1"],"next_page_token":null}`},
		{"list nothing", "POST", "/api/list",
			`{"actor_type":"User","actor_id":"nobody","action":"write","resource_type":"Repository","context_facts":[],"page_size":10000}`,
			`{"results":[],"next_page_token":null}`},
		{"actions", "POST", "/api/actions",
			`{"actor_type":"User","actor_id":"carol","resource_type":"Repository","resource_id":"gizmo","context_facts":[]}`,
			`{"results":["read","write"]}`},
		{"actions none", "POST", "/api/actions",
			`{"actor_type":"User","actor_id":"nobody","resource_type":"Repository","resource_id":"gizmo","context_facts":[]}`,
			`{"results":[]}`},
		{"evaluate_query with wildcard rows", "POST", "/api/evaluate_query",
			`{"predicate":["allow",["u","a","r"]],"calls":[],"constraints":{"u":{"type":"User","ids":null},"a":{"type":"String","ids":["read"]},"r":{"type":"Repository","ids":["public1"]}},"context_facts":[]}`,
			`{"results":[{"u":null,"a":"read","r":"public1"},{"u":"root","a":"read","r":"public1"},{"u":"sue","a":"read","r":"public1"}]}`},
		{"evaluate_query with calls", "POST", "/api/evaluate_query",
			`{"predicate":["allow",["u","a","r"]],"calls":[["has_relation",["r","p","o"]]],"constraints":{"u":{"type":"User","ids":["alice"]},"a":{"type":"String","ids":["read"]},"r":{"type":"Repository","ids":null},"p":{"type":"String","ids":["parent"]},"o":{"type":"Organization","ids":["acme"]}},"context_facts":[]}`,
			`{"results":[{"u":"alice","a":"read","r":"anvil","p":"parent","o":"acme"}]}`},
		{"evaluate_query empty ids", "POST", "/api/evaluate_query",
			`{"predicate":["allow",["u","a","r"]],"calls":[],"constraints":{"u":{"type":"User","ids":[]},"a":{"type":"String","ids":["read"]},"r":{"type":"Repository","ids":null}},"context_facts":[]}`,
			`{"results":[]}`},
		{"query", "POST", "/api/query",
			`{"fact":{"predicate":"has_role","args":[{"type":"User","id":"alice"},{"type":null,"id":null},{"type":"Repository","id":null}]},"context_facts":[]}`,
			`{"results":[{"predicate":"has_role","args":[{"type":"User","id":"alice"},{"type":"String","id":"reader"},{"type":"Repository","id":"anvil"}]}]}`},
		{"query missing keys are wildcards", "POST", "/api/query",
			`{"fact":{"predicate":"is_public","args":[{}]}}`,
			`{"results":[{"predicate":"is_public","args":[{"type":"Repository","id":"public1"}]}]}`},
		{"facts", "GET", "/api/facts?args.0.type=User&args.0.id=alice&predicate=has_role", "",
			`[{"predicate":"has_role","args":[{"type":"User","id":"alice"},{"type":"String","id":"reader"},{"type":"Repository","id":"anvil"}]}]`},
		{"facts shorter pattern and typed wildcard", "GET", "/api/facts?predicate=has_role&args.2.type=Organization", "",
			`[{"predicate":"has_role","args":[{"type":"User","id":"bob"},{"type":"String","id":"member"},{"type":"Organization","id":"acme"}]}]`},
		{"facts empty parameters are wildcards (Ruby's type-only values)", "GET", "/api/facts?args.2.id&args.2.type=Organization&args.1.type=&predicate=has_role", "",
			`[{"predicate":"has_role","args":[{"type":"User","id":"bob"},{"type":"String","id":"member"},{"type":"Organization","id":"acme"}]}]`},
		{"facts none", "GET", "/api/facts?predicate=nothing_like_this", "", `[]`},
		{"policy_metadata", "GET", "/api/policy_metadata", "",
			testPolicyMetadata},
		{"policy_metadata at the active version", "GET", "/api/policy_metadata?version=" + policyHash, "",
			testPolicyMetadata},
		{"policy", "GET", "/api/policy", "", mustJSON(t, map[string]any{"policy": map[string]any{"filename": "main.polar", "src": testPolicy}})},
		{"api healthcheck", "GET", "/api/healthcheck", "", `{"message":"ok"}`},
		{"healthcheck", "GET", "/healthcheck", "", `{"message":"ok"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, ts.Client(), tc.method, ts.URL+tc.path, tc.body, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			want := response{body: []byte(tc.want)}.json(t)
			if got := r.json(t); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %s\nwant %s", r.body, tc.want)
			}
			checkAPIHeaders(t, r, "3")
		})
	}
}

func TestPolicyNullAndVersionMismatch(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	for _, q := range []string{"?version=1", "?id=42", "?version=" + strings.Repeat("0", 64)} {
		r := ts.get(t, "/api/policy_metadata"+q)
		if r.status != http.StatusNotFound || r.message(t) != "unknown policy version" {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	// Before any policy, /api/policy answers {"policy": null} (auth none,
	// as a fresh state holds no tokens).
	ts = startServer(t, newState(), func(c *Config) { c.Auth = AuthNone })
	r := ts.get(t, "/api/policy")
	if r.status != 200 || string(r.body) != `{"policy":null}` {
		t.Errorf("policy before load: %d %s", r.status, r.body)
	}
}

func TestUnboundedAnswers(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	r := ts.post(t, "/api/list", `{"actor_type":"User","actor_id":"sue","action":"read","resource_type":"Repository","context_facts":[]}`)
	if r.status != 200 || string(r.body) != `{"results":["public1"]}` || r.header.Get("X-Outpost-Unbounded") != "true" {
		t.Errorf("list for a superuser: %d %s unbounded=%q", r.status, r.body, r.header.Get("X-Outpost-Unbounded"))
	}
	r = ts.post(t, "/api/actions", `{"actor_type":"User","actor_id":"root","resource_type":"Repository","resource_id":"anvil","context_facts":[]}`)
	if r.status != 200 || string(r.body) != `{"results":[]}` || r.header.Get("X-Outpost-Unbounded") != "true" {
		t.Errorf("actions for root: %d %s unbounded=%q", r.status, r.body, r.header.Get("X-Outpost-Unbounded"))
	}
	r = ts.post(t, "/api/list", `{"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository"}`)
	if r.header.Get("X-Outpost-Unbounded") != "" {
		t.Errorf("bounded list carries X-Outpost-Unbounded")
	}
	if got := counterValue(t, ts.reg, "outpost_unbounded_answers_total", map[string]string{"endpoint": "list"}); got != 1 {
		t.Errorf("outpost_unbounded_answers_total{endpoint=list} = %v", got)
	}
}

func TestPagination(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	base := `{"actor_type":"User","actor_id":"bob","action":"read","resource_type":"Repository","context_facts":[]`
	all := ts.post(t, "/api/list", base+"}").object(t)["results"].([]any)
	if len(all) != 28 {
		t.Fatalf("bob reads %d repositories, want 28", len(all))
	}
	for _, size := range []int{1, 3, 10, 27, 28, 29} {
		var got []any
		body := base + `,"page_size":` + itoa(size) + `}`
		for pages := 0; ; pages++ {
			if pages > 30 {
				t.Fatalf("size %d: too many pages", size)
			}
			r := ts.post(t, "/api/list", body)
			m := r.object(t)
			if r.status != 200 || len(m) != 2 {
				t.Fatalf("size %d: %d %s", size, r.status, r.body)
			}
			page := m["results"].([]any)
			if len(page) > size {
				t.Fatalf("size %d: page of %d", size, len(page))
			}
			got = append(got, page...)
			next, ok := m["next_page_token"].(string)
			if !ok {
				if m["next_page_token"] != nil {
					t.Fatalf("next_page_token = %v", m["next_page_token"])
				}
				break
			}
			// The token alone fixes the size: page_size is ignored.
			body = base + `,"page_size":1,"page_token":"` + next + `"}`
			if pages%2 == 1 {
				body = base + `,"page_token":"` + next + `"}`
			}
		}
		if !reflect.DeepEqual(got, all) {
			t.Errorf("size %d: pages concatenate to %v, want %v", size, got, all)
		}
	}
	first := ts.post(t, "/api/list", base+`,"page_size":5}`).object(t)["next_page_token"].(string)
	bad := []struct{ name, body, want string }{
		{"foreign token", base + `,"page_token":"c24xNzp0MTAwMDA6cmVwby0wOTk5OQ"}`, "invalid page_token"},
		{"not base64", base + `,"page_token":"!!!"}`, "invalid page_token"},
		{"empty token", base + `,"page_token":""}`, "invalid page_token"},
		{"damaged token", base + `,"page_token":"` + first[:len(first)-2] + `AA"}`, "invalid page_token"},
		{"token of another actor", strings.Replace(base, "bob", "alice", 1) + `,"page_token":"` + first + `"}`, "invalid page_token: it continues a different listing"},
		{"token of another action", strings.Replace(base, `"read"`, `"write"`, 1) + `,"page_token":"` + first + `"}`, "invalid page_token: it continues a different listing"},
		{"token not a string", base + `,"page_token":5}`, "page_token must be a string"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.post(t, "/api/list", tc.body)
			if r.status != 400 || !strings.HasPrefix(r.message(t), tc.want) {
				t.Errorf("%d %s, want 400 starting %q", r.status, r.body, tc.want)
			}
		})
	}
	// page_token: null is no token.
	r := ts.post(t, "/api/list", base+`,"page_size":100,"page_token":null}`)
	if r.status != 200 || len(r.object(t)["results"].([]any)) != 28 {
		t.Errorf("page_token null: %d %s", r.status, r.body)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestStatusAndPage(t *testing.T) {
	ts := startServer(t, loadedState(t), func(c *Config) {
		c.Status = func() map[string]any {
			return map[string]any{
				"ingest":   map[string]any{"source": "poll", "lag_events": 0, "last_error": "<none>"},
				"revision": "must not replace the server's own",
			}
		}
	})
	r := send(t, ts.Client(), "GET", ts.URL+"/status", "", map[string]string{"Authorization": ""})
	m := r.object(t)
	if r.status != 200 {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	for _, k := range []string{"revision", "facts", "digest", "policy_loaded", "policy_version", "cache", "uptime_seconds", "started_at", "ingest"} {
		if _, ok := m[k]; !ok {
			t.Errorf("/status lacks %s: %s", k, r.body)
		}
	}
	if m["revision"].(interface{ String() string }).String() != "3" || m["policy_loaded"] != true {
		t.Errorf("/status = %s", r.body)
	}
	if m["facts"].(interface{ String() string }).String() != itoa(len(testFacts())) {
		t.Errorf("facts = %v", m["facts"])
	}
	r = send(t, ts.Client(), "GET", ts.URL+"/", "", map[string]string{"Authorization": ""})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("/: %d %s", r.status, r.header.Get("Content-Type"))
	}
	page := string(r.body)
	for _, want := range []string{"<title>Outpost replica</title>", "Serving", "ingest", "lag_events", "&lt;none&gt;", m["digest"].(string)} {
		if !strings.Contains(page, want) {
			t.Errorf("/ lacks %q", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "<script") {
		t.Errorf("/ refers to external assets or scripts")
	}
}

func TestMetrics(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	ts.post(t, "/api/authorize", authzBody("User:alice", "read", "Repository:anvil"))
	ts.post(t, "/api/authorize", authzBody("User:alice", "read", "Repository:anvil"))
	ts.get(t, "/api/no/such/thing")
	send(t, ts.Client(), "POST", ts.URL+"//api/authorize", authzBody("User:alice", "read", "Repository:anvil"), nil)
	r := send(t, ts.Client(), "GET", ts.URL+"/metrics", "", map[string]string{"Authorization": ""})
	if r.status != 200 {
		t.Fatalf("/metrics: %d", r.status)
	}
	text := string(r.body)
	for _, want := range []string{
		`oso_fallback_http_requests_count{path="/api/authorize",status_code="200"} 3`,
		`oso_fallback_http_requests_count{path="unmatched",status_code="404"} 1`,
		`outpost_query_duration_seconds_count{endpoint="authorize"} 3`,
		`outpost_applied_revision 3`,
		`outpost_facts ` + itoa(len(testFacts())),
		`outpost_cache_hits_total`,
		`outpost_cache_misses_total`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, "go_goroutines") {
		t.Errorf("/metrics serves the global registry")
	}
}

func TestNewValidates(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	for name, cfg := range map[string]Config{
		"no engine":        {Registry: ts.reg},
		"no registry":      {Engine: ts.eng},
		"bad auth":         {Engine: ts.eng, Registry: ts.reg, Auth: "maybe"},
		"negative wait":    {Engine: ts.eng, Registry: ts.reg, ConsistencyWait: -1},
		"negative body":    {Engine: ts.eng, Registry: ts.reg, MaxBodyBytes: -1},
		"negative limit":   {Engine: ts.eng, Registry: ts.reg, MaxConcurrent: -1},
		"duplicate metric": {Engine: ts.eng, Registry: ts.reg},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	hs := NewHTTPServer(":0", http.NotFoundHandler())
	if hs.ReadHeaderTimeout.Seconds() != 5 || hs.ReadTimeout.Seconds() != 30 || hs.WriteTimeout.Seconds() != 30 ||
		hs.IdleTimeout.Seconds() != 120 || hs.MaxHeaderBytes != 64<<10 {
		t.Errorf("NewHTTPServer = %+v", hs)
	}
}
