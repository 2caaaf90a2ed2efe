package controlplane

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestLocalAuthorizationServed: the control plane answers the four
// local-authorization endpoints with {"sql": ...} (it mounts httpapi's
// Check API, which now includes them), instead of 404.
func TestLocalAuthorizationServed(t *testing.T) {
	cp := startWithPolicy(t, Config{})
	must(t).Seq(cp.Client.Insert(role("bob", "member", "acme")))
	bindings := "facts:\n  has_relation(Repository:_, String:parent, Organization:_):\n    query: SELECT id, org_id FROM repos\n"
	q := map[string]any{"actor_type": "User", "actor_id": "bob", "action": "read", "resource_type": "Repository"}
	cases := []struct {
		path string
		body map[string]any
		want string
	}{
		{"/api/authorize_query", map[string]any{"query": with(q, "resource_id", "r1"), "data_bindings": bindings}, "AS allowed"},
		{"/api/list_query?", map[string]any{"query": q, "data_bindings": bindings, "column": "id"}, "id IN (SELECT _o_b"},
		{"/api/actions_query", map[string]any{"query": with(q, "resource_id", "r1"), "data_bindings": bindings}, "actions"},
		{"/api/evaluate_query_local", map[string]any{"query": map[string]any{
			"predicate":   []any{"allow", []any{"u", "a", "r"}},
			"constraints": map[string]any{"u": map[string]any{"type": "User", "ids": []string{"bob"}}, "a": map[string]any{"type": "String", "ids": []string{"read"}}, "r": map[string]any{"type": "Repository"}},
		}, "data_bindings": bindings, "mode": map[string]any{"mode": "select", "query_vars_to_output_column_names": map[string]any{}}}, "AS result"},
	}
	for _, tc := range cases {
		res := do(t, cp, cp.ReadKey, "POST", tc.path, tc.body)
		wantStatus(t, res, 200, tc.want)
		var m map[string]any
		if err := json.Unmarshal(res.Body, &m); err != nil || len(m) != 1 || !strings.Contains(m["sql"].(string), tc.want) {
			t.Errorf("%s: %s", tc.path, res.Body)
		}
	}
	res := do(t, cp, cp.ReadKey, "POST", "/api/list_query", map[string]any{"query": q, "data_bindings": nil, "column": "id"})
	wantStatus(t, res, 400, "data bindings are required")
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{k: v}
	for a, b := range m {
		out[a] = b
	}
	return out
}
