package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// errClearDisabled answers POST /api/clear_data when Config.DisableClearData
// is set.
var errClearDisabled = errors.New("clear_data is disabled on this control plane")

// policyError is a rejected POST /api/policy with its richer body
// (check-api.md §6.1).
type policyError struct{ body map[string]any }

func (e *policyError) Error() string { return fmt.Sprint(e.body["message"]) }

func genericPolicyError(format string, args ...any) error {
	return &policyError{body: map[string]any{"error_type": "Generic", "message": fmt.Sprintf(format, args...)}}
}

// postPolicy replaces the policy. The source is compiled and its test
// blocks run first; a policy that does not compile gets 400 with
// error_type Validation, one whose tests fail 400 with error_type
// TestsFailed, and nothing changes. A policy identical (source and filename)
// to the active one gets 202 and creates no event; its OsoOffset names the
// current head, which already includes that policy.
func (s *Server) postPolicy(r *http.Request, body []byte) (reply, error) {
	var req struct {
		Src      *string `json:"src"`
		Filename *string `json:"filename"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return reply{}, genericPolicyError("invalid JSON in policy body: %v", err)
	}
	if req.Src == nil {
		return reply{}, genericPolicyError("policy body has no \"src\"")
	}
	src := replica.PolicySource{Src: *req.Src}
	if req.Filename != nil {
		src.Filename = *req.Filename
	}
	compiled, err := query.Compile(src)
	if err != nil {
		return reply{}, validationError(err)
	}
	if err := testsError(compiled.(*polar.Policy)); err != nil {
		return reply{}, err
	}
	noop := false
	seq, err := s.commit(func(active *polar.Policy, cur replica.PolicySource) (*replica.Event, error) {
		if active != nil && cur == src {
			noop = true
			return nil, nil
		}
		return &replica.Event{Kind: replica.KindPolicy, Policy: &src}, nil
	})
	if err != nil {
		return reply{}, err
	}
	if noop {
		return reply{status: http.StatusAccepted, body: message("policy unchanged"), seq: seq, offset: true}, nil
	}
	s.logger.Info("policy updated", "seq", seq, "filename", src.Filename, "bytes", len(src.Src))
	for _, w := range compiled.(*polar.Policy).Warnings() {
		s.logger.Warn("policy warning: accepted, with this caveat", "seq", seq, "code", w.Code, "warning", w.Error())
	}
	return reply{status: http.StatusOK, body: message("policy updated"), seq: seq, offset: true}, nil
}

func validationError(err error) error {
	var list polar.ErrorList
	var inner []map[string]string
	if errors.As(err, &list) {
		for _, d := range list {
			inner = append(inner, map[string]string{"error_type": "ValidationFailed", "message": d.Error()})
		}
	} else {
		inner = append(inner, map[string]string{"error_type": "ValidationFailed", "message": err.Error()})
	}
	msg := fmt.Sprintf("policy is invalid: %s", inner[0]["message"])
	if len(inner) > 1 {
		msg += fmt.Sprintf(" (and %d more problems)", len(inner)-1)
	}
	return &policyError{body: map[string]any{"error_type": "Validation", "message": msg, "errors": inner}}
}

// testsError runs the policy's test blocks and describes the failures.
func testsError(p *polar.Policy) error {
	if p.Tests() == 0 {
		return nil
	}
	results := p.RunTests(nil)
	failed := 0
	errs := []map[string]string{}
	tests := make([]map[string]any, 0, len(results))
	for _, r := range results {
		tests = append(tests, map[string]any{"name": r.Name, "passed": r.Passed, "total": r.Total})
		if r.OK() {
			continue
		}
		failed++
		for _, f := range r.Failures {
			errs = append(errs, map[string]string{"error_type": "AssertionFailed",
				"message": fmt.Sprintf("test %q: %s: %s", r.Name, f.Assertion, f.Message)})
		}
	}
	if failed == 0 {
		return nil
	}
	msg := fmt.Sprintf("%d of %d policy tests failed", failed, len(results))
	if len(errs) > 0 {
		msg += ": " + errs[0]["message"]
	}
	return &policyError{body: map[string]any{"error_type": "TestsFailed", "message": msg,
		"test_results": map[string]any{"success": false, "errors": errs, "tests": tests}}}
}

// getPolicy answers {"policy": {"filename": ..., "src": ...}} or
// {"policy": null}.
func (s *Server) getPolicy(r *http.Request, _ []byte) (reply, error) {
	v := s.state.Acquire()
	src, compiled := v.Policy()
	v.Release()
	if compiled == nil && src.Src == "" {
		return reply{status: http.StatusOK, body: map[string]any{"policy": nil}}, nil
	}
	var filename *string
	if src.Filename != "" {
		filename = &src.Filename
	}
	return reply{status: http.StatusOK, body: map[string]any{"policy": map[string]any{"filename": filename, "src": src.Src}}}, nil
}

// writeGroups validates and commits change groups as one batch event.
func (s *Server) writeGroups(groups []rawGroup, what string) (uint64, error) {
	var inserts, deletes int
	seq, err := s.commit(func(pol *polar.Policy, _ replica.PolicySource) (*replica.Event, error) {
		ev, err := normalizeBatch(groups, pol)
		if ev != nil {
			inserts, deletes = len(ev.Inserts), len(ev.Deletes)
		}
		return ev, err
	})
	if err == nil {
		s.logger.Debug(what, "seq", seq, "inserts", inserts, "deletes", deletes)
	}
	return seq, err
}

// postBatch: POST /api/batch, an array of {"inserts"} and {"deletes"}
// groups applied in order, atomically (see normalizeBatch).
func (s *Server) postBatch(r *http.Request, body []byte) (reply, error) {
	groups, err := decodeGroups(body)
	if err != nil {
		return reply{}, err
	}
	seq, err := s.writeGroups(groups, "batch")
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, body: message("batch applied"), seq: seq, offset: true}, nil
}

// postFact: POST /api/facts inserts one fact and echoes it (canonical).
func (s *Server) postFact(r *http.Request, body []byte) (reply, error) {
	var f wireFact
	if err := decodeJSON(body, &f, "fact"); err != nil {
		return reply{}, err
	}
	var echo replica.Fact
	seq, err := s.commit(func(pol *polar.Policy, _ replica.PolicySource) (*replica.Event, error) {
		if pol == nil {
			return nil, errNoPolicy
		}
		fact, err := checkInsert(f, pol, "insert")
		if err != nil {
			return nil, err
		}
		echo = fact
		return &replica.Event{Kind: replica.KindBatch, Inserts: []replica.Fact{fact}}, nil
	})
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, body: echo, seq: seq, offset: true}, nil
}

// deleteFact: DELETE /api/facts with one fact pattern as the JSON body.
func (s *Server) deleteFact(r *http.Request, body []byte) (reply, error) {
	var p wireFact
	if err := decodeJSON(body, &p, "fact pattern"); err != nil {
		return reply{}, err
	}
	seq, err := s.writeGroups([]rawGroup{{facts: []wireFact{p}}}, "delete")
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, body: message("fact deleted"), seq: seq, offset: true}, nil
}

// bulkLoad: POST /api/bulk_load, an array of facts to insert.
func (s *Server) bulkLoad(r *http.Request, body []byte) (reply, error) {
	var facts []wireFact
	if err := decodeJSON(body, &facts, "bulk_load body (want an array of facts)"); err != nil {
		return reply{}, err
	}
	seq, err := s.writeGroups([]rawGroup{{insert: true, facts: facts}}, "bulk_load")
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, body: message("%d facts loaded", len(facts)), seq: seq, offset: true}, nil
}

// bulkDelete: POST /api/bulk_delete, an array of fact patterns.
func (s *Server) bulkDelete(r *http.Request, body []byte) (reply, error) {
	var pats []wireFact
	if err := decodeJSON(body, &pats, "bulk_delete body (want an array of fact patterns)"); err != nil {
		return reply{}, err
	}
	seq, err := s.writeGroups([]rawGroup{{facts: pats}}, "bulk_delete")
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, body: message("%d patterns deleted", len(pats)), seq: seq, offset: true}, nil
}

// bulk: POST /api/bulk, {"delete": [patterns], "tell": [facts]} (both keys
// required), deletes first, atomically.
func (s *Server) bulk(r *http.Request, body []byte) (reply, error) {
	var req map[string]json.RawMessage
	if err := decodeJSON(body, &req, "bulk body (want {\"delete\": [...], \"tell\": [...]})"); err != nil {
		return reply{}, err
	}
	var missing []string
	for _, k := range []string{"delete", "tell"} {
		if _, ok := req[k]; !ok {
			missing = append(missing, fmt.Sprintf("%q", k))
		}
	}
	if len(missing) > 0 {
		return reply{}, badf("bulk body needs both \"delete\" and \"tell\"; missing %s", strings.Join(missing, " and "))
	}
	var del, tell []wireFact
	if err := decodeJSON(req["delete"], &del, "bulk delete"); err != nil {
		return reply{}, err
	}
	if err := decodeJSON(req["tell"], &tell, "bulk tell"); err != nil {
		return reply{}, err
	}
	seq, err := s.writeGroups([]rawGroup{{facts: del}, {insert: true, facts: tell}}, "bulk")
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, body: message("bulk update applied"), seq: seq, offset: true}, nil
}

// clearData: POST /api/clear_data deletes every fact; the policy and the
// API keys stay. The body may be empty, null or {}.
func (s *Server) clearData(r *http.Request, body []byte) (reply, error) {
	if s.cfg.DisableClearData {
		return reply{}, errClearDisabled
	}
	if b := strings.TrimSpace(string(body)); b != "" && b != "null" {
		var v map[string]json.RawMessage
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			return reply{}, badf("clear_data takes no body (or {} or null): %v", err)
		}
	}
	seq, err := s.commit(func(*polar.Policy, replica.PolicySource) (*replica.Event, error) {
		return &replica.Event{Kind: replica.KindClear}, nil
	})
	if err != nil {
		return reply{}, err
	}
	s.logger.Info("data cleared", "seq", seq)
	return reply{status: http.StatusOK, body: message("data cleared"), seq: seq, offset: true}, nil
}
