package controlplane

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

const testPolicy = `actor User {}
resource Organization {
  roles = ["member", "admin"];
  permissions = ["read"];
  "read" if "member";
  "member" if "admin";
}
resource Repository {
  roles = ["reader"];
  permissions = ["read"];
  relations = { parent: Organization };
  "read" if "reader";
  "reader" if "member" on "parent";
}
declare is_public(Repository);
`

func v(typ, id string) replica.Value { return replica.Value{Type: typ, ID: id} }

func role(user, r, org string) replica.Fact {
	return replica.Fact{Predicate: "has_role", Args: []replica.Value{v("User", user), v("String", r), v("Organization", org)}}
}

func exact(f replica.Fact) replica.Pattern {
	p := replica.Pattern{Predicate: f.Predicate}
	for _, a := range f.Args {
		p.Args = append(p.Args, replica.Exact(a))
	}
	return p
}

// startWithPolicy starts a control plane with testPolicy set.
func startWithPolicy(t *testing.T, cfg Config) *Running {
	t.Helper()
	cp := Start(t, cfg)
	if _, err := cp.Client.SetPolicy(testPolicy); err != nil {
		t.Fatal(err)
	}
	return cp
}

// must(t).Seq(f()) fails the test when f returns an error.
func must(t testing.TB) mustT { return mustT{t} }

type mustT struct{ t testing.TB }

func (m mustT) Seq(seq uint64, err error) uint64 {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
	return seq
}

// do sends a raw request with a key ("" for none).
func do(t testing.TB, cp *Running, key, method, path string, body any) *Response {
	t.Helper()
	c := NewClient(cp.URL, key)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Do(ctx, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func decode(t testing.TB, res *Response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(res.Body, &m); err != nil {
		t.Fatalf("decode %q: %v", res.Body, err)
	}
	return m
}

// facts returns the stored facts matching a pattern, as strings, sorted.
func storedFacts(t testing.TB, cp *Running, pred string) []string {
	t.Helper()
	var out []string
	v := cp.Server().State().Acquire()
	defer v.Release()
	v.Facts(replica.Pattern{Predicate: pred, Args: []replica.PatternArg{replica.Any()}}, func(f replica.Fact) bool {
		out = append(out, f.String())
		return true
	})
	return out
}

func wantStatus(t testing.TB, res *Response, status int, msgPart string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	if msgPart != "" && !strings.Contains(string(res.Body), msgPart) {
		t.Fatalf("body %s does not contain %q", res.Body, msgPart)
	}
	if ct := res.Header.Get("Content-Type"); status >= 400 && !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
}

var _ = http.MethodGet
