package controlplane

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/outpost-authz/outpost/replica"
)

func TestPolicyEndpoint(t *testing.T) {
	cp := Start(t, Config{})
	res := do(t, cp, TestReadKey, "GET", "/api/policy", nil)
	wantStatus(t, res, 200, `{"policy":null}`)

	head := cp.Seq() // the tokens event
	res = do(t, cp, TestWriteKey, "POST", "/api/policy", map[string]any{"src": testPolicy, "filename": nil})
	wantStatus(t, res, 200, "policy updated")
	if got, want := res.Header.Get("OsoOffset"), fmt.Sprintf("%s:%d", cp.LogID(), head+1); got != want {
		t.Fatalf("OsoOffset %q, want %q", got, want)
	}

	// Identical (Node sends "" where Go sends null): 202, no event, the
	// current head's offset.
	res = do(t, cp, TestWriteKey, "POST", "/api/policy", map[string]any{"src": testPolicy, "filename": ""})
	wantStatus(t, res, 202, "unchanged")
	if got, want := res.Header.Get("OsoOffset"), fmt.Sprintf("%s:%d", cp.LogID(), head+1); got != want || cp.Seq() != head+1 {
		t.Fatalf("no-op policy: OsoOffset %q (want %q), seq %d", got, want, cp.Seq())
	}

	res = do(t, cp, TestReadKey, "GET", "/api/policy", nil)
	wantStatus(t, res, 200, "")
	var got struct {
		Policy struct {
			Filename *string `json:"filename"`
			Src      string  `json:"src"`
		} `json:"policy"`
	}
	json.Unmarshal(res.Body, &got)
	if got.Policy.Src != testPolicy || got.Policy.Filename != nil {
		t.Fatalf("GET /api/policy = %s", res.Body)
	}

	cases := []struct {
		name, body, errorType, msg string
	}{
		{"syntax", `{"src": "actor User {", "filename": "bad.polar"}`, "Validation", "bad.polar"},
		{"unknown type", `{"src": "resource Repo { relations = { parent: Nope }; }"}`, "Validation", "Nope"},
		{"tests fail", `{"src": ` + jsonString(testPolicy+`test "t" { assert allow(User{"x"}, "read", Organization{"o"}); }`) + `}`, "TestsFailed", "1 of 1 policy tests failed"},
		{"no src", `{"filename": "x"}`, "Generic", `has no \"src\"`},
		{"not json", `{`, "Generic", "invalid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, cp, TestWriteKey, "POST", "/api/policy", tc.body)
			wantStatus(t, res, 400, tc.msg)
			m := decode(t, res)
			if m["error_type"] != tc.errorType {
				t.Fatalf("error_type %v, want %s: %s", m["error_type"], tc.errorType, res.Body)
			}
			if tc.errorType == "Validation" {
				errs, _ := m["errors"].([]any)
				if len(errs) == 0 || errs[0].(map[string]any)["error_type"] != "ValidationFailed" {
					t.Fatalf("errors %v", m["errors"])
				}
			}
			if cp.Seq() != head+1 {
				t.Fatalf("a rejected policy moved the seq to %d", cp.Seq())
			}
		})
	}

	// A different policy replaces it.
	res = do(t, cp, TestWriteKey, "POST", "/api/policy", map[string]any{"src": testPolicy + "\n", "filename": "main.polar"})
	wantStatus(t, res, 200, "")
	if cp.Seq() != head+2 {
		t.Fatalf("seq %d, want %d", cp.Seq(), head+2)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestWritesNeedAPolicy(t *testing.T) {
	cp := Start(t, Config{})
	_, err := cp.Client.Insert(role("ana", "member", "acme"))
	if ae, ok := err.(*APIError); !ok || ae.Status != 400 || !strings.Contains(ae.Message, "no policy") {
		t.Fatalf("insert before policy: %v", err)
	}
}

func TestBatchValidation(t *testing.T) {
	cp := startWithPolicy(t, Config{})
	head := cp.Seq()
	cases := []struct{ name, body, msg string }{
		{"not an array", `{"inserts": []}`, "invalid JSON in batch body"},
		{"malformed", `[{"inserts": [}]`, "invalid JSON"},
		{"both keys", `[{"inserts": [], "deletes": []}]`, "both"},
		{"neither key", `[{"facts": []}]`, "neither"},
		{"wildcard id in insert", `[{"inserts": [{"predicate": "has_role", "args": [{"type": "User", "id": null}, {"type": "String", "id": "member"}, {"type": "Organization", "id": "acme"}]}]}]`, "wildcard"},
		{"wildcard type in insert", `[{"inserts": [{"predicate": "has_role", "args": [{"type": null, "id": null}, {"type": "String", "id": "member"}, {"type": "Organization", "id": "acme"}]}]}]`, "wildcard"},
		{"missing id key", `[{"inserts": [{"predicate": "has_role", "args": [{"type": "User"}, {"type": "String", "id": "member"}, {"type": "Organization", "id": "acme"}]}]}]`, "wildcard"},
		{"empty id", `[{"inserts": [{"predicate": "has_role", "args": [{"type": "User", "id": ""}, {"type": "String", "id": "member"}, {"type": "Organization", "id": "acme"}]}]}]`, "empty id"},
		{"unknown predicate", `[{"inserts": [{"predicate": "does_not_exist", "args": [{"type": "User", "id": "a"}, {"type": "String", "id": "x"}]}]}]`, "does_not_exist"},
		{"wrong arity", `[{"inserts": [{"predicate": "has_role", "args": [{"type": "User", "id": "a"}, {"type": "String", "id": "member"}]}]}]`, "arguments"},
		{"unknown type", `[{"inserts": [{"predicate": "has_role", "args": [{"type": "Robot", "id": "a"}, {"type": "String", "id": "member"}, {"type": "Organization", "id": "acme"}]}]}]`, "unknown type Robot"},
		{"no predicate", `[{"inserts": [{"args": [{"type": "User", "id": "a"}]}]}]`, "no predicate"},
		{"bad integer", `[{"inserts": [{"predicate": "is_public", "args": [{"type": "Integer", "id": "x"}]}]}]`, "Integer"},
		{"delete id without type", `[{"deletes": [{"predicate": "has_role", "args": [{"type": null, "id": "ana"}, {"type": null, "id": null}, {"type": null, "id": null}]}]}]`, "id but no type"},
		{"delete no args", `[{"deletes": [{"predicate": "has_role", "args": []}]}]`, "no arguments"},
		{"good then bad", `[{"inserts": [{"predicate": "is_public", "args": [{"type": "Repository", "id": "r"}]}]}, {"inserts": [{"predicate": "nope", "args": [{"type": "Repository", "id": "r"}]}]}]`, "batch element 1 insert 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, cp, TestWriteKey, "POST", "/api/batch", tc.body)
			wantStatus(t, res, 400, tc.msg)
			if m := decode(t, res); len(m) != 1 || m["message"] == nil {
				t.Fatalf("error body %s, want exactly {\"message\"}", res.Body)
			}
			if res.Header.Get("OsoOffset") != "" {
				t.Fatal("a rejected write carries OsoOffset")
			}
		})
	}
	if cp.Seq() != head || len(storedFacts(t, cp, "is_public")) != 0 {
		t.Fatalf("rejected batches changed the state: seq %d (want %d)", cp.Seq(), head)
	}

	// An empty batch is a valid no-op with the head's offset.
	res := do(t, cp, TestWriteKey, "POST", "/api/batch", `[]`)
	wantStatus(t, res, 200, "")
	if got := must(t).Seq(ParseOffset(res.Header.Get("OsoOffset"))); got != head || cp.Seq() != head {
		t.Fatalf("empty batch: offset %d, seq %d, want %d", got, cp.Seq(), head)
	}
	// A delete that matches nothing is an event.
	res = do(t, cp, TestWriteKey, "POST", "/api/batch", `[{"deletes": [{"predicate": "nope", "args": [{"type": null, "id": null}]}]}]`)
	wantStatus(t, res, 200, "batch applied")
	if got := must(t).Seq(ParseOffset(res.Header.Get("OsoOffset"))); got != head+1 {
		t.Fatalf("delete of nothing: offset %d, want %d", got, head+1)
	}
}

