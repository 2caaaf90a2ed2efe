package httpapi

import (
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/query"
)

const gitclubLocalBindings = `facts:
  has_relation(Repository:_, String:organization, Organization:_):
    query: SELECT repo, org FROM repo_org
  has_relation(Issue:_, String:repository, Repository:_):
    query: SELECT issue, repo FROM issue_repo
  has_relation(Issue:_, String:creator, User:_):
    query: SELECT issue, creator FROM issue_creator
  is_public(Repository:_):
    query: SELECT id FROM public_repos
`

// BenchmarkHTTPListQuery drives POST /api/list_query (the gitclub list
// filter: issues a user may read, relations in the database, roles in the
// replica) over keep-alive connections from 4 concurrent clients, cycling
// through 256 users, and reports req/s and client p50/p99.
//
//	go test -run '^$' -bench HTTPListQuery -benchtime 5000x ./query/httpapi/
func BenchmarkHTTPListQuery(b *testing.B) {
	st, shape := gitclubState(b)
	qs := shape.SampleQueries(256, 5)
	bodies := make([][]byte, len(qs))
	for i, q := range qs {
		bodies[i] = []byte(mustJSON(b, map[string]any{
			"query":         map[string]any{"actor_type": q.Actor.Type, "actor_id": q.Actor.ID, "action": "read", "resource_type": "Issue"},
			"column":        "issue_repo.issue",
			"data_bindings": gitclubLocalBindings,
		}))
	}
	eng, err := query.New(st, query.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	srv, err := New(Config{Engine: eng, Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	benchLoad(b, hs.URL+"/api/list_query", bodies, 4)
}
