package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// Response bodies: exactly the documented keys (check-api.md §2.5).
type (
	authorizeResponse struct {
		Allowed bool `json:"allowed"`
	}
	valuesResponse struct {
		Results []replica.Value `json:"results"`
	}
	stringsResponse struct {
		Results []string `json:"results"`
	}
	pageResponse struct {
		Results       []string `json:"results"`
		NextPageToken *string  `json:"next_page_token"`
	}
	rowsResponse struct {
		Results []map[string]*string `json:"results"`
	}
	patternsResponse struct {
		Results []replica.Pattern `json:"results"`
	}
	metadataResponse struct {
		Metadata struct {
			Resources map[string]polar.ResourceMetadata `json:"resources"`
		} `json:"metadata"`
	}
	policyResponse struct {
		Policy *policyBody `json:"policy"`
	}
	policyBody struct {
		Filename *string `json:"filename"`
		Src      string  `json:"src"`
	}
)

// authorize: POST /api/authorize (§4.1).
func (s *Server) authorize(c *call) (any, query.Meta, error) {
	f := &c.f
	actor := f.value("actor_type", "actor_id")
	action := f.str("action")
	res := f.value("resource_type", "resource_id")
	ctx := f.contextFacts()
	if f.err != nil {
		return nil, query.Meta{}, f.err
	}
	ok, m, err := s.eng.AuthorizeContext(c.r.Context(), query.Check{Actor: actor, Action: action, Resource: res, Context: ctx})
	return authorizeResponse{Allowed: ok}, m, err
}

// authorizeResources: POST /api/authorize_resources (§4.2).
func (s *Server) authorizeResources(c *call) (any, query.Meta, error) {
	f := &c.f
	actor := f.value("actor_type", "actor_id")
	action := f.str("action")
	arr, _ := f.array("resources", true)
	resources := make([]replica.Value, len(arr))
	for i, el := range arr {
		resources[i] = f.typedValue("resources["+strconv.Itoa(i)+"]", el, " (resources must be concrete)", replica.CanonicalQuestion)
	}
	ctx := f.contextFacts()
	if f.err != nil {
		return nil, query.Meta{}, f.err
	}
	out, m, err := s.eng.AuthorizeResources(actor, action, resources, ctx)
	if out == nil {
		out = []replica.Value{}
	}
	return valuesResponse{Results: out}, m, err
}

// list: POST /api/list (§4.3), paged as described in pagination.go.
func (s *Server) list(c *call) (any, query.Meta, error) {
	f := &c.f
	actor := f.value("actor_type", "actor_id")
	action := f.str("action")
	resType := f.str("resource_type")
	ctx := f.contextFacts()
	size, hasSize := f.pageSize()
	tokText, hasToken := f.optString("page_token")
	if f.err != nil {
		return nil, query.Meta{}, f.err
	}
	qh := listHash(actor, action, resType)
	var tok pageToken
	if hasToken {
		var err error
		if tok, err = decodePageToken(tokText, qh); err != nil {
			return nil, query.Meta{}, err
		}
		if err := s.await(c, tok.revision); err != nil {
			return nil, query.Meta{}, err
		}
	}
	ids, all, m, err := s.eng.ListContext(c.r.Context(), actor, action, resType, ctx)
	if err != nil {
		return nil, m, err
	}
	if all {
		s.unbounded(c, "list", "every "+resType)
	}
	if !hasSize && !hasToken {
		return stringsResponse{Results: ids}, m, nil
	}
	if hasToken {
		size = tok.size
	}
	page, next := paginate(ids, tok, hasToken, size, m.Revision, qh)
	return pageResponse{Results: page, NextPageToken: next}, m, nil
}

// actions: POST /api/actions (§4.4).
func (s *Server) actions(c *call) (any, query.Meta, error) {
	f := &c.f
	actor := f.value("actor_type", "actor_id")
	res := f.value("resource_type", "resource_id")
	ctx := f.contextFacts()
	if f.err != nil {
		return nil, query.Meta{}, f.err
	}
	acts, all, m, err := s.eng.ActionsContext(c.r.Context(), actor, res, ctx)
	if err != nil {
		return nil, m, err
	}
	if all {
		s.unbounded(c, "actions", "every action")
	}
	return stringsResponse{Results: acts}, m, nil
}

// unbounded marks an answer that left out a wildcard (see the package
// documentation).
func (s *Server) unbounded(c *call, endpoint, what string) {
	c.w.Header().Set(headerUnbounded, "true")
	s.m.unbounded.WithLabelValues(endpoint).Inc()
	s.warnEvery("unbounded:"+endpoint, "the policy allows "+what+"; the answer lists only explicit values and carries "+headerUnbounded,
		"endpoint", endpoint, "request_id", c.w.Header().Get(headerRequestID))
}

