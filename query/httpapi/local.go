package httpapi

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/localsql"
	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// Local authorization (spec/local-authorization.md): the four endpoints
// answer {"sql": ...} and nothing else.

type sqlResponse struct {
	SQL string `json:"sql"`
}

// bindingsCache holds parsed data-bindings files by the hash of their text,
// for every Server of the process (the SDKs send the same text each call).
var bindingsCache localsql.Cache

// localEndpoints are the local-authorization routes, served by the node and,
// through MountCheckAPI, by the reference control plane.
func (s *Server) localEndpoints() []endpoint {
	return []endpoint{
		{route: "/api/authorize_query", method: http.MethodPost, name: "authorize_query", body: true, fn: s.authorizeQuery},
		{route: "/api/list_query", method: http.MethodPost, name: "list_query", body: true, fn: s.listQuery},
		{route: "/api/actions_query", method: http.MethodPost, name: "actions_query", body: true, fn: s.actionsQuery},
		{route: "/api/evaluate_query_local", method: http.MethodPost, name: "evaluate_query_local", body: true, fn: s.evaluateQueryLocal},
	}
}

// localBody reads the data bindings and the nested query object of a local
// request. Errors in the query object name it (query.actor_id).
func localBody(c *call) (*fields, *localsql.Bindings, error) {
	f := &c.f
	q, present := f.obj.get("query")
	if !present {
		return nil, nil, badRequest("missing field query")
	}
	obj, ok := q.(map[string]any)
	if !ok {
		return nil, nil, badRequest("query must be an object (the body of the matching Check API request), not %s", kind(q))
	}
	y, present := f.obj.get("data_bindings")
	text, isStr := y.(string)
	switch {
	case !present || y == nil || (isStr && strings.TrimSpace(text) == ""):
		return nil, nil, badRequest("data bindings are required for local authorization")
	case !isStr:
		return nil, nil, badRequest("data_bindings must be the text of the data-bindings YAML file, not %s", kind(y))
	}
	b, err := bindingsCache.Parse(text)
	if err != nil {
		return nil, nil, localError(err)
	}
	return &fields{obj: objectOf(obj)}, b, nil
}

// queryErr prefixes a decoding error of the nested query object.
func queryErr(err error) error {
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusBadRequest {
		return badRequest("query.%s", ae.msg)
	}
	return err
}

// localError turns a translation error into its answer.
func localError(err error) error {
	if errors.Is(err, localsql.ErrBadRequest) {
		return badRequest("%s", strings.TrimPrefix(err.Error(), localsql.ErrBadRequest.Error()+": "))
	}
	return err
}

func canonicalValue(v replica.Value) polar.Value {
	c, _ := replica.Canonical(v) // the decoder checked it
	return polar.Value(c)
}

// localRequest builds a translation request, warning (once a minute per
// signature) of binding signatures the policy cannot use, which are left
// out rather than refused (localsql.Bindings.Usable).
func (s *Server) localRequest(in query.LocalInput, b *localsql.Bindings) localsql.Request {
	for _, why := range b.Ignored(in.Policy) {
		s.warnEvery("bindings:"+why, "data bindings: a signature the policy cannot use is ignored", "reason", why)
	}
	return localsql.Request{Policy: in.Policy, DB: in.DB, Bindings: b, Context: in.Context,
		Now: in.Now, EngineSteps: in.MaxSteps}
}

// authorizeQuery: POST /api/authorize_query.
func (s *Server) authorizeQuery(c *call) (any, query.Meta, error) {
	qf, b, err := localBody(c)
	if err != nil {
		return nil, query.Meta{}, err
	}
	actor := qf.value("actor_type", "actor_id")
	action := qf.str("action")
	res := qf.value("resource_type", "resource_id")
	ctx := qf.contextFacts()
	if qf.err != nil {
		return nil, query.Meta{}, queryErr(qf.err)
	}
	var sql string
	m, err := s.eng.Local(ctx, func(in query.LocalInput) error {
		sql, err = localsql.Authorize(s.localRequest(in, b), canonicalValue(actor), action, canonicalValue(res))
		return err
	})
	if err != nil {
		return nil, m, localError(err)
	}
	return sqlResponse{SQL: sql}, m, nil
}

