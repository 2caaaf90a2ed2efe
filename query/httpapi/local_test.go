package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
)

const testBindings = `facts:
  "has_relation(Repository:_, String:parent, Organization:_)":
    query: SELECT id, org_id FROM repos
  is_public(Repository:_):
    query: |-
      select id
      from repos where public
    db: main
dbs:
  main: {}
`

func localReq(query string, extra string) string {
	b := `{"query":` + query + `,"data_bindings":` + mustJSONString(testBindings)
	if extra != "" {
		b += "," + extra
	}
	return b + "}"
}

func mustJSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// sqlOf checks a local-authorization success: 200 and exactly {"sql": ...}.
func sqlOf(t *testing.T, r response) string {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	obj := r.object(t)
	if len(obj) != 1 {
		t.Fatalf("answer has keys %v, want only sql", keys(obj))
	}
	s, ok := obj["sql"].(string)
	if !ok || s == "" {
		t.Fatalf("sql is %v", obj["sql"])
	}
	return s
}

func TestLocalEndpoints(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	authz := authzBody("User:alice", "read", "Repository:anvil")
	cases := []struct {
		path, body string
		want       []string // substrings of the SQL
	}{
		// alice reads anvil from a stored role: no database needed
		{"/api/authorize_query?", localReq(authz, ""), []string{"SELECT true AS allowed"}},
		// bob reads gizmo through the parent relation, now in the database
		{"/api/authorize_query", localReq(authzBody("User:bob", "read", "Repository:gizmo"), ""),
			[]string{"AS allowed", "FROM repos", ") AS _o_b", "= 'gizmo'", "= 'acme'"}},
		{"/api/list_query?", localReq(`{"actor_type":"User","actor_id":"bob","action":"read","resource_type":"Repository"}`, `"column":"repositories.id"`),
			[]string{"repositories.id IN (SELECT _o_b", " UNION ALL SELECT "}},
		{"/api/actions_query", localReq(`{"actor_type":"User","actor_id":"alice","resource_type":"Repository","resource_id":"anvil"}`, ""),
			[]string{"'read'::text AS actions"}},
		{"/api/evaluate_query_local", localReq(`{"predicate":["allow",["u","a","r"]],"constraints":{"u":{"type":"User","ids":["bob"]},"a":{"type":"String","ids":["read"]},"r":{"type":"Repository"}}}`,
			`"mode":{"mode":"select","query_vars_to_output_column_names":{"r":"repo_id"}}`), []string{`AS "repo_id"`}},
		{"/api/evaluate_query_local", localReq(`{"predicate":["allow",["u","a","r"]],"constraints":{"u":{"type":"User","ids":["bob"]},"a":{"type":"String","ids":["read"]},"r":{"type":"Repository","ids":["anvil"]}}}`,
			`"mode":{"mode":"select","query_vars_to_output_column_names":{}}`), []string{"AS result"}},
		{"/api/evaluate_query_local", localReq(`{"predicate":["allow",["u","a","r"]],"constraints":{"u":{"type":"User","ids":["bob"]},"a":{"type":"String","ids":["read"]},"r":{"type":"Repository"}}}`,
			`"mode":{"mode":"filter","query_var":"r","output_column_name":"x.id"}`), []string{"x.id IN (SELECT _o_b"}},
	}
	for _, tc := range cases {
		r := ts.post(t, tc.path, tc.body)
		sql := sqlOf(t, r)
		for _, w := range tc.want {
			if !strings.Contains(sql, w) {
				t.Errorf("%s: SQL %q lacks %q", tc.path, sql, w)
			}
		}
		checkAPIHeaders(t, r, "3")
	}
	// without a key: 401, like every Check API endpoint
	r := send(t, ts.Client(), "POST", ts.URL+"/api/list_query", localReq(authz, ""), map[string]string{"Authorization": ""})
	if r.status != 401 {
		t.Errorf("no key: %d %s", r.status, r.body)
	}
	// a second call with the same text is served from the bindings cache
	before := bindingsCache.Len()
	sqlOf(t, ts.post(t, "/api/authorize_query", localReq(authz, "")))
	if bindingsCache.Len() != before {
		t.Errorf("cache grew from %d to %d on a repeated text", before, bindingsCache.Len())
	}
	mfs, _ := ts.reg.Gather()
	found := false
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == "/api/list_query" || l.GetValue() == "list_query" {
					found = true
				}
			}
		}
	}
	if !found {
		t.Error("no metric series labelled with the list_query route")
	}
}
