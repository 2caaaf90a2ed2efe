package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// Request bodies are decoded into generic JSON (json.Decoder with
// UseNumber) and then read field by field, so that every 400 names the
// field at fault in the wire's own terms. Unknown fields are ignored
// (forward compatibility, check-api.md §4).

// readBody reads and parses a JSON object body within the size limit,
// into generic values (context_facts included). The Check API endpoints
// use readRequest.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, badRequest("read request body: %v", err)
	}
	return parseObject(b)
}

// bodyMemoryFactor is the memory a request holds per byte of its body,
// from reading to answering: the body itself, its decoded fields (context
// facts about 1.5×) and the engine's context overlay. Measured by
// TestLargeContextMemory; docs/configuration.md (--request-memory).
const bodyMemoryFactor = 4

// maxMemoryWait bounds the wait of a large request for the memory budget.
const maxMemoryWait = 5 * time.Second

// readRequest reserves memory for the body (Content-Length ×
// bodyMemoryFactor, waiting up to maxMemoryWait for other large requests
// to finish), reads it within MaxBodyBytes and decodes it. The caller
// gives reserved back to s.mem once the answer is written, also on error.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request) (f fields, reserved int64, err error) {
	b, reserved, err := s.readRequestBody(w, r)
	if err == nil {
		f, err = s.decodeBody(b)
	}
	return f, reserved, err
}

// readRequestBody is readRequest without the decoding.
func (s *Server) readRequestBody(w http.ResponseWriter, r *http.Request) (b []byte, reserved int64, err error) {
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, 0, tooLarge(limit)
	}
	n := r.ContentLength
	if n < 0 { // chunked: reserve for a 64 KiB body, more once read
		n = min(limit, 64<<10)
	}
	if reserved, err = s.reserve(r, n); err != nil {
		return nil, 0, err
	}
	if r.ContentLength >= 0 {
		// net/http's body reader stops at Content-Length.
		b = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, b)
	} else {
		b, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, reserved, tooLarge(limit)
		}
		return nil, reserved, badRequest("read request body: %v", err)
	}
	if more := int64(len(b))*bodyMemoryFactor - reserved; more > 0 {
		if !s.mem.TryAcquire(more) {
			return nil, reserved, s.memoryBusy()
		}
		reserved += more
	}
	return b, reserved, nil
}

// reserve takes n bytes of body (n × bodyMemoryFactor) from the memory
// budget, waiting for at most maxMemoryWait.
func (s *Server) reserve(r *http.Request, n int64) (int64, error) {
	want := min(n*bodyMemoryFactor+512, s.cfg.RequestMemory)
	if s.mem.TryAcquire(want) {
		return want, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.memWait)
	defer cancel()
	if err := s.mem.Acquire(ctx, want); err != nil {
		return 0, s.memoryBusy()
	}
	return want, nil
}

func (s *Server) memoryBusy() *apiError {
	s.m.memRejected.Inc()
	return &apiError{status: http.StatusServiceUnavailable, retry: true, msg: "the node is busy with other large requests (request memory budget " +
		strconv.FormatInt(s.cfg.RequestMemory, 10) + " bytes, --request-memory); retry shortly"}
}

// decodeBody parses b as one JSON object: the strict parser first, then,
// for a syntax error, encoding/json for its message.
func (s *Server) decodeBody(b []byte) (fields, error) {
	obj, cf, fail := parseBody(b, factLimits{count: s.cfg.MaxContextFacts, bytes: int(s.cfg.MaxContextBytes)})
	switch {
	case fail == nil:
		return fields{obj: obj, ctx: cf, maxFacts: s.cfg.MaxContextFacts}, nil
	case fail.api != nil:
		return fields{}, fail.api
	case fail.utf8At >= 0:
		return fields{}, utf8Error(b, fail.utf8At)
	}
	m, err := parseObject(b)
	if err != nil {
		return fields{}, err
	}
	// encoding/json accepted what the strict parser refused: keep its
	// reading (being liberal), context facts decoded generically.
	return fields{obj: objectOf(m), maxFacts: s.cfg.MaxContextFacts}, nil
}

