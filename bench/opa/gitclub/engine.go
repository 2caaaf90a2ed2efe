package gitclub

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// Policy is the gitclub model in Rego (v1 syntax), package gitclub.
//
//go:embed gitclub.rego
var Policy string

const (
	// PolicyID is the id under which Load stores Policy in OPA's store.
	PolicyID = "gitclub.rego"
	// AllowQuery and ListQuery are the two questions Engine asks.
	AllowQuery = "data.gitclub.allow"
	ListQuery  = "data.gitclub.readable_repos"
	// AllowPath is the HTTP path of the allow decision on an OPA server.
	AllowPath = "/v1/data/gitclub/allow"
)

// StoreMode chooses how OPA's in-memory store holds the data.
type StoreMode string

const (
	// StoreRaw keeps Go values (map[string]any) and converts what a query
	// reads to AST values on every read. This is what `opa run` does by
	// default.
	StoreRaw StoreMode = "raw"
	// StoreAST converts the data to AST values once, at load, as
	// `opa run --optimize-store-for-read-speed` does.
	StoreAST StoreMode = "ast"
)

// LoadTimes breaks down Load's work.
type LoadTimes struct {
	Decode  time.Duration // JSON bytes → Go values (util.UnmarshalJSON, as the bundle reader does)
	Store   time.Duration // Go values → in-memory store (and the policy into it)
	Prepare time.Duration // compile the policy and prepare both queries
}

// Total is the whole load.
func (t LoadTimes) Total() time.Duration { return t.Decode + t.Store + t.Prepare }

// Engine answers gitclub questions with OPA. Safe for concurrent use.
type Engine struct {
	store storage.Store
	allow rego.PreparedEvalQuery
	list  rego.PreparedEvalQuery
}

// Load builds an Engine from the JSON encoding of Data (Data.WriteJSON),
// the way an OPA sidecar loads a bundle's data.json: decode, write to an
// in-memory store (without a JSON round trip, as `opa run` configures it),
// then compile the policy and prepare the queries.
func Load(ctx context.Context, dataJSON []byte, mode StoreMode) (*Engine, LoadTimes, error) {
	var lt LoadTimes
	var opts []inmem.Opt
	switch mode {
	case StoreRaw, "":
		opts = []inmem.Opt{inmem.OptRoundTripOnWrite(false)}
	case StoreAST:
		opts = []inmem.Opt{inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true)}
	default:
		return nil, lt, fmt.Errorf("load gitclub: unknown store mode %q", mode)
	}

	start := time.Now()
	var data map[string]any
	if err := util.UnmarshalJSON(dataJSON, &data); err != nil {
		return nil, lt, fmt.Errorf("decode gitclub data: %w", err)
	}
	lt.Decode = time.Since(start)

	start = time.Now()
	store := inmem.NewWithOpts(opts...)
	err := storage.Txn(ctx, store, storage.WriteParams, func(txn storage.Transaction) error {
		if err := store.Write(ctx, txn, storage.AddOp, storage.RootPath, data); err != nil {
			return err
		}
		return store.UpsertPolicy(ctx, txn, PolicyID, []byte(Policy))
	})
	if err != nil {
		return nil, lt, fmt.Errorf("store gitclub data: %w", err)
	}
	lt.Store = time.Since(start)

	start = time.Now()
	e := &Engine{store: store}
	if e.allow, err = prepare(ctx, store, AllowQuery); err != nil {
		return nil, lt, err
	}
	if e.list, err = prepare(ctx, store, ListQuery); err != nil {
		return nil, lt, err
	}
	lt.Prepare = time.Since(start)
	return e, lt, nil
}

func prepare(ctx context.Context, store storage.Store, query string) (rego.PreparedEvalQuery, error) {
	pq, err := rego.New(rego.Query(query), rego.Module(PolicyID, Policy), rego.Store(store)).PrepareForEval(ctx)
	if err != nil {
		return pq, fmt.Errorf("prepare %s: %w", query, err)
	}
	return pq, nil
}

// Store is the engine's store, holding the data and the policy; an OPA
// server can serve from it (see StartServer).
func (e *Engine) Store() storage.Store { return e.store }

// Input is the OPA input document for q.
func Input(q datasets.Query) map[string]any {
	return map[string]any{
		"actor":    valueInput(q.Actor),
		"action":   q.Action,
		"resource": valueInput(q.Resource),
	}
}

// ListInput is the OPA input document for listing what actor may read.
func ListInput(actor replica.Value) map[string]any {
	return map[string]any{"actor": valueInput(actor)}
}

func valueInput(v replica.Value) map[string]any {
	return map[string]any{"type": v.Type, "id": v.ID}
}

// Authorize evaluates data.gitclub.allow for an input built by Input.
func (e *Engine) Authorize(ctx context.Context, input map[string]any) (bool, error) {
	rs, err := e.allow.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return false, fmt.Errorf("eval %s: %w", AllowQuery, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return false, fmt.Errorf("eval %s: %d results, want 1", AllowQuery, len(rs))
	}
	allowed, ok := rs[0].Expressions[0].Value.(bool)
	if !ok {
		return false, fmt.Errorf("eval %s: result %T, want bool", AllowQuery, rs[0].Expressions[0].Value)
	}
	return allowed, nil
}

// ListReadable evaluates data.gitclub.readable_repos for an input built by
// ListInput and returns the repository ids, in the order OPA gives them.
func (e *Engine) ListReadable(ctx context.Context, input map[string]any) ([]string, error) {
	rs, err := e.list.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return nil, fmt.Errorf("eval %s: %w", ListQuery, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("eval %s: %d results, want 1", ListQuery, len(rs))
	}
	set, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		return nil, fmt.Errorf("eval %s: result %T, want a set", ListQuery, rs[0].Expressions[0].Value)
	}
	ids := make([]string, len(set))
	for i, x := range set {
		s, ok := x.(string)
		if !ok {
			return nil, errors.New("eval " + ListQuery + ": a member is not a string")
		}
		ids[i] = s
	}
	return ids, nil
}
