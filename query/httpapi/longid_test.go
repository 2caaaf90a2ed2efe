package httpapi

import (
	"strings"
	"testing"
)

// TestLongQuestionIDs: ids past the 384 bytes Oso allows in facts are
// answered in questions (they match no stored fact, but rules that need
// none apply), and refused in context facts, which are facts; past
// MaxQuestionIDBytes a question is refused too.
func TestLongQuestionIDs(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	long := "https://example.com/" + strings.Repeat("a", 600)
	for _, c := range []struct {
		name, path, body, want string
	}{
		{"authorize, stored facts", "/api/authorize", authzBody("User:"+long, "read", "Repository:anvil"), `{"allowed":false}`},
		{"authorize, a rule without facts", "/api/authorize", authzBody("User:root", "write", "Repository:"+long), `{"allowed":true}`},
		{"actions", "/api/actions", `{"actor_type":"User","actor_id":"root","resource_type":"Repository","resource_id":"` + long + `"}`, `"results":`},
		{"authorize_resources", "/api/authorize_resources", `{"actor_type":"User","actor_id":"root","action":"read","resources":[{"type":"Repository","id":"` + long + `"}]}`, long},
	} {
		r := ts.post(t, c.path, c.body)
		if r.status != 200 || !strings.Contains(string(r.body), c.want) {
			t.Errorf("%s: %d %.200s, want 200 with %q", c.name, r.status, r.body, c.want)
		}
	}
	ctx := `{"actor_type":"User","actor_id":"a","action":"read","resource_type":"Repository","resource_id":"anvil",` +
		`"context_facts":[{"predicate":"is_public","args":[{"type":"Repository","id":"` + long + `"}]}]}`
	if r := ts.post(t, "/api/authorize", ctx); r.status != 400 || !strings.Contains(r.message(t), "the limit is 384") {
		t.Errorf("context fact with a long id: %d %s, want 400 naming the limit", r.status, r.body)
	}
	huge := strings.Repeat("b", 17<<10)
	if r := ts.post(t, "/api/authorize", authzBody("User:root", "read", "Repository:"+huge)); r.status != 400 || !strings.Contains(r.message(t), "the limit is 16384") {
		t.Errorf("a 17 KiB id: %d %.200s, want 400 naming the limit", r.status, r.body)
	}
}
