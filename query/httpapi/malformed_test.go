package httpapi

import (
	"strings"
	"testing"
)

// TestMalformedRequests: every bad request is a 4xx whose JSON message
// names the problem (the application developer sees it, check-api.md §8.3).
func TestMalformedRequests(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	const (
		authz = "/api/authorize"
		res   = "/api/authorize_resources"
		list  = "/api/list"
		acts  = "/api/actions"
		eval  = "/api/evaluate_query"
		qry   = "/api/query"
		facts = "/api/facts"
	)
	ok := `"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository","resource_id":"anvil"`
	listOK := `"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository"`
	evalVars := `"constraints":{"u":{"type":"User","ids":null},"a":{"type":"String","ids":["read"]},"r":{"type":"Repository","ids":null}}`
	cases := []struct {
		name, path, body string // GET when path has no body and starts with facts
		status           int
		want             string // substring of the message
	}{
		// Body syntax.
		{"empty body", authz, "", 400, "request body is empty"},
		{"blank body", authz, "  \n ", 400, "request body is empty"},
		{"truncated JSON", authz, `{"actor_type":"User"`, 400, "malformed JSON at line 1, column 21"},
		{"syntax error with position", authz, "{\n  \"actor_type\": \"User\",\n  \"actor_id\" \"alice\"\n}", 400, "malformed JSON at line 3, column 14"},
		{"trailing comma", authz, `{"actor_type":"User",}`, 400, "malformed JSON at line 1, column 22"},
		{"two objects", authz, `{"a":1} {"b":2}`, 400, "unexpected data after the JSON object"},
		{"array body", authz, `[]`, 400, "request body must be a JSON object, not an array"},
		{"string body", authz, `"hi"`, 400, "request body must be a JSON object, not a string"},
		{"null body", authz, `null`, 400, "request body must be a JSON object, not null"},
		{"not JSON at all", authz, `actor=alice`, 400, "malformed JSON at line 1, column 1"},

		// authorize fields.
		{"missing actor_type", authz, `{"actor_id":"alice","action":"read","resource_type":"Repository","resource_id":"anvil"}`, 400, "missing field actor_type"},
		{"missing resource_id", authz, `{"actor_type":"User","actor_id":"alice","action":"read","resource_type":"Repository"}`, 400, "missing field resource_id"},
		{"missing action", authz, `{"actor_type":"User","actor_id":"alice","resource_type":"Repository","resource_id":"anvil"}`, 400, "missing field action"},
		{"actor_type number", authz, `{"actor_type":5,"actor_id":"alice","action":"read","resource_type":"Repository","resource_id":"anvil"}`, 400, "actor_type must be a string, not a number"},
		{"actor_id null", authz, `{"actor_type":"User","actor_id":null,"action":"read","resource_type":"Repository","resource_id":"anvil"}`, 400, "actor_id must be a string, not null"},
		{"actor_id object", authz, `{"actor_type":"User","actor_id":{"id":"a"},"action":"read","resource_type":"Repository","resource_id":"anvil"}`, 400, "actor_id must be a string, not an object"},
		{"empty actor_id", authz, `{"actor_type":"User","actor_id":"","action":"read","resource_type":"Repository","resource_id":"anvil"}`, 400, "actor_id must not be empty"},
		{"empty action", authz, `{"actor_type":"User","actor_id":"alice","action":"","resource_type":"Repository","resource_id":"anvil"}`, 400, "action must not be empty"},
		{"action boolean", authz, `{"actor_type":"User","actor_id":"alice","action":true,"resource_type":"Repository","resource_id":"anvil"}`, 400, "action must be a string, not a boolean"},
		{"empty resource_type", authz, `{"actor_type":"User","actor_id":"alice","action":"read","resource_type":"","resource_id":"anvil"}`, 400, "resource_type must not be empty"},
		{"bad Integer id", authz, `{"actor_type":"Integer","actor_id":"12x","action":"read","resource_type":"Repository","resource_id":"anvil"}`, 400, `actor_id: Integer id "12x" is not a base-10 signed 64-bit integer`},
		{"bad Boolean id", authz, `{"actor_type":"User","actor_id":"a","action":"read","resource_type":"Boolean","resource_id":"yes"}`, 400, `resource_id: Boolean id "yes" is not true or false`},
		{"id too long", authz, `{"actor_type":"User","actor_id":"` + strings.Repeat("a", 17<<10) + `","action":"read","resource_type":"Repository","resource_id":"anvil"}`, 400, "actor_id: id of User value is 17408 bytes"},
		{"undeclared actor type", authz, `{"actor_type":"Robot","actor_id":"r2","action":"read","resource_type":"Repository","resource_id":"anvil"}`, 400, "unknown type Robot"},
		{"abstract resource type", authz, `{"actor_type":"User","actor_id":"a","action":"read","resource_type":"Resource","resource_id":"anvil"}`, 400, "Resource is abstract"},

		// context_facts.
		{"context_facts not an array", authz, `{` + ok + `,"context_facts":{}}`, 400, "context_facts must be an array, not an object"},
		{"context fact not an object", authz, `{` + ok + `,"context_facts":["is_public"]}`, 400, "context_facts[0] must be an object with predicate and args, not a string"},
		{"context fact without predicate", authz, `{` + ok + `,"context_facts":[{"args":[{"type":"Repository","id":"x"}]}]}`, 400, "context_facts[0].predicate is missing"},
		{"context fact empty predicate", authz, `{` + ok + `,"context_facts":[{"predicate":"","args":[{"type":"Repository","id":"x"}]}]}`, 400, "context_facts[0].predicate must not be empty"},
		{"context fact without args", authz, `{` + ok + `,"context_facts":[{"predicate":"is_public"}]}`, 400, "context_facts[0].args is missing"},
		{"context fact no arguments", authz, `{` + ok + `,"context_facts":[{"predicate":"is_public","args":[]}]}`, 400, "context_facts[0].args must not be empty"},
		{"context fact too many arguments", authz, `{` + ok + `,"context_facts":[{"predicate":"p","args":[` + strings.Repeat(`{"type":"User","id":"a"},`, 8) + `{"type":"User","id":"a"}]}]}`, 400, "context_facts[0].args has 9 arguments; at most 8"},
		{"context fact empty id", authz, `{` + ok + `,"context_facts":[{"predicate":"is_public","args":[{"type":"Repository","id":"x"}]},{"predicate":"is_public","args":[{"type":"Repository","id":"y"}]},{"predicate":"has_role","args":[{"type":"User","id":""},{"type":"String","id":"reader"},{"type":"Repository","id":"x"}]}]}`, 400, "context_facts[2].args[0].id must not be empty"},
		{"context fact wildcard id", authz, `{` + ok + `,"context_facts":[{"predicate":"is_public","args":[{"type":"Repository","id":null}]}]}`, 400, "context_facts[0].args[0].id must not be null (context facts must be concrete)"},
		{"context fact missing type", authz, `{` + ok + `,"context_facts":[{"predicate":"is_public","args":[{"id":"x"}]}]}`, 400, "context_facts[0].args[0].type is missing"},
		{"context fact arg not an object", authz, `{` + ok + `,"context_facts":[{"predicate":"is_public","args":["x"]}]}`, 400, "context_facts[0].args[0] must be an object with type and id, not a string"},
		{"context fact bad Integer", authz, `{` + ok + `,"context_facts":[{"predicate":"limit","args":[{"type":"Integer","id":"1.5"}]}]}`, 400, `context_facts[0].args[0]: Integer id "1.5"`},
		{"context fact of undeclared type", authz, `{` + ok + `,"context_facts":[{"predicate":"is_public","args":[{"type":"Planet","id":"x"}]}]}`, 400, "context_facts[0]"},

		// authorize_resources.
		{"resources missing", res, `{"actor_type":"User","actor_id":"a","action":"read"}`, 400, "missing field resources"},
		{"resources null", res, `{"actor_type":"User","actor_id":"a","action":"read","resources":null}`, 400, "resources must be an array, not null"},
		{"resources object", res, `{"actor_type":"User","actor_id":"a","action":"read","resources":{}}`, 400, "resources must be an array, not an object"},
		{"resource empty type", res, `{"actor_type":"User","actor_id":"a","action":"read","resources":[{"type":"Repository","id":"a"},{"type":"","id":"b"}]}`, 400, "resources[1].type must not be empty"},
		{"resource null id", res, `{"actor_type":"User","actor_id":"a","action":"read","resources":[{"type":"Repository","id":null}]}`, 400, "resources[0].id must not be null (resources must be concrete)"},

		// list.
		{"list missing resource_type", list, `{"actor_type":"User","actor_id":"a","action":"read"}`, 400, "missing field resource_type"},
		{"page_size zero", list, `{` + listOK + `,"page_size":0}`, 400, "page_size must be at least 1, not 0"},
		{"page_size negative", list, `{` + listOK + `,"page_size":-5}`, 400, "page_size must be at least 1, not -5"},
		{"page_size fraction", list, `{` + listOK + `,"page_size":2.5}`, 400, "page_size must be an integer, not 2.5"},
		{"page_size string", list, `{` + listOK + `,"page_size":"10"}`, 400, "page_size must be an integer, not a string"},
		{"page_size huge exponent", list, `{` + listOK + `,"page_size":1e999}`, 400, "page_size must be an integer"},
		{"page_token foreign", list, `{` + listOK + `,"page_token":"eyJvZmZzZXQiOjEwMDAwfQ"}`, 400, "invalid page_token"},
		{"list unknown resource type", list, `{` + strings.Replace(listOK, "Repository", "Planet", 1) + `}`, 400, "unknown type Planet"},

		// actions.
		{"actions missing resource_id", acts, `{"actor_type":"User","actor_id":"a","resource_type":"Repository"}`, 400, "missing field resource_id"},
		{"actions actor_id number", acts, `{"actor_type":"User","actor_id":7,"resource_type":"Repository","resource_id":"x"}`, 400, "actor_id must be a string, not a number"},

		// evaluate_query.
		{"eval missing predicate", eval, `{"calls":[],` + evalVars + `}`, 400, "missing field predicate"},
		{"eval predicate wrong shape", eval, `{"predicate":["allow"],"calls":[],` + evalVars + `}`, 400, "predicate must be a 2-element array [name, [variables...]], not an array of 1 elements"},
		{"eval predicate a string", eval, `{"predicate":"allow","calls":[],` + evalVars + `}`, 400, "predicate must be a 2-element array"},
		{"eval predicate name not a string", eval, `{"predicate":[1,["u"]],"calls":[],` + evalVars + `}`, 400, "predicate[0] must be a string, not a number"},
		{"eval predicate args not an array", eval, `{"predicate":["allow","u"],"calls":[],` + evalVars + `}`, 400, "predicate[1] must be an array of variable names, not a string"},
		{"eval no variables", eval, `{"predicate":["allow",[]],"calls":[],` + evalVars + `}`, 400, "predicate[1] must name at least one variable"},
		{"eval variable not a string", eval, `{"predicate":["allow",["u",{"type":"String","id":"read"},"r"]],"calls":[],` + evalVars + `}`, 400, "predicate[1][1] must be a string, not an object"},
		{"eval undeclared variable", eval, `{"predicate":["allow",["u","a","x"]],"calls":[],` + evalVars + `}`, 400, "predicate[1][2]: variable x is not declared in constraints"},
		{"eval calls not an array", eval, `{"predicate":["allow",["u","a","r"]],"calls":{},` + evalVars + `}`, 400, "calls must be an array, not an object"},
		{"eval bad call", eval, `{"predicate":["allow",["u","a","r"]],"calls":[["has_relation"]],` + evalVars + `}`, 400, "calls[0] must be a 2-element array"},
		{"eval call undeclared variable", eval, `{"predicate":["allow",["u","a","r"]],"calls":[["has_relation",["r","p","o"]]],` + evalVars + `}`, 400, "calls[0][1][1]: variable p is not declared in constraints"},
		{"eval missing constraints", eval, `{"predicate":["allow",["u","a","r"]],"calls":[]}`, 400, "missing field constraints"},
		{"eval constraints array", eval, `{"predicate":["allow",["u","a","r"]],"calls":[],"constraints":[]}`, 400, "constraints must be an object"},
		{"eval constraint without type", eval, `{"predicate":["allow",["u"]],"calls":[],"constraints":{"u":{"ids":null}}}`, 400, "constraints.u.type is missing"},
		{"eval constraint ids not array", eval, `{"predicate":["allow",["u"]],"calls":[],"constraints":{"u":{"type":"User","ids":"alice"}}}`, 400, "constraints.u.ids must be an array of strings or null, not a string"},
		{"eval constraint empty id", eval, `{"predicate":["allow",["u"]],"calls":[],"constraints":{"u":{"type":"User","ids":[""]}}}`, 400, "constraints.u.ids[0] must not be empty"},
		{"eval abstract type", eval, `{"predicate":["allow",["u","a","r"]],"calls":[],"constraints":{"u":{"type":"Actor","ids":null},"a":{"type":"String","ids":["read"]},"r":{"type":"Repository","ids":null}}}`, 400, "abstract type Actor"},
		{"eval unknown type", eval, `{"predicate":["allow",["u","a","r"]],"calls":[],"constraints":{"u":{"type":"Planet","ids":null},"a":{"type":"String","ids":["read"]},"r":{"type":"Repository","ids":null}}}`, 400, "unknown type Planet"},

		// query.
		{"query missing fact", qry, `{"context_facts":[]}`, 400, "missing field fact"},
		{"query fact not an object", qry, `{"fact":"has_role"}`, 400, "fact must be an object with predicate and args, not a string"},
		{"query id without type", qry, `{"fact":{"predicate":"has_role","args":[{"type":null,"id":"alice"}]}}`, 400, "fact.args[0] has an id but no type"},
		{"query empty args", qry, `{"fact":{"predicate":"has_role","args":[]}}`, 400, "fact.args must not be empty"},
		{"query empty type", qry, `{"fact":{"predicate":"has_role","args":[{"type":"","id":null}]}}`, 400, "fact.args[0].type must not be empty"},
		{"query arg null", qry, `{"fact":{"predicate":"has_role","args":[null]}}`, 400, "fact.args[0] must be an object with type and id (either may be null), not null"},

		// GET /api/facts.
		{"facts without parameters", facts, "", 400, "the predicate query parameter is required"},
		{"facts empty predicate", facts + "?predicate=", "", 400, "the predicate query parameter is required"},
		{"facts id without type", facts + "?predicate=has_role&args.0.id=alice", "", 400, "args.0.id needs args.0.type"},
		{"facts malformed index", facts + "?predicate=has_role&args.x.type=User", "", 400, "malformed query parameter args.x.type"},
		{"facts negative index", facts + "?predicate=has_role&args.-1.type=User", "", 400, "malformed query parameter args.-1.type"},
		{"facts unknown field", facts + "?predicate=has_role&args.0.kind=User", "", 400, "malformed query parameter args.0.kind"},
		{"facts index too high", facts + "?predicate=has_role&args.99.type=User", "", 400, "query parameter args.99.type: the index must be below 8"},
		{"facts repeated predicate", facts + "?predicate=a&predicate=b", "", 400, "the predicate query parameter is given 2 times"},
		{"facts bad Integer", facts + "?predicate=limit&args.0.type=Integer&args.0.id=ten", "", 400, `args.0: Integer id "ten"`},
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if strings.HasPrefix(tc.path, facts) {
				method = "GET"
			}
			r := send(t, ts.Client(), method, ts.URL+tc.path, tc.body, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if msg := r.message(t); !strings.Contains(msg, tc.want) {
				t.Errorf("message %q does not contain %q", msg, tc.want)
			}
			checkAPIHeaders(t, r, "3")
		})
	}
}
