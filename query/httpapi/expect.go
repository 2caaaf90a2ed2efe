package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// routeExpect is Oso Migrate's parity-handle report (check-api.md §6.6).
const routeExpect = "/api/expect"

// newExpectCounter counts the parity reports a node accepted.
func newExpectCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outpost_expect_reports_total",
		Help: "POST /api/expect parity-handle reports accepted, by the expected decision they carried (true, false). Outpost records nothing else about them.",
	}, []string{"expected"})
}

// expect: POST /api/expect with {"request_id": string, "expected": bool}.
// No SDK sends it to a fallback URL, but a node configured as an SDK's
// primary URL receives it, and Node fires it without awaiting the answer, so
// a refusal would surface as an unhandled promise rejection in the
// application. The node accepts and counts it, answering 200 with a
// message (check-api.md §6.6; Python's SDK builds its result from the
// message field and fails on a bare {}). A malformed
// report is 400 with the field at fault. The key is checked like any Check
// API call; readiness is not (there is nothing to evaluate).
func (s *Server) expect(w http.ResponseWriter, r *http.Request) {
	if err := checkAPIVersion(r); err != nil {
		writeError(w, err)
		return
	}
	if err := s.authenticate(r, s.stateInfo()); err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="outpost"`)
		writeError(w, err)
		return
	}
	obj, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	f := fields{obj: objectOf(obj)}
	id := f.str("request_id")
	expected, ok := obj["expected"].(bool)
	if f.err == nil && !ok {
		if v, present := obj["expected"]; present {
			f.fail("expected must be a boolean, not %s", kind(v))
		} else {
			f.fail("missing field expected (a boolean)")
		}
	}
	if f.err != nil {
		writeError(w, f.err)
		return
	}
	label := "false"
	if expected {
		label = "true"
	}
	s.m.expects.WithLabelValues(label).Inc()
	s.log.Debug("parity report", "request_id", id, "expected", expected)
	writeJSON(w, http.StatusOK, messageBody{Message: expectMessage})
}

// expectMessage answers an accepted parity report, on the node and the
// reference control plane alike.
const expectMessage = "parity report recorded"
