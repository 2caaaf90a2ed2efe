package httpapi

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	mrand "math/rand/v2"
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
	memo     bool   // answers are kept in the answer memo (authorize)
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
	rid    [1]string // the X-Request-Id header value (one allocation with the recorder)
}

func (w *recorder) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	h := w.Header()
	h[keyTiming] = timingValue(time.Since(w.start))
	if w.api {
		if _, set := h[keyRevision]; !set {
			h[keyRevision] = w.s.revisionValue(w.s.eng.Revision())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// Canonical forms of the header names the hot path reads and writes
// directly, without http.Header's canonicalisation (which allocates for
// names such as X-OsoApiVersion that are not canonical as written).
const (
	keyRequestID  = "X-Request-Id"  // headerRequestID
	keyTiming     = "Server-Timing" // headerTiming
	keyRevision   = "X-Outpost-Revision"
	keyAPIVersion = "X-Osoapiversion"
	keyOffset     = "Osooffset"
	keyType       = "Content-Type"
	keyLength     = "Content-Length"
)

// timingValues are the Server-Timing values of answers under 16 ms.
var timingValues = func() (v [16][]string) {
	for i := range v {
		v[i] = []string{"oso;dur=" + strconv.Itoa(i)}
	}
	return v
}()

func timingValue(d time.Duration) []string {
	if ms := d.Milliseconds(); ms >= 0 && ms < int64(len(timingValues)) {
		return timingValues[ms]
	}
	return []string{"oso;dur=" + strconv.FormatInt(d.Milliseconds(), 10)}
}

// revisionText is the X-Outpost-Revision value of one revision, cached
// while the revision stays the same (the common case: many answers per
// applied event). Header value slices are never modified in place.
type revisionText struct {
	rev uint64
	val []string
}

func (s *Server) revisionValue(rev uint64) []string {
	if t := s.revText.Load(); t != nil && t.rev == rev {
		return t.val
	}
	t := &revisionText{rev: rev, val: []string{strconv.FormatUint(rev, 10)}}
	s.revText.Store(t)
	return t.val
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
	ok := s.m.requests.WithLabelValues(route, "200") // pre-resolved: most answers
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var rid string
		if v := r.Header[keyRequestID]; len(v) > 0 {
			rid = requestID(v[0])
		} else {
			rid = newRequestID()
		}
		rec := &recorder{ResponseWriter: w, s: s, start: start, api: api, rid: [1]string{rid}}
		w.Header()[keyRequestID] = rec.rid[:]
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
			ms := float64(d) / float64(time.Millisecond)
			if rec.status == http.StatusOK {
				ok.Observe(ms)
			} else {
				s.m.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Observe(ms)
			}
			if s.log.Enabled(r.Context(), slog.LevelDebug) {
				s.log.Debug("request", "method", r.Method, "route", route, "status", rec.status,
					"duration_ms", d.Milliseconds(), "request_id", rid, "user_agent", r.UserAgent())
			}
		}()
		h.ServeHTTP(rec, r)
	})
}

// api serves one Check API endpoint: version, readiness, key, body (within
// the memory budget), concurrency, consistency, then the engine.
func (s *Server) api(ep endpoint) http.Handler {
	queryDuration := s.m.queryDuration.WithLabelValues(ep.name)
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
		var memoBody []byte // the body, when its answer may go to the memo
		if ep.body {
			// The body is read (within the memory budget) before an
			// evaluation slot is taken: a slow body holds no slot.
			b, reserved, err := s.readRequestBody(w, r)
			defer s.mem.Release(reserved)
			if err != nil {
				writeError(w, err)
				return
			}
			// A question asked before at this revision is answered from
			// the memo (memo.go), unless the client names a revision
			// (OsoOffset), which the full path handles.
			if ep.memo && s.memo != nil && len(r.Header[keyOffset]) == 0 {
				if allowed, ok := s.memo.get(info.store, info.revision, b); ok {
					s.eng.CountHit()
					queryDuration.Observe(0)
					w.Header()[keyRevision] = s.revisionValue(info.revision)
					writeJSON(w, http.StatusOK, authorizeResponse{Allowed: allowed})
					return
				}
				memoBody = b
			}
			if c.f, err = s.decodeBody(b); err != nil {
				writeError(w, err)
				return
			}
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
		queryDuration.Observe(time.Since(t).Seconds())
		if m.Revision != 0 {
			w.Header()[keyRevision] = s.revisionValue(m.Revision)
		}
		if err != nil {
			ae := s.toAPIError(err, w.Header().Get(headerRequestID))
			writeError(w, ae)
			return
		}
		if c.minRev > m.Revision {
			w.Header().Set(headerStale, "true")
		}
		if a, ok := out.(authorizeResponse); ok && memoBody != nil && m.Reusable &&
			m.Revision == info.revision && s.eng.State() == info.state {
			s.memo.put(info.store, m.Revision, memoBody, a.Allowed)
		}
		writeJSON(w, http.StatusOK, out)
	}))
}

// checkAPIVersion accepts an absent X-OsoApiVersion or 0.
func checkAPIVersion(r *http.Request) error {
	for _, v := range r.Header[keyAPIVersion] {
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
	return newRequestID()
}

// newRequestID returns a version 4 UUID from the runtime's fast random
// source: request ids need to be unique, not secret, and crypto/rand
// costs more than the rest of a cached answer's bookkeeping.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], mrand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], mrand.Uint64())
	return formatUUID(b)
}

// newUUID returns a random (version 4) UUID from crypto/rand.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than returning errors)
	return formatUUID(b)
}

// formatUUID formats b as a version 4 UUID.
func formatUUID(b [16]byte) string {
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