func TestDeprecatedWriteEndpoints(t *testing.T) {
	cp := startWithPolicy(t, Config{})
	ana, bob := role("ana", "member", "acme"), role("bob", "admin", "acme")

	// POST /api/facts echoes the fact.
	res := do(t, cp, TestWriteKey, "POST", "/api/facts", ana)
	wantStatus(t, res, 200, "")
	var echo replica.Fact
	json.Unmarshal(res.Body, &echo)
	if echo.String() != ana.String() || res.Header.Get("OsoOffset") == "" {
		t.Fatalf("POST /api/facts: %s (OsoOffset %q)", res.Body, res.Header.Get("OsoOffset"))
	}
	// DELETE /api/facts with a JSON body.
	res = do(t, cp, TestWriteKey, "DELETE", "/api/facts", exact(ana))
	wantStatus(t, res, 200, "")
	if got := storedFacts(t, cp, "has_role"); len(got) != 0 {
		t.Fatalf("after DELETE: %v", got)
	}
	// bulk_load / bulk_delete.
	res = do(t, cp, TestWriteKey, "POST", "/api/bulk_load", []replica.Fact{ana, bob})
	wantStatus(t, res, 200, "")
	if got := storedFacts(t, cp, "has_role"); len(got) != 2 {
		t.Fatalf("after bulk_load: %v", got)
	}
	user := "User"
	res = do(t, cp, TestWriteKey, "POST", "/api/bulk_delete", []replica.Pattern{{Predicate: "has_role",
		Args: []replica.PatternArg{{Type: &user}, replica.Any(), replica.Any()}}})
	wantStatus(t, res, 200, "")
	if got := storedFacts(t, cp, "has_role"); len(got) != 0 {
		t.Fatalf("after bulk_delete: %v", got)
	}
	// bulk: deletes first, so a tell matching the delete stays.
	res = do(t, cp, TestWriteKey, "POST", "/api/bulk", map[string]any{
		"delete": []replica.Pattern{{Predicate: "has_role", Args: []replica.PatternArg{replica.Any(), replica.Any(), replica.Any()}}},
		"tell":   []replica.Fact{ana},
	})
	wantStatus(t, res, 200, "")
	if got := storedFacts(t, cp, "has_role"); len(got) != 1 || got[0] != ana.String() {
		t.Fatalf("after bulk: %v", got)
	}
	res = do(t, cp, TestWriteKey, "POST", "/api/bulk", map[string]any{"delete": []any{}})
	wantStatus(t, res, 400, `missing \"tell\"`)
	// POST /api/facts validates like a batch.
	res = do(t, cp, TestWriteKey, "POST", "/api/facts", replica.Fact{Predicate: "does_not_exist", Args: []replica.Value{v("User", "a"), v("String", "x")}})
	wantStatus(t, res, 400, "does_not_exist")
}

