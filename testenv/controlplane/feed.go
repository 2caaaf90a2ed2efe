package controlplane

import (
	"net"
	"net/http"
	"strconv"
	"time"
)

// getEvents: GET /v1/envs/{env}/events?after=N&limit=M&wait=D answers
// {"events":[...],"head":H,"log_id":ID,"digest":D,"digest_seq":S} (D is
// the state digest at seq S, which may be past H by an event being
// committed) with the events after N in order (at most M,
// default DefaultFeedLimit, capped at MaxFeedLimit), each the exact JSON of
// a replica.Event as stored in the log. With no event after N it waits up to
// D (a Go duration such as 25s, or seconds; capped at MaxFeedWait; default
// no wait) for one. An after older than the retained log answers 410 Gone;
// an after beyond the head answers at once with no events (the caller
// follows another log).
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := parseUint(q.Get("after"), 0)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, message("after: %v", err))
		return
	}
	limit, err := parseUint(q.Get("limit"), DefaultFeedLimit)
	if err != nil || limit == 0 {
		writeJSON(w, http.StatusBadRequest, message("limit must be a positive integer"))
		return
	}
	limit = min(limit, MaxFeedLimit)
	wait, err := parseWait(q.Get("wait"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, message("wait: %v", err))
		return
	}
	var timer *time.Timer
	if wait > 0 {
		timer = time.NewTimer(wait)
		defer timer.Stop()
	}
	for {
		ch := s.changedCh()
		head := s.elog.head()
		if oldest := s.oldestRetained(head); after+1 < oldest {
			writeJSON(w, http.StatusGone, message("events after %d are no longer retained; the oldest retained event is %d (head %d): bootstrap from the snapshot", after, oldest, head))
			return
		}
		if head > after || timer == nil || after > head {
			s.writeEvents(w, after, int(limit), head)
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			timer = nil
		case <-r.Context().Done():
			return
		}
	}
}

// oldestRetained is the oldest seq the feed serves at head.
func (s *Server) oldestRetained(head uint64) uint64 {
	oldest := s.elog.base + 1
	if k := uint64(s.cfg.Retain); k > 0 && head > k {
		oldest = max(oldest, head-k+1)
	}
	return oldest
}

func (s *Server) writeEvents(w http.ResponseWriter, after uint64, limit int, head uint64) {
	evs, err := s.elog.read(after+1, limit)
	if err != nil {
		s.logger.Error("events feed", "after", after, "err", err)
		writeJSON(w, http.StatusInternalServerError, message("read events: %v", err))
		return
	}
	// The events are written as they lie in the log (no copy into one
	// buffer), with a Content-Length so the client can size its buffer.
	// The log id and the state digest at a seq let a node detect a fork
	// (a restored or re-seeded control plane): see feedOrigin.
	digest, dseq := s.digestNow()
	tail := `],"head":` + strconv.FormatUint(head, 10) +
		`,"log_id":` + strconv.Quote(s.elog.ID()) +
		`,"digest":` + strconv.Quote(digest) +
		`,"digest_seq":` + strconv.FormatUint(dseq, 10) + "}\n"
	parts := make(net.Buffers, 0, 2*len(evs)+1)
	parts = append(parts, []byte(`{"events":[`))
	n := len(parts[0]) + len(tail)
	for i, e := range evs {
		if i > 0 {
			parts = append(parts, comma)
			n++
		}
		parts = append(parts, e)
		n += len(e)
	}
	parts = append(parts, []byte(tail))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.Header().Set("X-Outpost-Revision", strconv.FormatUint(head, 10))
	w.WriteHeader(http.StatusOK)
	parts.WriteTo(w)
}

var comma = []byte{','}

// getStatus: GET /v1/envs/{env}/status answers
// {"env","seq","digest","log_id","facts"} from one view.
func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	v := s.state.Acquire()
	seq, digest, facts := v.Revision(), v.Digest(), v.FactCount()
	v.Release()
	writeJSON(w, http.StatusOK, map[string]any{
		"env": s.cfg.Env, "seq": seq, "digest": digest, "log_id": s.elog.ID(), "facts": facts,
	})
}

func parseUint(s string, def uint64) (uint64, error) {
	if s == "" {
		return def, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// parseWait accepts a Go duration ("25s", "500ms") or a number of seconds.
func parseWait(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, err
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 0 {
		d = 0
	}
	return min(d, MaxFeedWait), nil
}
