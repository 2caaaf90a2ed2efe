package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/outpost-authz/outpost/query"
)

// apiError is an answer other than 200: a status and the message of the
// body {"message": msg} (check-api.md §2.4).
type apiError struct {
	status int
	msg    string
	retry  bool // answer with Retry-After: 1
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

var (
	errNotReady = &apiError{status: http.StatusServiceUnavailable, msg: "replica has not loaded a snapshot yet"}
	errReadOnly = &apiError{status: http.StatusMethodNotAllowed, msg: "this node is a read-only replica; send writes to the control plane"}
)

// toAPIError maps an engine or decoding error to its answer. Errors that
// are not the client's fault are logged and answered 500.
func (s *Server) toAPIError(err error, rid string) *apiError {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, query.ErrNotReady):
		return errNotReady
	case errors.Is(err, query.ErrBusy):
		return &apiError{status: http.StatusServiceUnavailable, msg: err.Error() + "; retry shortly"}
	case errors.Is(err, query.ErrCanceled):
		// the client is gone; the status only reaches logs and metrics
		return &apiError{status: http.StatusServiceUnavailable, msg: "the client went away before the answer was ready"}
	case errors.Is(err, query.ErrBadRequest):
		return badRequest("%s", strings.TrimPrefix(err.Error(), query.ErrBadRequest.Error()+": "))
	case errors.Is(err, query.ErrEvaluation):
		// check-api.md §2.4: a policy-evaluation failure is a 400, so the
		// message reaches the application developer.
		return badRequest("%s", err.Error())
	case errors.As(err, &mbe):
		return tooLarge(mbe.Limit)
	}
	s.log.Error("internal error", "request_id", rid, "err", err)
	return &apiError{status: http.StatusInternalServerError,
		msg: "internal error; the replica logged it with request id " + rid}
}

func tooLarge(limit int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge,
		msg: "request body is larger than the limit of " + strconv.FormatInt(limit, 10) + " bytes"}
}

// Header values and bodies of the two authorize answers, shared (never
// modified: http.Header.Add appends to a full slice, which copies).
var (
	jsonType      = []string{"application/json"}
	allowedBody   = []byte(`{"allowed":true}`)
	deniedBody    = []byte(`{"allowed":false}`)
	allowedLength = []string{strconv.Itoa(len(allowedBody))}
	deniedLength  = []string{strconv.Itoa(len(deniedBody))}
)

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	if a, ok := v.(authorizeResponse); ok && status == http.StatusOK {
		h := w.Header()
		h[keyType] = jsonType
		body, length := deniedBody, deniedLength
		if a.Allowed {
			body, length = allowedBody, allowedLength
		}
		h[keyLength] = length
		w.WriteHeader(status)
		w.Write(body)
		return
	}
	b, err := json.Marshal(v)
	if err != nil { // only our own response types reach here
		status = http.StatusInternalServerError
		b = []byte(`{"message":"internal error: encode response"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

type messageBody struct {
	Message string `json:"message"`
}

// writeError writes err as {"message": ...}; an error that is not an
// *apiError becomes an anonymous 500.
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusInternalServerError, msg: "internal error"}
	}
	if ae.retry {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, ae.status, messageBody{Message: truncateMessage(ae.msg)})
}

func (s *Server) readOnly(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", allowFor(r.URL.Path))
	writeError(w, errReadOnly)
}

// allowFor lists the methods a write path answers other than with 405.
func allowFor(p string) string {
	switch p {
	case routeFacts, routePolicy:
		return http.MethodGet
	}
	return ""
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path)})
}

func methodNotAllowed(allowed []string) http.Handler {
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		msg := fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path)
		if allow != "" {
			msg += "; allowed: " + allow
		}
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, msg: msg})
	})
}

// maxMessageBytes bounds the message of an error answer: messages quote
// the client's input (a type, an id), which may be up to the body limit.
const maxMessageBytes = 1024

// truncateMessage cuts msg to maxMessageBytes (on a rune boundary) and
// says how long it was.
func truncateMessage(msg string) string {
	if len(msg) <= maxMessageBytes {
		return msg
	}
	cut := maxMessageBytes - 64
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "… (message truncated; it was " + strconv.Itoa(len(msg)) + " bytes)"
}