func TestClearData(t *testing.T) {
	cp := startWithPolicy(t, Config{})
	must(t).Seq(cp.Client.Insert(role("ana", "member", "acme"), role("bob", "member", "acme")))
	for _, body := range []any{nil, "null", "{}"} {
		res := do(t, cp, TestWriteKey, "POST", "/api/clear_data", body)
		wantStatus(t, res, 200, "")
		if res.Header.Get("OsoOffset") == "" {
			t.Fatal("clear_data without OsoOffset")
		}
	}
	if got := storedFacts(t, cp, "has_role"); len(got) != 0 {
		t.Fatalf("facts after clear: %v", got)
	}
	res := do(t, cp, TestReadKey, "GET", "/api/policy", nil)
	wantStatus(t, res, 200, "actor User")

	off := Start(t, Config{DisableClearData: true})
	res = do(t, off, TestWriteKey, "POST", "/api/clear_data", nil)
	wantStatus(t, res, 403, "disabled")
}

func TestWriteAuth(t *testing.T) {
	cp := startWithPolicy(t, Config{})
	head := cp.Seq()
	endpoints := []struct{ method, path, body string }{
		{"POST", "/api/policy", `{"src": ""}`},
		{"POST", "/api/batch", `[]`},
		{"POST", "/api/facts", `{}`},
		{"DELETE", "/api/facts", `{}`},
		{"POST", "/api/bulk_load", `[]`},
		{"POST", "/api/bulk_delete", `[]`},
		{"POST", "/api/bulk", `{"delete": [], "tell": []}`},
		{"POST", "/api/clear_data", ``},
	}
	for _, ep := range endpoints {
		t.Run(ep.method+ep.path, func(t *testing.T) {
			wantStatus(t, do(t, cp, "", ep.method, ep.path, ep.body), 401, "missing API key")
			wantStatus(t, do(t, cp, "nope", ep.method, ep.path, ep.body), 401, "unknown API key")
			wantStatus(t, do(t, cp, TestReadKey, ep.method, ep.path, ep.body), 403, "write access")
		})
	}
	wantStatus(t, do(t, cp, "", "GET", "/api/policy", nil), 401, "")
	if cp.Seq() != head {
		t.Fatalf("unauthorised writes moved the seq to %d", cp.Seq())
	}
}

