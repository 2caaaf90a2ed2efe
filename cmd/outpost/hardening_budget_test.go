package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestHardeningEvaluationBudget: with a small --max-steps, questions that
// need more work answer 400 with a message naming the budget, never a
// silent false or an empty list; the same questions within the default
// budget answer 200.
func TestHardeningEvaluationBudget(t *testing.T) {
	t.Parallel()
	small := hardeningNode(t, "--max-steps", "5", "--cache-mib", "0")
	normal := hardeningNode(t, "--cache-mib", "0")
	for _, c := range []struct{ path, body string }{
		{"/api/list", `{"actor_type":"User","actor_id":"u0","action":"read","resource_type":"Repo"}`},
		{"/api/actions", `{"actor_type":"User","actor_id":"u0","resource_type":"Repo","resource_id":"r0"}`},
		{"/api/authorize", `{"actor_type":"User","actor_id":"u0","action":"read","resource_type":"Repo","resource_id":"r0"}`},
	} {
		status, body := hardeningPost(t, small.url+c.path, c.body)
		var m struct{ Message string }
		json.Unmarshal(body, &m)
		if status != http.StatusBadRequest || !strings.Contains(m.Message, "evaluation budget") {
			t.Errorf("%s with --max-steps 5: %d %s; want 400 naming the evaluation budget", c.path, status, body)
		}
		if status, body := hardeningPost(t, normal.url+c.path, c.body); status != 200 || strings.Contains(string(body), `"results":[]`) || strings.Contains(string(body), `false`) {
			t.Errorf("%s within the default budget: %d %s", c.path, status, body)
		}
	}
}

func hardeningPost(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
