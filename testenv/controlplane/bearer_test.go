package controlplane

import (
	"net/http"
	"strings"
	"testing"
)

// TestBearerSchemeCaseInsensitive: the Authorization scheme is
// case-insensitive (RFC 7235 §2.1) on every endpoint: writes, the policy,
// the node feeds and the Check API alike. Before the fix only the Check API
// (query/httpapi) accepted "bearer <key>" (#17 item 5).
func TestBearerSchemeCaseInsensitive(t *testing.T) {
	cp := startWithPolicy(t, Config{})
	authz := `{"actor_type":"User","actor_id":"a","action":"read","resource_type":"Organization","resource_id":"o","context_facts":[]}`
	endpoints := []struct {
		method, path, body string
		write              bool
	}{
		{"POST", "/api/batch", `[]`, true},
		{"GET", "/api/policy", "", false},
		{"GET", "/v1/envs/test/events?after=0&limit=1", "", false},
		{"GET", "/v1/envs/test/status", "", false},
		{"POST", "/api/authorize", authz, false},
	}
	for _, scheme := range []string{"bearer", "BEARER", "bEaReR", "Bearer"} {
		for _, ep := range endpoints {
			t.Run(scheme+" "+ep.method+" "+ep.path, func(t *testing.T) {
				key := cp.ReadKey
				if ep.write {
					key = cp.WriteKey
				}
				for _, h := range []string{scheme + " " + key, "  " + scheme + "   " + key + " "} {
					req, err := http.NewRequestWithContext(t.Context(), ep.method, cp.URL+ep.path, strings.NewReader(ep.body))
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Authorization", h)
					req.Header.Set("Content-Type", "application/json")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Errorf("Authorization %q: status %d, want 200", h, resp.StatusCode)
					}
				}
			})
		}
	}
	// Other schemes and an empty key are still refused.
	for _, h := range []string{"Basic " + cp.ReadKey, "bearer", "bearer ", "Bearer" + cp.ReadKey} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", cp.URL+"/v1/envs/test/status", nil)
		req.Header.Set("Authorization", h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", h, resp.StatusCode)
		}
	}
}
