package httpapi

import (
	"strings"
	"testing"
)

// TestLocalMalformed: every malformed local-authorization request or
// data-bindings file is a 400 whose message names the problem; never a 5xx.
func TestLocalMalformed(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	authz := `{"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository","resource_id":"anvil"}`
	withYAML := func(y string) string {
		return `{"query":` + authz + `,"data_bindings":` + mustJSONString(y) + `}`
	}
	pub := "facts:\n  is_public(Repository:_):\n    query: SELECT id FROM repos\n"
	sig := func(s string) string { return withYAML("facts:\n  " + s + ":\n    query: SELECT 1\n") }
	evalQ := `{"predicate":["allow",["u","a","r"]],"constraints":{"u":{"type":"User","ids":["bob"]},"a":{"type":"String","ids":["read"]},"r":{"type":"Repository"}}}`
	eval := func(mode string) string {
		return `{"query":` + evalQ + `,"data_bindings":` + mustJSONString(pub) + `,"mode":` + mode + `}`
	}
	list := func(q, extra string) string {
		return `{"query":` + q + `,"data_bindings":` + mustJSONString(pub) + extra + `}`
	}
	listQ := `{"actor_type":"User","actor_id":"bob","action":"read","resource_type":"Repository"}`
	cases := []struct {
		name, path, body, msg string
	}{
		{"body is an array", "/api/authorize_query", `[]`, "request body must be a JSON object"},
		{"broken JSON", "/api/authorize_query", `{"query":`, "malformed JSON"},
		{"no query", "/api/authorize_query", `{"data_bindings":"facts: {}"}`, "missing field query"},
		{"query is a string", "/api/authorize_query", `{"query":"x","data_bindings":"a"}`, "query must be an object"},
		{"no data_bindings", "/api/authorize_query", `{"query":` + authz + `}`, "data bindings are required for local authorization"},
		{"null data_bindings", "/api/authorize_query", `{"query":` + authz + `,"data_bindings":null}`, "data bindings are required for local authorization"},
		{"empty data_bindings", "/api/authorize_query", withYAML(""), "data bindings are required for local authorization"},
		{"blank data_bindings", "/api/list_query", withYAML("  \n "), "data bindings are required for local authorization"},
		{"numeric data_bindings", "/api/authorize_query", `{"query":` + authz + `,"data_bindings":42}`, "data_bindings must be the text"},
		{"invalid YAML", "/api/authorize_query", withYAML("facts: [unclosed"), "invalid YAML"},
		{"YAML tab indentation", "/api/authorize_query", withYAML("facts:\n\tx: 1"), "invalid YAML"},
		{"YAML list", "/api/authorize_query", withYAML("- a\n- b"), "must be a mapping with a facts key"},
		{"YAML scalar", "/api/authorize_query", withYAML("hello"), "must be a mapping with a facts key"},
		{"YAML comment only", "/api/authorize_query", withYAML("# nothing"), "data bindings are required"},
		{"no facts key", "/api/authorize_query", withYAML("sql_types: {}"), "no facts key"},
		{"facts a list", "/api/authorize_query", withYAML("facts: [a]"), "facts must be a mapping"},
		{"signature without parentheses", "/api/authorize_query", sig("is_public"), `"is_public"`},
		{"bad predicate name", "/api/authorize_query", sig(`"1x(Repository:_)"`), "is not a predicate name"},
		{"no arguments", "/api/authorize_query", sig("is_public()"), "at least one argument"},
		{"empty argument", "/api/authorize_query", sig(`"is_public(Repository:_,)"`), "empty argument"},
		{"bare wildcard", "/api/authorize_query", sig("is_public(_)"), "_ needs a type"},
		{"bad type name", "/api/authorize_query", sig("is_public(Repo-sitory:_)"), "is not a type name"},
		{"unterminated quote", "/api/authorize_query", sig(`'is_public(String:"abc)'`), "unterminated quote"},
		{"nested parentheses", "/api/authorize_query", sig("is_public(f(x))"), "unexpected"},
		{"missing value", "/api/authorize_query", sig("is_public(Repository:)"), "needs a value or _"},
		{"nine arguments", "/api/authorize_query", sig("p(String:_, String:_, String:_, String:_, String:_, String:_, String:_, String:_, String:_)"), "at most 8"},
		{"bad Boolean constant", "/api/authorize_query", sig("is_superuser(User:_, Boolean:maybe)"), "Boolean id"},
		{"bad Integer constant", "/api/authorize_query", sig("p(Integer:abc)"), "Integer id"},
		{"binding null", "/api/authorize_query", withYAML("facts:\n  is_public(Repository:_):\n"), "the binding is empty"},
		{"binding a scalar", "/api/authorize_query", withYAML("facts:\n  is_public(Repository:_): SELECT 1\n"), "must be a mapping with a query key"},
		{"binding without query", "/api/authorize_query", withYAML("facts:\n  is_public(Repository:_):\n    sql: SELECT 1\n"), "has no query key"},
		{"query null", "/api/authorize_query", withYAML("facts:\n  is_public(Repository:_):\n    query:\n"), "query must be an SQL SELECT text, not null"},
		{"query empty", "/api/authorize_query", withYAML("facts:\n  is_public(Repository:_):\n    query: ''\n"), "query is empty"},
		{"query only semicolons", "/api/authorize_query", withYAML("facts:\n  is_public(Repository:_):\n    query: ' ; ;'\n"), "query is empty"},
		{"query a list", "/api/authorize_query", withYAML("facts:\n  is_public(Repository:_):\n    query: [a]\n"), "query must be an SQL SELECT text, not a list"},
		{"duplicate signature", "/api/authorize_query", withYAML("facts:\n  is_public(Repository:_):\n    query: SELECT 1\n  'is_public( Repository:_ )':\n    query: SELECT 2\n"), "declared twice"},
		{"sql_types a list", "/api/authorize_query", withYAML(pub + "sql_types: [integer]\n"), "sql_types must be a mapping"},
		{"sql_types null value", "/api/authorize_query", withYAML(pub + "sql_types:\n  Repository:\n"), "sql_types.Repository"},
		{"sql_types injection", "/api/authorize_query", withYAML(pub + "sql_types:\n  Repository: integer; DROP TABLE x\n"), "is not an SQL type name"},
		{"missing actor_id", "/api/authorize_query", `{"query":{"actor_type":"User","action":"read","resource_type":"Repository","resource_id":"a"},"data_bindings":` + mustJSONString(pub) + `}`, "query.missing field actor_id"},
		{"unknown actor type", "/api/authorize_query", `{"query":{"actor_type":"Ghost","actor_id":"g","action":"read","resource_type":"Repository","resource_id":"a"},"data_bindings":` + mustJSONString(pub) + `}`, "no concrete type Ghost"},
		{"empty action", "/api/authorize_query", `{"query":{"actor_type":"User","actor_id":"a","action":"","resource_type":"Repository","resource_id":"a"},"data_bindings":` + mustJSONString(pub) + `}`, "query.action must not be empty"},
		{"bad Integer actor id", "/api/actions_query", `{"query":{"actor_type":"Integer","actor_id":"x","resource_type":"Repository","resource_id":"a"},"data_bindings":` + mustJSONString(pub) + `}`, "Integer id"},
		{"bad context fact", "/api/authorize_query", `{"query":{"actor_type":"User","actor_id":"a","action":"read","resource_type":"Repository","resource_id":"a","context_facts":[{"predicate":"nope","args":[{"type":"User","id":"a"}]}]},"data_bindings":` + mustJSONString(pub) + `}`, "context_facts[0]"},
		{"list without column", "/api/list_query", list(listQ, ""), "missing field column"},
		{"list column not a string", "/api/list_query", list(listQ, `,"column":5`), "column must be a string"},
		{"list empty column", "/api/list_query", list(listQ, `,"column":""`), "column must not be empty"},
		{"list unknown resource type", "/api/list_query", list(`{"actor_type":"User","actor_id":"bob","action":"read","resource_type":"Ghost"}`, `,"column":"id"`), `no concrete type "Ghost"`},
		{"evaluate without mode", "/api/evaluate_query_local", `{"query":` + evalQ + `,"data_bindings":` + mustJSONString(pub) + `}`, "missing field mode"},
		{"mode a string", "/api/evaluate_query_local", eval(`"select"`), "mode must be an object"},
		{"unknown mode", "/api/evaluate_query_local", eval(`{"mode":"sort"}`), `mode "sort" is not select or filter`},
		{"select columns not an object", "/api/evaluate_query_local", eval(`{"mode":"select","query_vars_to_output_column_names":["r"]}`), "query_vars_to_output_column_names must be an object"},
		{"select empty column name", "/api/evaluate_query_local", eval(`{"mode":"select","query_vars_to_output_column_names":{"r":""}}`), "query_vars_to_output_column_names.r must not be empty"},
		{"select unknown variable", "/api/evaluate_query_local", eval(`{"mode":"select","query_vars_to_output_column_names":{"zz":"c"}}`), "does not mention the variable zz"},
		{"filter without query_var", "/api/evaluate_query_local", eval(`{"mode":"filter","output_column_name":"id"}`), "mode.missing field query_var"},
		{"filter unknown variable", "/api/evaluate_query_local", eval(`{"mode":"filter","query_var":"zz","output_column_name":"id"}`), "does not mention the variable zz"},
		{"evaluate without constraints", "/api/evaluate_query_local", `{"query":{"predicate":["allow",["u"]]},"data_bindings":` + mustJSONString(pub) + `,"mode":{"mode":"select","query_vars_to_output_column_names":{}}}`, "missing field constraints"},
	}
	if len(cases) < 35 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.post(t, tc.path, tc.body)
			if r.status != 400 {
				t.Fatalf("status %d, want 400: %s", r.status, r.body)
			}
			if msg := r.message(t); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not contain %q", msg, tc.msg)
			}
		})
	}
}

