package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-authz/outpost/query"
)

// Response headers of our own.
const (
	headerRequestID = "X-Request-ID"
	headerTiming    = "Server-Timing"
	headerRevision  = "X-Outpost-Revision"
	headerStale     = "X-Outpost-Stale"
	headerUnbounded = "X-Outpost-Unbounded"
)

// endpoint is one Check API read route.
type endpoint struct {
	route    string // path template: the route and the metrics path label
	method   string
	name     string // endpoint label of outpost_query_duration_seconds
	body     bool   // the request carries a JSON object body
	anyState bool   // served before a policy is loaded (GET /api/policy)
	fn       func(*call) (any, query.Meta, error)
}

// call is one Check API request on its way to the engine.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	f      fields // the decoded body (empty for GET)
	minRev uint64 // the revision the client asked for (OsoOffset, page_token)
}

// recorder sets the timing and revision headers when the status is written
// and remembers the status for metrics.
type recorder struct {
	http.ResponseWriter
	s      *Server
	start  time.Time
	api    bool
	status int
}

func (w *recorder) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	h := w.Header()
	h.Set(headerTiming, "oso;dur="+strconv.FormatInt(time.Since(w.start).Milliseconds(), 10))
	if w.api && h.Get(headerRevision) == "" {
		h.Set(headerRevision, strconv.FormatUint(w.s.eng.Revision(), 10))
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument wraps every route: request id, Server-Timing, revision header
// (api), panic recovery, the request histogram and a debug log line.
func (s *Server) instrument(route string, api bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := requestID(r.Header.Get(headerRequestID))
		w.Header().Set(headerRequestID, rid)
		rec := &recorder{ResponseWriter: w, s: s, start: start, api: api}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "route", route, "method", r.Method,
					"request_id", rid, "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeError(rec, &apiError{status: http.StatusInternalServerError,
						msg: "internal error; the replica logged it with request id " + rid})
				}
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			d := time.Since(start)
			s.m.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Observe(float64(d) / float64(time.Millisecond))
			s.log.Debug("request", "method", r.Method, "route", route, "status", rec.status,
				"duration_ms", d.Milliseconds(), "request_id", rid, "user_agent", r.UserAgent())
		}()
		h.ServeHTTP(rec, r)
	})
}

// api serves one Check API endpoint: version, concurrency, readiness, key,
// body, consistency, then the engine.
func (s *Server) api(ep endpoint) http.Handler {
	return s.instrument(ep.route, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkAPIVersion(r); err != nil {
			writeError(w, err)
			return
		}
		info := s.stateInfo()
		if !ep.anyState && !info.ready {
			writeError(w, errNotReady)
			return
		}
		if err := s.authenticate(r, info); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="outpost"`)
			writeError(w, err)
			return
		}
		c := &call{w: w, r: r}
		if ep.body {
			// The body is read (within the memory budget) before an
			// evaluation slot is taken: a slow body holds no slot.
			f, release, err := s.readRequest(w, r)
			defer release()
			if err != nil {
				writeError(w, err)
				return
			}
			c.f = f
		}
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		default:
			s.m.rejected.Inc()
			w.Header().Set("Retry-After", "1")
			writeError(w, &apiError{status: http.StatusServiceUnavailable,
				msg: "too many concurrent requests (limit " + strconv.Itoa(s.cfg.MaxConcurrent) + "); retry shortly"})
			return
		}
		if err := s.consistency(c); err != nil {
			writeError(w, err)
			return
		}
		t := time.Now()
		out, m, err := ep.fn(c)
		s.m.queryDuration.WithLabelValues(ep.name).Observe(time.Since(t).Seconds())
		if m.Revision != 0 {
			w.Header().Set(headerRevision, strconv.FormatUint(m.Revision, 10))
		}
		if err != nil {
			ae := s.toAPIError(err, w.Header().Get(headerRequestID))
			writeError(w, ae)
			return
		}
		if c.minRev > m.Revision {
			w.Header().Set(headerStale, "true")
		}
		writeJSON(w, http.StatusOK, out)
	}))
}

// checkAPIVersion accepts an absent X-OsoApiVersion or 0.
func checkAPIVersion(r *http.Request) error {
	for _, v := range r.Header.Values("X-OsoApiVersion") {
		if v = strings.TrimSpace(v); v != "0" {
			return badRequest("unsupported X-OsoApiVersion %q: this replica speaks API version 0", v)
		}
	}
	return nil
}

// requestID echoes a sane request id (printable ASCII, 1-128 bytes) or
// makes a UUID v4.
func requestID(in string) string {
	if n := len(in); n > 0 && n <= 128 {
		ok := true
		for i := 0; i < n; i++ {
			if in[i] < 0x20 || in[i] > 0x7e {
				ok = false
				break
			}
		}
		if ok && strings.TrimSpace(in) != "" {
			return in
		}
	}
	return newUUID()
}

// newUUID returns a random (version 4) UUID from crypto/rand.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than returning errors)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
