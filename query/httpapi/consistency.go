package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// OsoOffset read-your-writes (check-api.md §7, DESIGN.md §6).

// consistency honours the request's OsoOffset, if it names our log.
func (s *Server) consistency(c *call) error {
	var h string
	if v := c.r.Header[keyOffset]; len(v) > 0 { // "OsoOffset", canonical
		h = v[0]
	}
	if h == "" {
		return nil
	}
	seq, ok := parseOffset(h, s.cfg.LogID)
	if !ok {
		s.log.Debug("ignoring OsoOffset from another log or in another format",
			"request_id", c.w.Header().Get(headerRequestID))
		s.m.consistency.WithLabelValues("ignored").Inc()
		return nil
	}
	return s.await(c, seq)
}

// parseOffset reads "<logid>:<seq>" (logid checked against want unless want
// is empty) or a bare "<seq>".
func parseOffset(h, want string) (uint64, bool) {
	h = strings.TrimSpace(h)
	num := h
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if want != "" && h[:i] != want {
			return 0, false
		}
		num = h[i+1:]
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil || seq == 0 {
		return 0, false
	}
	return seq, true
}

// await makes the answer at least as new as seq: it waits up to
// ConsistencyWait for the state to reach seq (holding no view), then, still
// behind, refuses in strict mode or lets the answer be marked stale.
func (s *Server) await(c *call, seq uint64) error {
	if seq > c.minRev {
		c.minRev = seq
	}
	if s.eng.Revision() >= seq {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), s.cfg.ConsistencyWait)
	err := s.eng.WaitFor(ctx, seq)
	cancel()
	applied := s.eng.Revision()
	if err == nil || applied >= seq {
		s.m.consistency.WithLabelValues("caught_up").Inc()
		return nil
	}
	if c.r.Context().Err() != nil {
		return &apiError{status: http.StatusServiceUnavailable, msg: "the client went away while the replica waited for revision " + strconv.FormatUint(seq, 10)}
	}
	if s.cfg.Strict {
		s.m.consistency.WithLabelValues("refused").Inc()
		c.w.Header().Set("Retry-After", "1")
		return &apiError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf(
			"replica is behind your last write: it has applied revision %d, the request needs %d (waited %s)",
			applied, seq, s.cfg.ConsistencyWait)}
	}
	s.m.consistency.WithLabelValues("stale").Inc()
	return nil
}
