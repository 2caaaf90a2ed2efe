package controlplane

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/outpost-authz/outpost/query/httpapi"
	"github.com/outpost-authz/outpost/replica"
)

// limitFacts wraps GET /api/facts with Config.FactsLimit: a request whose
// pattern matches more facts than the limit is answered 400 with a JSON
// message, the way an Oso plan with a result cap refuses it; the rest goes
// to the Check API's handler (inner), which answers as Oso does
// (check-api.md §4.7: a bare array, 400 without a predicate).
func (s *Server) limitFacts(inner http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, _ := s.authorize(r, AccessRead); status != 0 {
			inner.ServeHTTP(w, r) // it answers the 401 or 403
			return
		}
		pat, err := httpapi.FactsPattern(r.URL.Query())
		if err != nil {
			inner.ServeHTTP(w, r) // it answers the 400
			return
		}
		limit := s.cfg.FactsLimit
		n := 0
		v := s.state.Acquire()
		v.Facts(pat, func(replica.Fact) bool { n++; return n <= limit })
		v.Release()
		if n > limit {
			setRequestID(w, r)
			writeJSON(w, http.StatusBadRequest, message(
				"this query matches more than %d facts, the most this environment's plan returns from GET /api/facts; narrow it with args.N.type and args.N.id", limit))
			return
		}
		inner.ServeHTTP(w, r)
	})
}

// factsRouter is a router holding only the Check API, for limitFacts to
// hand requests to.
func (s *Server) factsRouter() http.Handler {
	inner := mux.NewRouter()
	inner.SkipClean(true)
	s.checkAPI.MountCheckAPI(inner)
	return inner
}