func TestHTTPProtocol(t *testing.T) {
	cp := startWithPolicy(t, Config{})
	must(t).Seq(cp.Client.Insert(role("ana", "member", "acme")))

	// Repeated slashes route without a redirect; X-Request-ID is echoed.
	c := NewClient(cp.URL+"/", TestWriteKey)
	c.URL = cp.URL + "/"
	req, _ := http.NewRequest("POST", cp.URL+"//api/batch", strings.NewReader(`[]`))
	req.Header.Set("Authorization", "Bearer "+TestWriteKey)
	req.Header.Set("X-Request-ID", "req-123")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-ID") != "req-123" || !strings.HasPrefix(resp.Header.Get("Server-Timing"), "oso;dur=") {
		t.Fatalf("//api/batch: %d, X-Request-ID %q, Server-Timing %q", resp.StatusCode, resp.Header.Get("X-Request-ID"), resp.Header.Get("Server-Timing"))
	}

	wantStatus(t, do(t, cp, TestWriteKey, "GET", "/api/nope", nil), 404, "no such endpoint")
	big := "[" + strings.Repeat(" ", MaxBodyBytes) + "]"
	wantStatus(t, do(t, cp, TestWriteKey, "POST", "/api/batch", big), 413, "larger than")

	// The Check API is served too (httpapi, Auth "tokens" fed by the
	// control plane's own tokens event), and counted per path.
	before := cp.Requests("/api/authorize")
	res := do(t, cp, TestReadKey, "POST", "/api/authorize", map[string]any{
		"actor_type": "User", "actor_id": "ana", "action": "read", "resource_type": "Organization", "resource_id": "acme", "context_facts": []any{},
	})
	wantStatus(t, res, 200, `"allowed":true`)
	wantStatus(t, do(t, cp, "nope", "POST", "/api/authorize", `{}`), 401, "")
	if after := cp.Requests("/api/authorize"); after != before+2 {
		t.Fatalf("controlplane_http_requests_total{path=/api/authorize}: %v -> %v", before, after)
	}
	res = do(t, cp, "", "GET", "/metrics", nil)
	wantStatus(t, res, 200, `controlplane_http_requests_total{path="/api/batch",status_code="200"}`)
	wantStatus(t, do(t, cp, "", "GET", "/healthcheck", nil), 200, "")
}