// parseObject parses b as exactly one JSON object.
func parseObject(b []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, badRequest("request body is empty; expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, syntaxError(b, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		off := dec.InputOffset()
		line, col := position(b, off)
		return nil, badRequest("malformed JSON at line %d, column %d: unexpected data after the JSON object", line, col)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("request body must be a JSON object, not %s", kind(v))
	}
	return obj, nil
}

func syntaxError(b []byte, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		line, col := position(b, se.Offset)
		return badRequest("malformed JSON at line %d, column %d: %v", line, col, se)
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(b, int64(len(b)))
		if len(b) > 0 && b[len(b)-1] != '\n' {
			col++ // just past the last byte
		}
		return badRequest("malformed JSON at line %d, column %d: the body ends before the JSON value is complete", line, col)
	}
	return badRequest("malformed JSON: %v", err)
}

// position converts a byte offset into a 1-based line and column. The
// offset of a json.SyntaxError is just past the offending byte.
func position(b []byte, off int64) (line, col int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	line, col = 1, 1
	for _, c := range b[:off] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	if col > 1 {
		col-- // point at the offending byte, not past it
	}
	return line, col
}

// kind names the JSON kind of a decoded value for messages.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// fields reads typed fields out of a decoded object. The first problem
// wins; later reads do nothing and return zero values.
type fields struct {
	obj      object
	err      error
	ctx      *ctxFacts // context_facts decoded by the strict parser
	maxFacts int       // limit of the generic context_facts decoding (0: none)
}

func (f *fields) fail(format string, args ...any) {
	if f.err == nil {
		f.err = badRequest(format, args...)
	}
}

// str reads a required non-empty string.
func (f *fields) str(name string) string {
	if f.err != nil {
		return ""
	}
	v, ok := f.obj.get(name)
	if !ok {
		f.fail("missing field %s", name)
		return ""
	}
	return f.nonEmpty(name, v)
}

// nonEmpty checks that v, found at path, is a non-empty string.
func (f *fields) nonEmpty(path string, v any) string {
	s, ok := v.(string)
	switch {
	case f.err != nil:
		return ""
	case !ok:
		f.fail("%s must be a string, not %s", path, kind(v))
	case s == "":
		f.fail("%s must not be empty", path)
	}
	return s
}

// value reads a concrete typed value asked about from two fields
// (actor_type and actor_id) and checks its id (Integer, Boolean, length).
func (f *fields) value(typeField, idField string) replica.Value {
	v := replica.Value{Type: f.str(typeField), ID: f.str(idField)}
	if f.err == nil {
		if _, err := replica.CanonicalQuestion(v); err != nil {
			f.fail("%s: %v", idField, err)
		}
	}
	return v
}

// typedValue reads an object {"type": string, "id": string} at path and
// checks it with canon (replica.Canonical for a fact's argument,
// replica.CanonicalQuestion for a value asked about).
func (f *fields) typedValue(path string, v any, concreteHint string, canon func(replica.Value) (replica.Value, error)) replica.Value {
	if f.err != nil {
		return replica.Value{}
	}
	m, ok := v.(map[string]any)
	if !ok {
		f.fail("%s must be an object with type and id, not %s", path, kind(v))
		return replica.Value{}
	}
	var out replica.Value
	for _, k := range [2]string{"type", "id"} {
		x, present := m[k]
		switch {
		case !present:
			f.fail("%s.%s is missing", path, k)
		case x == nil:
			f.fail("%s.%s must not be null%s", path, k, concreteHint)
		default:
			s := f.nonEmpty(path+"."+k, x)
			if k == "type" {
				out.Type = s
			} else {
				out.ID = s
			}
		}
	}
	if f.err == nil {
		if _, err := canon(out); err != nil {
			f.fail("%s: %v", path, err)
		}
	}
	return out
}

