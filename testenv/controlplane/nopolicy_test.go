package controlplane

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// TestEnvironmentWithoutPolicy: a new environment answers reads as an empty
// policy does (deny, empty lists, metadata with only the global entry),
// refuses fact inserts with a message saying why, accepts deletes and
// clear_data, and takes facts once a policy is set.
func TestEnvironmentWithoutPolicy(t *testing.T) {
	cp := Start(t, Config{})
	reads := []struct {
		name, method, path, body, want string
	}{
		{"authorize", "POST", "/api/authorize",
			`{"actor_type":"User","actor_id":"ana","action":"read","resource_type":"Organization","resource_id":"acme"}`, `{"allowed":false}`},
		{"authorize with a context fact", "POST", "/api/authorize",
			`{"actor_type":"User","actor_id":"ana","action":"read","resource_type":"Organization","resource_id":"acme","context_facts":[{"predicate":"has_role","args":[{"type":"User","id":"ana"},{"type":"String","id":"member"},{"type":"Organization","id":"acme"}]}]}`,
			`{"allowed":false}`},
		{"authorize_resources", "POST", "/api/authorize_resources",
			`{"actor_type":"User","actor_id":"ana","action":"read","resources":[{"type":"Organization","id":"acme"}]}`, `{"results":[]}`},
		{"list", "POST", "/api/list", `{"actor_type":"User","actor_id":"ana","action":"read","resource_type":"Organization"}`, `{"results":[]}`},
		{"actions", "POST", "/api/actions", `{"actor_type":"User","actor_id":"ana","resource_type":"Organization","resource_id":"acme"}`, `{"results":[]}`},
		{"evaluate_query", "POST", "/api/evaluate_query",
			`{"predicate":["allow",["u","a","r"]],"calls":[],"constraints":{"u":{"type":"User","ids":["ana"]},"a":{"type":"String","ids":["read"]},"r":{"type":"Organization","ids":null}}}`, `{"results":[]}`},
		{"query", "POST", "/api/query", `{"fact":{"predicate":"has_role","args":[{"type":"User","id":"ana"},{},{}]}}`, `{"results":[]}`},
		{"facts", "GET", "/api/facts?predicate=has_role", "", `[]`},
		{"policy_metadata", "GET", "/api/policy_metadata", "", `{"metadata":{"resources":{"global":{"roles":[],"permissions":[],"relations":{}}}}}`},
		{"policy", "GET", "/api/policy", "", `{"policy":null}`},
	}
	for _, tc := range reads {
		t.Run("read "+tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			res := do(t, cp, cp.ReadKey, tc.method, tc.path, body)
			wantStatus(t, res, http.StatusOK, "")
			var got, want any
			if err := json.Unmarshal(res.Body, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %s, want %s", res.Body, tc.want)
			}
		})
	}

	ana := role("ana", "member", "acme")
	insert := `[{"inserts":[{"predicate":"has_role","args":[{"type":"User","id":"ana"},{"type":"String","id":"member"},{"type":"Organization","id":"acme"}]}]}]`
	writes := []struct {
		name, method, path, body string
		status                   int
		message                  string
	}{
		{"batch insert", "POST", "/api/batch", insert, 400, "no policy yet"},
		{"deprecated insert", "POST", "/api/facts", `{"predicate":"has_role","args":[{"type":"User","id":"ana"},{"type":"String","id":"member"},{"type":"Organization","id":"acme"}]}`, 400, "no policy yet"},
		{"bulk with a tell", "POST", "/api/bulk", `{"delete":[],"tell":[{"predicate":"is_public","args":[{"type":"Repository","id":"r"}]}]}`, 400, "no policy yet"},
		{"batch delete", "POST", "/api/batch", `[{"deletes":[{"predicate":"has_role","args":[{"type":"User","id":"ana"},{"type":null,"id":null},{"type":null,"id":null}]}]}]`, 200, ""},
		{"deprecated delete", "DELETE", "/api/facts", `{"predicate":"is_public","args":[{"type":"Repository","id":"r"}]}`, 200, ""},
		{"bulk_delete", "POST", "/api/bulk_delete", `[{"predicate":"is_public","args":[{"type":null,"id":null}]}]`, 200, ""},
		{"clear_data", "POST", "/api/clear_data", ``, 200, ""},
	}
	for _, tc := range writes {
		t.Run("write "+tc.name, func(t *testing.T) {
			res := do(t, cp, cp.WriteKey, tc.method, tc.path, tc.body)
			wantStatus(t, res, tc.status, tc.message)
			if off := res.Header.Get("OsoOffset"); (tc.status == 200) != (off != "") {
				t.Errorf("status %d with OsoOffset %q", res.Status, off)
			}
		})
	}
	if got := storedFacts(t, cp, "has_role"); len(got) != 0 {
		t.Fatalf("facts stored without a policy: %v", got)
	}

	// Once a policy is set, the same insert is accepted and reads see it.
	if _, err := cp.Client.SetPolicy(testPolicy); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Client.Insert(ana); err != nil {
		t.Fatalf("insert after the policy: %v", err)
	}
	res := do(t, cp, cp.ReadKey, "POST", "/api/authorize",
		`{"actor_type":"User","actor_id":"ana","action":"read","resource_type":"Organization","resource_id":"acme"}`)
	wantStatus(t, res, 200, `{"allowed":true}`)
}
