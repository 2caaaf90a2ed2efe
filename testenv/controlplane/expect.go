package controlplane

import (
	"encoding/json"
	"net/http"
)

// postExpect: POST /api/expect, Oso Migrate's parity-handle report
// {"request_id": "<X-Request-ID of an earlier authorize>", "expected": bool}
// (check-api.md §6.6). The reference control plane keeps no decision log to
// compare it with: it validates the report, counts it in
// controlplane_expect_reports_total and answers 200 with a message (the
// Python SDK reads it). It is not a write:
// no event and no OsoOffset.
func (s *Server) postExpect(r *http.Request, body []byte) (reply, error) {
	var req map[string]json.RawMessage
	if err := decodeJSON(body, &req, "expect body (want {\"request_id\": string, \"expected\": boolean})"); err != nil {
		return reply{}, err
	}
	if req == nil {
		return reply{}, badf("expect body must be an object {\"request_id\": string, \"expected\": boolean}, not null")
	}
	var id string
	raw, ok := req["request_id"]
	switch {
	case !ok:
		return reply{}, badf("expect body has no \"request_id\" (the X-Request-ID of the authorize call it reports on)")
	case json.Unmarshal(raw, &id) != nil:
		return reply{}, badf("expect \"request_id\" must be a string, not %s", raw)
	case id == "":
		return reply{}, badf("expect \"request_id\" must not be empty")
	}
	var expected bool
	raw, ok = req["expected"]
	switch {
	case !ok:
		return reply{}, badf("expect body has no \"expected\" (the boolean decision the application expected)")
	case string(raw) != "true" && string(raw) != "false":
		return reply{}, badf("expect \"expected\" must be a boolean, not %s", raw)
	}
	expected = string(raw) == "true"
	label := "false"
	if expected {
		label = "true"
	}
	s.m.expects.WithLabelValues(label).Inc()
	s.logger.Debug("parity report", "request_id", id, "expected", expected)
	return reply{status: http.StatusOK, body: map[string]string{"message": "parity report recorded"}}, nil
}