// array reads an optional array; absent and null give nil, ok=false.
func (f *fields) array(name string, required bool) (arr []any, ok bool) {
	if f.err != nil {
		return nil, false
	}
	v, present := f.obj.get(name)
	if !present || v == nil {
		if required {
			if present {
				f.fail("%s must be an array, not null", name)
			} else {
				f.fail("missing field %s", name)
			}
		}
		return nil, false
	}
	arr, isArr := v.([]any)
	if !isArr {
		f.fail("%s must be an array, not %s", name, kind(v))
		return nil, false
	}
	return arr, true
}

// contextFacts reads the optional context_facts array of concrete facts.
func (f *fields) contextFacts() []replica.Fact {
	if f.ctx != nil {
		if f.err == nil && f.ctx.err != nil {
			f.err = f.ctx.err
		}
		if f.err != nil {
			return nil
		}
		return f.ctx.facts
	}
	arr, ok := f.array("context_facts", false)
	if !ok {
		return nil
	}
	if f.maxFacts > 0 && len(arr) > f.maxFacts {
		f.fail("context_facts has more than %d facts; this node accepts at most %d per request (--max-context-facts)", f.maxFacts, f.maxFacts)
		return nil
	}
	out := make([]replica.Fact, 0, len(arr))
	for i, el := range arr {
		path := fmt.Sprintf("context_facts[%d]", i)
		m, isObj := el.(map[string]any)
		if !isObj {
			f.fail("%s must be an object with predicate and args, not %s", path, kind(el))
			return nil
		}
		pred := f.predicate(path, m)
		args := f.argList(path, m)
		fact := replica.Fact{Predicate: pred, Args: make([]replica.Value, len(args))}
		for j, a := range args {
			fact.Args[j] = f.typedValue(fmt.Sprintf("%s.args[%d]", path, j), a, " (context facts must be concrete)", replica.Canonical)
		}
		if f.err != nil {
			return nil
		}
		out = append(out, fact)
	}
	return out
}

// predicate reads the non-empty predicate of a fact object at path.
func (f *fields) predicate(path string, m map[string]any) string {
	v, ok := m["predicate"]
	if !ok {
		f.fail("%s.predicate is missing", path)
		return ""
	}
	return f.nonEmpty(path+".predicate", v)
}

// argList reads the args array (1 to polar.MaxArity elements) of a fact
// object at path.
func (f *fields) argList(path string, m map[string]any) []any {
	if f.err != nil {
		return nil
	}
	v, ok := m["args"]
	if !ok {
		f.fail("%s.args is missing", path)
		return nil
	}
	arr, isArr := v.([]any)
	switch {
	case !isArr:
		f.fail("%s.args must be an array, not %s", path, kind(v))
	case len(arr) == 0:
		f.fail("%s.args must not be empty: a fact has at least one argument", path)
	case len(arr) > polar.MaxArity:
		f.fail("%s.args has %d arguments; at most %d are supported", path, len(arr), polar.MaxArity)
	}
	return arr
}

// pageSize reads the optional page_size: an integer >= 1.
func (f *fields) pageSize() (int, bool) {
	if f.err != nil {
		return 0, false
	}
	v, present := f.obj.get("page_size")
	if !present || v == nil {
		return 0, false
	}
	n, isNum := v.(json.Number)
	if !isNum {
		f.fail("page_size must be an integer, not %s", kind(v))
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		// 1e4 and 10000.0 are integers too; 1.5 and 1e999 are not.
		fl, ferr := strconv.ParseFloat(string(n), 64)
		if ferr != nil || fl != math.Trunc(fl) || math.Abs(fl) > 1<<53 {
			f.fail("page_size must be an integer, not %s", n)
			return 0, false
		}
		i = int64(fl)
	}
	if i < 1 {
		f.fail("page_size must be at least 1, not %d", i)
		return 0, false
	}
	if i > math.MaxInt32 {
		i = math.MaxInt32
	}
	return int(i), true
}

// optString reads an optional string field; absent and null give "", false.
func (f *fields) optString(name string) (string, bool) {
	if f.err != nil {
		return "", false
	}
	v, present := f.obj.get(name)
	if !present || v == nil {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		f.fail("%s must be a string, not %s", name, kind(v))
		return "", false
	}
	return s, true
}