// TestLocalIgnoresUnusableSignatures: binding signatures the policy cannot
// use (an undeclared type, an arity or types no rule reads, an unknown
// predicate), an sql_types entry for an undeclared type and an empty facts
// map are what Oso's own files contain and Oso accepts: the request is
// answered, from stored facts, and the signature is left out.
func TestLocalIgnoresUnusableSignatures(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	authz := `{"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository","resource_id":"anvil"}`
	for _, y := range []string{
		"facts:",
		"facts: {}\n",
		"facts:\n  has_role(Ghost:_, String:_, Repository:_):\n    query: SELECT 'ghost'\n",
		"facts:\n  has_role(User:_, String:_):\n    query: SELECT 'ghost'\n",
		"facts:\n  frobnicate(User:_):\n    query: SELECT 'ghost'\n",
		"facts:\n  has_relation(User:_, String:_, User:_):\n    query: SELECT 'ghost'\n",
		"facts:\n  is_public(Repository:_, Boolean:_):\n    query: SELECT 'ghost'\n",
		"facts: {}\nsql_types:\n  Ghost: integer\n",
	} {
		r := ts.post(t, "/api/authorize_query", `{"query":`+authz+`,"data_bindings":`+mustJSONString(y)+`}`)
		if r.status != 200 || !strings.Contains(string(r.body), "SELECT true AS allowed") || strings.Contains(string(r.body), "ghost") {
			t.Errorf("%q: %d %s, want 200 with constant SQL (alice reads anvil from stored facts)", y, r.status, r.body)
		}
	}
}