// listQuery: POST /api/list_query.
func (s *Server) listQuery(c *call) (any, query.Meta, error) {
	qf, b, err := localBody(c)
	if err != nil {
		return nil, query.Meta{}, err
	}
	column := c.f.str("column")
	if c.f.err != nil {
		return nil, query.Meta{}, c.f.err
	}
	actor := qf.value("actor_type", "actor_id")
	action := qf.str("action")
	resType := qf.str("resource_type")
	ctx := qf.contextFacts()
	if qf.err != nil {
		return nil, query.Meta{}, queryErr(qf.err)
	}
	var sql string
	m, err := s.eng.Local(ctx, func(in query.LocalInput) error {
		sql, err = localsql.List(s.localRequest(in, b), canonicalValue(actor), action, resType, column)
		return err
	})
	if err != nil {
		return nil, m, localError(err)
	}
	return sqlResponse{SQL: sql}, m, nil
}

// actionsQuery: POST /api/actions_query.
func (s *Server) actionsQuery(c *call) (any, query.Meta, error) {
	qf, b, err := localBody(c)
	if err != nil {
		return nil, query.Meta{}, err
	}
	actor := qf.value("actor_type", "actor_id")
	res := qf.value("resource_type", "resource_id")
	ctx := qf.contextFacts()
	if qf.err != nil {
		return nil, query.Meta{}, queryErr(qf.err)
	}
	var sql string
	m, err := s.eng.Local(ctx, func(in query.LocalInput) error {
		sql, err = localsql.Actions(s.localRequest(in, b), canonicalValue(actor), canonicalValue(res))
		return err
	})
	if err != nil {
		return nil, m, localError(err)
	}
	return sqlResponse{SQL: sql}, m, nil
}

// localMode is the decoded mode of evaluate_query_local.
type localMode struct {
	filter  bool
	columns map[string]string // select: variable → output column
	varName string            // filter
	column  string            // filter
}

func (f *fields) localMode() localMode {
	var out localMode
	if f.err != nil {
		return out
	}
	v, present := f.obj.get("mode")
	if !present || v == nil {
		f.fail(`missing field mode: {"mode": "select", "query_vars_to_output_column_names": {...}} or {"mode": "filter", "query_var": ..., "output_column_name": ...}`)
		return out
	}
	m, ok := v.(map[string]any)
	if !ok {
		f.fail(`mode must be an object such as {"mode": "select", "query_vars_to_output_column_names": {...}}, not %s`, kind(v))
		return out
	}
	mf := fields{obj: objectOf(m)}
	name := mf.str("mode")
	switch {
	case mf.err != nil:
	case name == "select":
		cols, present := m["query_vars_to_output_column_names"]
		cm, ok := cols.(map[string]any)
		if !present || !ok {
			mf.fail("query_vars_to_output_column_names must be an object mapping query variables to output column names, not %s", kind(cols))
			break
		}
		out.columns = map[string]string{}
		keys := make([]string, 0, len(cm))
		for k := range cm {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out.columns[k] = mf.nonEmpty("query_vars_to_output_column_names."+k, cm[k])
		}
	case name == "filter":
		out.filter = true
		out.varName = mf.str("query_var")
		out.column = mf.str("output_column_name")
	default:
		mf.fail("mode %q is not select or filter", name)
	}
	if mf.err != nil {
		var ae *apiError
		if errors.As(mf.err, &ae) {
			f.fail("mode.%s", ae.msg)
		}
	}
	return out
}

// evaluateQueryLocal: POST /api/evaluate_query_local.
func (s *Server) evaluateQueryLocal(c *call) (any, query.Meta, error) {
	qf, b, err := localBody(c)
	if err != nil {
		return nil, query.Meta{}, err
	}
	mode := c.f.localMode()
	if c.f.err != nil {
		return nil, query.Meta{}, c.f.err
	}
	calls, vars := qf.queryCalls()
	ctx := qf.contextFacts()
	if qf.err != nil {
		return nil, query.Meta{}, queryErr(qf.err)
	}
	q := localsql.Query{Calls: calls, Vars: vars}
	var sql string
	m, err := s.eng.Local(ctx, func(in query.LocalInput) error {
		if mode.filter {
			sql, err = localsql.Filter(s.localRequest(in, b), q, mode.varName, mode.column)
		} else {
			sql, err = localsql.Select(s.localRequest(in, b), q, mode.columns)
		}
		return err
	})
	if err != nil {
		return nil, m, localError(err)
	}
	return sqlResponse{SQL: sql}, m, nil
}
