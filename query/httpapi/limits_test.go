package httpapi

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// crossProductBody is the evaluate_query of issue #17: has_role and
// is_public joined on nothing, every variable unbound.
const crossProductBody = `{"predicate":["has_role",["u","r","p"]],"calls":[["is_public",["p2"]]],` +
	`"constraints":{"u":{"type":"User","ids":null},"r":{"type":"String","ids":null},` +
	`"p":{"type":"Repository","ids":null},"p2":{"type":"Repository","ids":null}},"context_facts":[]}`

// TestCrossProductAnswered400: four cross-product queries at once are each
// answered 400 with a message naming the limit they hit, while authorize
// requests from another client keep being answered 200.
func TestCrossProductAnswered400(t *testing.T) {
	st, shape := gitclubState(t)
	ts := startServer(t, st, nil)
	authz := mustJSON(t, map[string]any{
		"actor_type": shape.Direct.Actor.Type, "actor_id": shape.Direct.Actor.ID, "action": shape.Direct.Action,
		"resource_type": shape.Direct.Resource.Type, "resource_id": shape.Direct.Resource.ID, "context_facts": []any{},
	})
	n := 4
	if raceEnabled {
		n = 1
	}
	var running atomic.Int32
	running.Store(int32(n))
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			defer running.Add(-1)
			r, err := trySend(ts.Client(), http.MethodPost, ts.URL+"/api/evaluate_query", crossProductBody, nil)
			if err != nil {
				t.Error(err)
				return
			}
			msg := string(r.body)
			if r.status != http.StatusBadRequest || !strings.Contains(msg, "budget") && !strings.Contains(msg, "limit") {
				t.Errorf("cross product: %d %.300s", r.status, msg)
			}
		})
	}
	served := 0
	for running.Load() > 0 {
		r := ts.post(t, "/api/authorize", authz)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), "true") {
			t.Fatalf("authorize during the cross products: %d %s", r.status, r.body)
		}
		served++
	}
	wg.Wait()
	if served == 0 {
		t.Error("no authorize request was answered while the cross products ran")
	}
}
