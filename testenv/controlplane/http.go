package controlplane

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/outpost-authz/outpost/query/httpapi"
)

// routes builds the router: writes (check-api.md §6), the Check API reads,
// the node feeds and the operational endpoints.
func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	r.SkipClean(true) // never redirect; httpapi.CleanPath cleans paths
	r.Use(s.m.count)

	r.Handle("/api/policy", s.api(AccessWrite, s.postPolicy)).Methods(http.MethodPost)
	r.Handle("/api/policy", s.api(AccessRead, s.getPolicy)).Methods(http.MethodGet)
	r.Handle("/api/batch", s.api(AccessWrite, s.postBatch)).Methods(http.MethodPost)
	r.Handle("/api/facts", s.api(AccessWrite, s.postFact)).Methods(http.MethodPost)
	r.Handle("/api/facts", s.api(AccessWrite, s.deleteFact)).Methods(http.MethodDelete)
	r.Handle("/api/bulk_load", s.api(AccessWrite, s.bulkLoad)).Methods(http.MethodPost)
	r.Handle("/api/bulk_delete", s.api(AccessWrite, s.bulkDelete)).Methods(http.MethodPost)
	r.Handle("/api/bulk", s.api(AccessWrite, s.bulk)).Methods(http.MethodPost)
	r.Handle("/api/clear_data", s.api(AccessWrite, s.clearData)).Methods(http.MethodPost)
	r.Handle("/api/expect", s.api(AccessRead, s.postExpect)).Methods(http.MethodPost)

	if s.cfg.FactsLimit > 0 {
		r.Handle("/api/facts", s.limitFacts(s.factsRouter())).Methods(http.MethodGet)
	}

	r.Handle("/v1/envs/{env}/events", s.feed(s.getEvents)).Methods(http.MethodGet)
	r.Handle("/v1/envs/{env}/snapshot", s.feed(s.getSnapshot)).Methods(http.MethodGet)
	r.Handle("/v1/envs/{env}/status", s.feed(s.getStatus)).Methods(http.MethodGet)

	health := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"message": "ok"})
	})
	r.Handle("/healthcheck", health).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/api/healthcheck", health).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/metrics", s.m.handler()).Methods(http.MethodGet)

	// The Check API reads (authorize, list, ..., GET /api/facts) come from
	// the node's own handlers, over the control plane's state. Routes
	// registered above win on shared paths (GET /api/policy,
	// /api/healthcheck).
	s.checkAPI.MountCheckAPI(r)

	r.NotFoundHandler = s.m.count(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setRequestID(w, r)
		writeJSON(w, http.StatusNotFound, message("no such endpoint: %s %s", r.Method, r.URL.Path))
	}))
	r.MethodNotAllowedHandler = s.m.count(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setRequestID(w, r)
		writeJSON(w, http.StatusMethodNotAllowed, message("method %s is not allowed on %s", r.Method, r.URL.Path))
	}))
	return httpapi.CleanPath(r)
}

// reply is a handler's successful answer.
type reply struct {
	status int
	body   any
	// seq, when offset is set, goes out as the OsoOffset header.
	seq    uint64
	offset bool
}

type apiFunc func(r *http.Request, body []byte) (reply, error)

// api wraps an /api handler: JSON content type, X-Request-ID,
// Server-Timing, the API version header, bearer auth at the given access,
// the body size limit, and error bodies.
func (s *Server) api(access string, h apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		setRequestID(w, r)
		w.Header().Set("Content-Type", "application/json")
		timing := func() {
			w.Header().Set("Server-Timing", "oso;dur="+strconv.FormatInt(time.Since(start).Milliseconds(), 10))
		}
		if v := r.Header.Get("X-OsoApiVersion"); v != "" && v != "0" {
			timing()
			writeJSON(w, http.StatusBadRequest, message("unsupported X-OsoApiVersion %q; this server speaks version 0", v))
			return
		}
		if status, msg := s.authorize(r, access); status != 0 {
			timing()
			writeJSON(w, status, map[string]string{"message": msg})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			timing()
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeJSON(w, http.StatusRequestEntityTooLarge, message("request body is larger than %d bytes", MaxBodyBytes))
				return
			}
			writeJSON(w, http.StatusBadRequest, message("read request body: %v", err))
			return
		}
		rep, err := h(r, body)
		timing()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if rep.offset {
			w.Header().Set("OsoOffset", s.offset(rep.seq))
		}
		writeJSON(w, rep.status, rep.body)
	})
}

// writeError maps an error to its status and body. Only this function and
// the policy handler choose error status codes.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var bad *badRequest
	var pe *policyError
	switch {
	case errors.As(err, &pe):
		writeJSON(w, http.StatusBadRequest, pe.body)
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": bad.msg})
	case errors.Is(err, errClearDisabled):
		writeJSON(w, http.StatusForbidden, map[string]string{"message": err.Error()})
	case errors.Is(err, ErrClosed):
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "the control plane is shutting down"})
	default:
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, message("internal error: %v", err))
	}
}

// authorize checks the bearer key: 0 when it may proceed, else the status
// and message to answer with.
func (s *Server) authorize(r *http.Request, need string) (int, string) {
	key, ok := bearerKey(r.Header.Get("Authorization"))
	if !ok {
		return http.StatusUnauthorized, "missing API key: send Authorization: Bearer <key>"
	}
	sum := sha256.Sum256([]byte(key))
	access, ok := s.keys[hex.EncodeToString(sum[:])]
	if !ok {
		return http.StatusUnauthorized, "unknown API key"
	}
	if need == AccessWrite && access != AccessWrite {
		return http.StatusForbidden, "this API key has read access; this endpoint needs a key with write access"
	}
	return 0, ""
}

// bearerKey extracts the key of "Bearer <key>". The scheme is
// case-insensitive (RFC 7235 §2.1), as on the Check API (#17 item 5), and
// white space around the scheme and key is trimmed.
func bearerKey(h string) (string, bool) {
	scheme, key, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	key = strings.TrimSpace(key)
	return key, key != ""
}

// feed wraps a /v1/envs/{env}/... handler: bearer auth (read access) and
// the environment check.
func (s *Server) feed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setRequestID(w, r)
		if status, msg := s.authorize(r, AccessRead); status != 0 {
			writeJSON(w, status, map[string]string{"message": msg})
			return
		}
		if env := mux.Vars(r)["env"]; env != s.cfg.Env {
			writeJSON(w, http.StatusNotFound, message("unknown environment %q; this control plane serves %q", env, s.cfg.Env))
			return
		}
		h(w, r)
	})
}

func message(format string, args ...any) map[string]string {
	return map[string]string{"message": fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"message":"internal error: encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// setRequestID echoes a sane X-Request-ID or generates a UUID v4.
func setRequestID(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Request-ID")
	if !saneToken(id) {
		var b [16]byte
		rand.Read(b[:])
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		h := hex.EncodeToString(b[:])
		id = h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	}
	w.Header().Set("X-Request-ID", id)
}

func saneToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
