package httpapi

import (
	"net/http"
	"reflect"
	"testing"
)

// testPolicyMetadata is GET /api/policy_metadata for testPolicy: two
// resources and an actor, roles and permissions sorted, and the global
// entry although the policy has no global block (check-api.md §4.8).
const testPolicyMetadata = `{"metadata":{"resources":{
"Organization":{"roles":["admin","member"],"permissions":["invite","read"],"relations":{}},
"Repository":{"roles":["maintainer","reader"],"permissions":["read","write"],"relations":{"parent":"Organization"}},
"User":{"roles":[],"permissions":[],"relations":{}},
"global":{"roles":[],"permissions":[],"relations":{}}}}}`

const globalPolicy = `actor User {}
actor Bot { permissions = ["impersonate"]; }
global {
  roles = ["support", "admin"];
  permissions = ["create_org", "audit"];
  "create_org" if "admin";
  "audit" if "support";
}
resource Org {
  roles = ["owner"];
  permissions = ["delete"];
  relations = { creator: User };
  "owner" if global "admin";
  "delete" if "owner";
}
`

// TestPolicyMetadataWholeObject compares the whole policy_metadata answer
// with and without a global block, and for a loaded state with no policy.
func TestPolicyMetadataWholeObject(t *testing.T) {
	cases := []struct {
		name   string
		policy string // "" = no policy event
		want   string
	}{
		{"two resources, an actor, no global block", testPolicy, testPolicyMetadata},
		{"a global block and an actor with permissions", globalPolicy, `{"metadata":{"resources":{
"Bot":{"roles":[],"permissions":["impersonate"],"relations":{}},
"Org":{"roles":["owner"],"permissions":["delete"],"relations":{"creator":"User"}},
"User":{"roles":[],"permissions":[],"relations":{}},
"global":{"roles":["admin","support"],"permissions":["audit","create_org"],"relations":{}}}}}`},
		{"no policy yet", "", `{"metadata":{"resources":{"global":{"roles":[],"permissions":[],"relations":{}}}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newState()
			a := &applier{t, st}
			a.tokens(testKey)
			if tc.policy != "" {
				a.policy(tc.policy)
			}
			ts := startServer(t, st, nil)
			r := ts.get(t, "/api/policy_metadata")
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			want := response{body: []byte(tc.want)}.json(t)
			if got := r.json(t); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %s\nwant %s", r.body, tc.want)
			}
		})
	}
}
