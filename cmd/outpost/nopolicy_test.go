package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

// TestNodeFollowsEnvironmentWithoutPolicy: a node bootstrapped from a new
// environment (no policy ever set) becomes healthy and answers as an empty
// policy does; when the policy and facts arrive it answers with them; it
// accepts a parity report on /api/expect.
func TestNodeFollowsEnvironmentWithoutPolicy(t *testing.T) {
	cp := controlplane.Start(t, controlplane.Config{})
	n := startNode(t, "--control-plane-url", cp.URL, "--environment", "test", "--api-token", cp.ReadKey,
		"--directory", filepath.Join(t.TempDir(), "data"), "--poll-wait", "1s")
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(n.url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	authz := `{"actor_type":"User","actor_id":"ana","action":"read","resource_type":"Repo","resource_id":"r1"}`
	for _, c := range []struct{ path, body, want string }{
		{"/api/authorize", authz, `{"allowed":false}`},
		{"/api/list", `{"actor_type":"User","actor_id":"ana","action":"read","resource_type":"Repo"}`, `{"results":[]}`},
		{"/api/actions", `{"actor_type":"User","actor_id":"ana","resource_type":"Repo","resource_id":"r1"}`, `{"results":[]}`},
		{"/api/expect", `{"request_id":"r-1","expected":true}`, `{"message":"parity report recorded"}`},
	} {
		if status, body := post(c.path, c.body); status != 200 || body != c.want {
			t.Errorf("%s without a policy: %d %s, want 200 %s", c.path, status, body, c.want)
		}
	}
	if status, _ := post("/api/batch", `[]`); status != http.StatusMethodNotAllowed {
		t.Errorf("write on the node: %d, want 405", status)
	}

	if _, err := cp.Client.SetPolicy(lifecyclePolicy); err != nil {
		t.Fatal(err)
	}
	ana := replica.Fact{Predicate: "has_role", Args: []replica.Value{{Type: "User", ID: "ana"}, {Type: "String", ID: "reader"}, {Type: "Repo", ID: "r1"}}}
	if _, err := cp.Client.Insert(ana); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool {
		status, body := post("/api/authorize", authz)
		return status == 200 && body == `{"allowed":true}`
	})
}