// evaluateQuery: POST /api/evaluate_query (§4.5).
func (s *Server) evaluateQuery(c *call) (any, query.Meta, error) {
	calls, vars := c.f.queryCalls()
	ctx := c.f.contextFacts()
	if c.f.err != nil {
		return nil, query.Meta{}, c.f.err
	}
	rows, m, err := s.eng.EvaluateQueryContext(c.r.Context(), calls, vars, ctx)
	if err != nil {
		return nil, m, err
	}
	return rowsResponse{Results: dedupeRows(rows, vars)}, m, nil
}

// dedupeRows removes duplicate rows, makes sure every row names every
// variable (null for a wildcard) and sorts the rows (by variable name, a
// null before any id) so that answers are deterministic.
func dedupeRows(rows []map[string]*string, vars map[string]query.VarConstraint) []map[string]*string {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]map[string]*string, 0, len(rows))
	seen := make(map[string]bool, len(rows))
	var key strings.Builder
	for _, r := range rows {
		key.Reset()
		for _, n := range names {
			v, ok := r[n]
			if !ok {
				r[n] = nil
			}
			if v == nil {
				key.WriteString("\x00*")
			} else {
				key.WriteString("\x00=")
				key.WriteString(strconv.Itoa(len(*v)))
				key.WriteByte(':')
				key.WriteString(*v)
			}
		}
		if k := key.String(); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		for _, n := range names {
			a, b := out[i][n], out[j][n]
			switch {
			case a == nil && b == nil:
				continue
			case a == nil:
				return true
			case b == nil:
				return false
			case *a != *b:
				return *a < *b
			}
		}
		return false
	})
	return out
}

// query: POST /api/query (§4.6).
func (s *Server) query(c *call) (any, query.Meta, error) {
	pat := c.f.factPattern()
	ctx := c.f.contextFacts()
	if c.f.err != nil {
		return nil, query.Meta{}, c.f.err
	}
	res, m, err := s.eng.QueryContext(c.r.Context(), pat, ctx)
	if res == nil {
		res = []replica.Pattern{}
	}
	return patternsResponse{Results: res}, m, err
}

// facts: GET /api/facts (§4.7): a bare array.
func (s *Server) facts(c *call) (any, query.Meta, error) {
	pat, err := factsPattern(c.r.URL.Query())
	if err != nil {
		return nil, query.Meta{}, err
	}
	out, m, err := s.eng.Facts(pat)
	if out == nil {
		out = []replica.Fact{}
	}
	return out, m, err
}

// policyMetadata: GET /api/policy_metadata (§4.8).
func (s *Server) policyMetadata(c *call) (any, query.Meta, error) {
	q := c.r.URL.Query()
	if v, id := q.Get("version"), q.Get("id"); v != "" || id != "" {
		src, ok, m := s.eng.Policy()
		if !ok {
			// a loaded state without a policy has no version to match
			return nil, m, &apiError{status: http.StatusNotFound, msg: "unknown policy version"}
		}
		ver := policyVersion(src)
		for _, want := range []string{v, id} {
			if want != "" && !strings.EqualFold(want, ver) {
				return nil, m, &apiError{status: http.StatusNotFound, msg: "unknown policy version"}
			}
		}
	}
	md, m, err := s.eng.Metadata()
	if err != nil {
		return nil, m, err
	}
	var out metadataResponse
	out.Metadata.Resources = make(map[string]polar.ResourceMetadata, len(md))
	for t, r := range md {
		if r.Roles == nil {
			r.Roles = []string{}
		}
		if r.Permissions == nil {
			r.Permissions = []string{}
		}
		if r.Relations == nil {
			r.Relations = map[string]string{}
		}
		out.Metadata.Resources[t] = r
	}
	return out, m, nil
}

// policy: GET /api/policy (§4.9); {"policy": null} before any policy.
func (s *Server) policy(c *call) (any, query.Meta, error) {
	src, ok, m := s.eng.Policy()
	if !ok {
		return policyResponse{}, m, nil
	}
	b := &policyBody{Src: src.Src}
	if src.Filename != "" {
		name := src.Filename
		b.Filename = &name
	}
	return policyResponse{Policy: b}, m, nil
}

// policyVersion is the version /api/policy_metadata accepts: the hex
// SHA-256 of the policy source.
func policyVersion(src replica.PolicySource) string {
	sum := sha256.Sum256([]byte(src.Src))
	return hex.EncodeToString(sum[:])
}
