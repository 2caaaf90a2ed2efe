package httpapi

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/outpost-authz/outpost/replica"
)

// TestNodeWithoutPolicy: a node that has loaded a state without a policy
// (a new environment's snapshot) is healthy and answers every read as an
// empty policy does; before any state it answers 503; writes stay 405.
func TestNodeWithoutPolicy(t *testing.T) {
	reads := []struct {
		name, method, path, body, want string
	}{
		{"authorize", "POST", "/api/authorize", authzBody("User:alice", "read", "Repository:anvil"), `{"allowed":false}`},
		{"authorize with a context fact", "POST", "/api/authorize",
			`{"actor_type":"User","actor_id":"a","action":"read","resource_type":"Doc","resource_id":"d","context_facts":[{"predicate":"owner","args":[{"type":"User","id":"a"},{"type":"Doc","id":"d"}]}]}`,
			`{"allowed":false}`},
		{"authorize_resources", "POST", "/api/authorize_resources",
			`{"actor_type":"User","actor_id":"carol","action":"write","resources":[{"type":"Repository","id":"gizmo"}]}`, `{"results":[]}`},
		{"list", "POST", "/api/list", `{"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository"}`, `{"results":[]}`},
		{"list with page_size", "POST", "/api/list", `{"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository","page_size":10}`, `{"results":[],"next_page_token":null}`},
		{"actions", "POST", "/api/actions", `{"actor_type":"User","actor_id":"carol","resource_type":"Repository","resource_id":"gizmo"}`, `{"results":[]}`},
		{"evaluate_query", "POST", "/api/evaluate_query",
			`{"predicate":["allow",["u","a","r"]],"calls":[],"constraints":{"u":{"type":"User","ids":null},"a":{"type":"String","ids":["read"]},"r":{"type":"Repository","ids":null}}}`, `{"results":[]}`},
		{"query", "POST", "/api/query", `{"fact":{"predicate":"has_role","args":[{},{},{}]}}`, `{"results":[]}`},
		{"facts", "GET", "/api/facts?predicate=has_role", "", `[]`},
		{"policy_metadata", "GET", "/api/policy_metadata", "", `{"metadata":{"resources":{"global":{"roles":[],"permissions":[],"relations":{}}}}}`},
		{"policy", "GET", "/api/policy", "", `{"policy":null}`},
		{"healthcheck", "GET", "/healthcheck", "", `{"message":"ok"}`},
	}
	check := func(t *testing.T, ts *testServer, revision string) {
		t.Helper()
		for _, tc := range reads {
			r := send(t, ts.Client(), tc.method, ts.URL+tc.path, tc.body, nil)
			if r.status != http.StatusOK {
				t.Errorf("%s: status %d: %s", tc.name, r.status, r.body)
				continue
			}
			want := response{body: []byte(tc.want)}.json(t)
			if got := r.json(t); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: got %s, want %s", tc.name, r.body, tc.want)
			}
			if tc.path != "/healthcheck" {
				checkAPIHeaders(t, r, revision)
			}
		}
		r := ts.post(t, "/api/batch", `[]`)
		if r.status != http.StatusMethodNotAllowed {
			t.Errorf("write: %d %s", r.status, r.body)
		}
		r = ts.post(t, "/api/authorize", `{"actor_type":"User","actor_id":"","action":"read","resource_type":"Doc","resource_id":"d"}`)
		if r.status != http.StatusBadRequest {
			t.Errorf("a malformed question is still 400: %d %s", r.status, r.body)
		}
	}

	t.Run("state with events but no policy", func(t *testing.T) {
		st := newState()
		(&applier{t, st}).tokens(testKey)
		check(t, startServer(t, st, nil), "1")
	})

	t.Run("bootstrapped empty state at revision 0", func(t *testing.T) {
		ts := startServer(t, newState(), func(c *Config) { c.Auth = AuthNone })
		r := ts.post(t, "/api/authorize", authzBody("User:alice", "read", "Repository:anvil"))
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("before any state: %d %s", r.status, r.body)
		}
		ts.eng.SetState(replica.New(replica.Config{Env: "t"}))
		check(t, ts, "0")
	})
}

// TestNodeExpect: a node accepts Oso Migrate's parity report like the
// control plane (200 {}, counted), checks its key and refuses a malformed
// report with 400, even before a state is loaded.
func TestNodeExpect(t *testing.T) {
	for _, st := range []struct {
		name  string
		state *replica.State
	}{{"loaded", loadedState(t)}, {"no state yet", newState()}} {
		t.Run(st.name, func(t *testing.T) {
			auth := AuthTokens
			hdr := map[string]string(nil)
			if st.name == "no state yet" {
				auth = AuthNone
			}
			ts := startServer(t, st.state, func(c *Config) { c.Auth = auth })
			cases := []struct {
				name, body string
				hdr        map[string]string
				status     int
				message    string
			}{
				{"true", `{"request_id":"6f1c9a52","expected":true}`, hdr, 200, ""},
				{"false", `{"request_id":"r2","expected":false}`, hdr, 200, ""},
				{"missing request_id", `{"expected":true}`, hdr, 400, "missing field request_id"},
				{"numeric request_id", `{"request_id":1,"expected":true}`, hdr, 400, "request_id must be a string, not a number"},
				{"missing expected", `{"request_id":"r"}`, hdr, 400, "missing field expected (a boolean)"},
				{"string expected", `{"request_id":"r","expected":"yes"}`, hdr, 400, "expected must be a boolean, not a string"},
				{"not an object", `[1]`, hdr, 400, ""},
			}
			if auth == AuthTokens {
				cases = append(cases, struct {
					name, body string
					hdr        map[string]string
					status     int
					message    string
				}{"wrong key", `{"request_id":"r","expected":true}`, map[string]string{"Authorization": "Bearer nope"}, 401, "invalid API key"})
			}
			for _, tc := range cases {
				r := send(t, ts.Client(), "POST", ts.URL+"/api/expect", tc.body, tc.hdr)
				if r.status != tc.status {
					t.Errorf("%s: status %d, want %d: %s", tc.name, r.status, tc.status, r.body)
					continue
				}
				if tc.status == 200 && r.message(t) != expectMessage {
					t.Errorf("%s: body %q, want a message", tc.name, r.body)
				}
				if tc.message != "" && r.message(t) != tc.message {
					t.Errorf("%s: message %q, want %q", tc.name, r.message(t), tc.message)
				}
			}
			for label, want := range map[string]float64{"true": 1, "false": 1} {
				if got := counterValue(t, ts.reg, "outpost_expect_reports_total", map[string]string{"expected": label}); got != want {
					t.Errorf("expected=%s reports: %v, want %v", label, got, want)
				}
			}
			if r := send(t, ts.Client(), "GET", ts.URL+"/api/expect", "", hdr); r.status != http.StatusMethodNotAllowed {
				t.Errorf("GET /api/expect: %d %s", r.status, r.body)
			}
		})
	}
}
