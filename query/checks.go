package query

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// Check is an authorize question.
type Check struct {
	Actor    replica.Value
	Action   string
	Resource replica.Value
	Context  []replica.Fact
}

// Authorize answers whether the actor may perform the action on the resource.
func (e *Engine) Authorize(c Check) (bool, Meta, error) {
	return e.AuthorizeContext(background, c)
}

// AuthorizeContext is Authorize that stops evaluating, with an error wrapping
// ErrCanceled, once ctx is done (the client went away).
func (e *Engine) AuthorizeContext(ctx context.Context, c Check) (bool, Meta, error) {
	actor, err := canonical("actor", c.Actor)
	if err != nil {
		return false, Meta{}, err
	}
	res, err := canonical("resource", c.Resource)
	if err != nil {
		return false, Meta{}, err
	}
	if c.Action == "" {
		return false, Meta{}, fmt.Errorf("%w: action must not be empty", ErrBadRequest)
	}
	v, p, err := e.begin()
	if err != nil {
		return false, Meta{}, err
	}
	defer v.Release()
	m := Meta{Revision: v.Revision()}
	if err := checkContext(p, c.Context); err != nil {
		return false, m, err
	}
	if p == nil {
		return false, m, nil
	}
	var key string
	if len(c.Context) == 0 && e.cache != nil { // no key to build without a cache
		key = cacheKey(v.StoreID(), m.Revision, "authz", actor.Type, actor.ID, c.Action, res.Type, res.ID)
		if a, ok := e.cached(key); ok {
			m.Cached, m.Reusable = true, true
			return a.(bool), m, nil
		}
	}
	o := e.options(ctx, c.Context)
	ok, err := p.Authorize(v, actor, c.Action, res, &o)
	if err != nil {
		return false, m, classify(err)
	}
	m.Reusable = !o.ReadClock
	if key != "" && m.Reusable {
		e.store(key, ok, 8)
	}
	return ok, m, nil
}

// AuthorizeResources returns the resources, in input order and with
// duplicates kept, that the actor may perform the action on.
func (e *Engine) AuthorizeResources(actor replica.Value, action string, resources []replica.Value, context []replica.Fact) ([]replica.Value, Meta, error) {
	a, err := canonical("actor", actor)
	if err != nil {
		return nil, Meta{}, err
	}
	if action == "" {
		return nil, Meta{}, fmt.Errorf("%w: action must not be empty", ErrBadRequest)
	}
	rs := make([]polar.Value, len(resources))
	for i, r := range resources {
		if rs[i], err = canonical(fmt.Sprintf("resources[%d]", i), r); err != nil {
			return nil, Meta{}, err
		}
	}
	v, p, err := e.begin()
	if err != nil {
		return nil, Meta{}, err
	}
	defer v.Release()
	m := Meta{Revision: v.Revision()}
	if err := checkContext(p, context); err != nil {
		return nil, m, err
	}
	out := []replica.Value{}
	if p == nil {
		return out, m, nil
	}
	o := e.options(background, context)
	memo := map[polar.Value]bool{}
	for i, r := range rs {
		ok, seen := memo[r]
		if !seen {
			if ok, err = p.Authorize(v, a, action, r, &o); err != nil {
				return nil, m, classify(err)
			}
			memo[r] = ok
		}
		if ok {
			out = append(out, resources[i])
		}
	}
	return out, m, nil
}

// List returns the sorted ids of resources of resourceType the actor may
// perform the action on. all is true when the policy allows every resource
// of the type; ids found explicitly are still returned.
func (e *Engine) List(actor replica.Value, action, resourceType string, context []replica.Fact) (ids []string, all bool, m Meta, err error) {
	return e.ListContext(background, actor, action, resourceType, context)
}

// ListContext is List that stops evaluating, with an error wrapping
// ErrCanceled, once ctx is done (the client went away).
func (e *Engine) ListContext(ctx context.Context, actor replica.Value, action, resourceType string, context []replica.Fact) (ids []string, all bool, m Meta, err error) {
	a, err := canonical("actor", actor)
	if err != nil {
		return nil, false, Meta{}, err
	}
	if action == "" || resourceType == "" {
		return nil, false, Meta{}, fmt.Errorf("%w: action and resource_type must not be empty", ErrBadRequest)
	}
	v, p, err := e.begin()
	if err != nil {
		return nil, false, Meta{}, err
	}
	defer v.Release()
	m = Meta{Revision: v.Revision()}
	if err := checkContext(p, context); err != nil {
		return nil, false, m, err
	}
	if p == nil {
		return []string{}, false, m, nil
	}
	type listAnswer struct {
		ids []string
		all bool
	}
	var key string
	if len(context) == 0 && e.cache != nil { // no key to build without a cache
		key = cacheKey(v.StoreID(), m.Revision, "list", a.Type, a.ID, action, resourceType)
		if c, ok := e.cached(key); ok {
			m.Cached = true
			la := c.(listAnswer)
			return la.ids, la.all, m, nil
		}
	}
	o := e.options(ctx, context)
	ids, all, err = p.List(v, a, action, resourceType, &o)
	if err != nil {
		return nil, false, m, classify(err)
	}
	if ids == nil {
		ids = []string{}
	}
	if key != "" && !o.ReadClock {
		cost := int64(24)
		for _, id := range ids {
			cost += int64(len(id)) + 16
		}
		e.store(key, listAnswer{ids, all}, cost)
	}
	return ids, all, m, nil
}

// Actions returns the sorted actions the actor may perform on the
// resource; all is true when the policy allows every action.
func (e *Engine) Actions(actor, resource replica.Value, context []replica.Fact) (actions []string, all bool, m Meta, err error) {
	return e.ActionsContext(background, actor, resource, context)
}

// ActionsContext is Actions that stops evaluating, with an error wrapping
// ErrCanceled, once ctx is done (the client went away).
func (e *Engine) ActionsContext(ctx context.Context, actor, resource replica.Value, context []replica.Fact) (actions []string, all bool, m Meta, err error) {
	a, err := canonical("actor", actor)
	if err != nil {
		return nil, false, Meta{}, err
	}
	r, err := canonical("resource", resource)
	if err != nil {
		return nil, false, Meta{}, err
	}
	v, p, err := e.begin()
	if err != nil {
		return nil, false, Meta{}, err
	}
	defer v.Release()
	m = Meta{Revision: v.Revision()}
	if err := checkContext(p, context); err != nil {
		return nil, false, m, err
	}
	if p == nil {
		return []string{}, false, m, nil
	}
	actions, all, err = p.Actions(v, a, r, new(e.options(ctx, context)))
	if err != nil {
		return nil, false, m, classify(err)
	}
	if actions == nil {
		actions = []string{}
	}
	return actions, all, m, nil
}

// QueryCall and VarConstraint describe an evaluate_query request.
type (
	QueryCall     = polar.QueryCall
	VarConstraint = polar.VarConstraint
)

// EvaluateQuery evaluates a conjunction of calls over typed variables. A
// row maps every variable to its id, or nil for "any value of its type".
func (e *Engine) EvaluateQuery(calls []QueryCall, vars map[string]VarConstraint, context []replica.Fact) ([]map[string]*string, Meta, error) {
	return e.EvaluateQueryContext(background, calls, vars, context)
}

// EvaluateQueryContext is EvaluateQuery that stops evaluating, with an error wrapping
// ErrCanceled, once ctx is done (the client went away).
func (e *Engine) EvaluateQueryContext(ctx context.Context, calls []QueryCall, vars map[string]VarConstraint, context []replica.Fact) ([]map[string]*string, Meta, error) {
	v, p, err := e.begin()
	if err != nil {
		return nil, Meta{}, err
	}
	defer v.Release()
	m := Meta{Revision: v.Revision()}
	if err := checkContext(p, context); err != nil {
		return nil, m, err
	}
	for name, c := range vars {
		for i, id := range c.IDs {
			if _, err := canonical(fmt.Sprintf("constraints.%s.ids[%d]", name, i), replica.Value{Type: c.Type, ID: id}); err != nil {
				return nil, m, err
			}
		}
	}
	if p == nil {
		return []map[string]*string{}, m, nil
	}
	rows, err := p.EvaluateQuery(v, calls, vars, new(e.options(ctx, context)))
	if err != nil {
		return nil, m, classify(err)
	}
	return rows, m, nil
}

// Query returns every fact, stored or derived, matching the pattern. In
// results, a nil ID is any value of its type and a nil Type any value.
func (e *Engine) Query(pattern replica.Pattern, context []replica.Fact) ([]replica.Pattern, Meta, error) {
	return e.QueryContext(background, pattern, context)
}

// QueryContext is Query that stops evaluating, with an error wrapping
// ErrCanceled, once ctx is done (the client went away).
func (e *Engine) QueryContext(ctx context.Context, pattern replica.Pattern, context []replica.Fact) ([]replica.Pattern, Meta, error) {
	if err := pattern.Validate(); err != nil {
		return nil, Meta{}, fmt.Errorf("%w: fact: %v", ErrBadRequest, err)
	}
	args := make([]polar.Value, len(pattern.Args))
	for i, a := range pattern.Args {
		switch {
		case a.Type != nil && a.ID != nil:
			v, err := canonical(fmt.Sprintf("fact.args[%d]", i), replica.Value{Type: *a.Type, ID: *a.ID})
			if err != nil {
				return nil, Meta{}, err
			}
			args[i] = v
		case a.Type != nil:
			args[i] = polar.Value{Type: *a.Type}
		}
	}
	v, p, err := e.begin()
	if err != nil {
		return nil, Meta{}, err
	}
	defer v.Release()
	m := Meta{Revision: v.Revision()}
	if err := checkContext(p, context); err != nil {
		return nil, m, err
	}
	if p == nil {
		return []replica.Pattern{}, m, nil
	}
	rows, err := p.Query(v, pattern.Predicate, args, new(e.options(ctx, context)))
	if err != nil {
		return nil, m, classify(err)
	}
	out := make([]replica.Pattern, len(rows))
	for i, r := range rows {
		pa := make([]replica.PatternArg, len(r))
		for j, val := range r {
			if val.Type != "" {
				t := val.Type
				pa[j].Type = &t
			}
			if val.ID != "" {
				id := val.ID
				pa[j].ID = &id
			}
		}
		out[i] = replica.Pattern{Predicate: pattern.Predicate, Args: pa}
	}
	sort.Slice(out, func(i, j int) bool { return patternLess(out[i], out[j]) })
	return out, m, nil
}

// patternLess orders patterns argument by argument: by type (a missing
// type last), then by id (a missing id last). It allocates nothing.
func patternLess(a, b replica.Pattern) bool {
	for i := range a.Args {
		if c := cmpOptional(a.Args[i].Type, b.Args[i].Type); c != 0 {
			return c < 0
		}
		if c := cmpOptional(a.Args[i].ID, b.Args[i].ID); c != 0 {
			return c < 0
		}
	}
	return false
}

// cmpOptional compares two optional strings, nil after every string.
func cmpOptional(a, b *string) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return strings.Compare(*a, *b)
}

// Facts returns the stored facts matching the pattern (no rules, no
// context). A pattern shorter than a fact matches on its first arguments.
func (e *Engine) Facts(pattern replica.Pattern) ([]replica.Fact, Meta, error) {
	if pattern.Predicate == "" {
		return nil, Meta{}, fmt.Errorf("%w: the predicate query parameter is required", ErrBadRequest)
	}
	v := e.state.Load().Acquire()
	defer v.Release()
	m := Meta{Revision: v.Revision()}
	if _, compiled := v.Policy(); compiled == nil && !e.loaded.Load() && v.Revision() == 0 {
		return nil, m, ErrNotReady
	}
	out := []replica.Fact{}
	v.Facts(pattern, func(f replica.Fact) bool {
		out = append(out, f)
		return true
	})
	return out, m, nil
}

// Metadata returns the policy's roles, permissions and relations by actor
// and resource type, plus the "global" entry, which is always there
// (check-api.md §4.8). Without a policy it is the global entry alone, as
// for an empty policy.
func (e *Engine) Metadata() (map[string]polar.ResourceMetadata, Meta, error) {
	v, p, err := e.begin()
	if err != nil {
		return nil, Meta{}, err
	}
	defer v.Release()
	m := Meta{Revision: v.Revision()}
	if p == nil {
		empty := polar.ResourceMetadata{Roles: []string{}, Permissions: []string{}, Relations: map[string]string{}}
		return map[string]polar.ResourceMetadata{polar.MetadataKeyGlobal: empty}, m, nil
	}
	return p.Metadata(), m, nil
}

// Policy returns the active policy source; ok is false when there is none.
func (e *Engine) Policy() (src replica.PolicySource, ok bool, m Meta) {
	v := e.state.Load().Acquire()
	defer v.Release()
	src, _ = v.Policy()
	return src, activePolicy(v) != nil, Meta{Revision: v.Revision()}
}

// Revision returns the state's applied revision.
func (e *Engine) Revision() uint64 { return e.state.Load().Revision() }

// State returns the replica state the engine reads now.
func (e *Engine) State() *replica.State { return e.state.Load() }

// SetState replaces the state, e.g. after a re-bootstrap from a snapshot.
// Questions already running finish on the view they hold; WaitFor callers
// move on to the new state.
func (e *Engine) SetState(st *replica.State) {
	e.state.Store(st)
	e.loaded.Store(true)
	e.swapMu.Lock()
	if e.swapped != nil {
		close(e.swapped)
		e.swapped = nil
	}
	e.swapMu.Unlock()
}

// WaitFor blocks until the applied revision is at least seq or ctx ends,
// following the engine across state replacements.
func (e *Engine) WaitFor(ctx context.Context, seq uint64) error {
	for {
		e.swapMu.Lock()
		if e.swapped == nil {
			e.swapped = make(chan struct{})
		}
		swapped := e.swapped
		e.swapMu.Unlock()
		st := e.state.Load()
		changed := st.Changed()
		if st.Revision() >= seq {
			return nil
		}
		select {
		case <-changed:
		case <-swapped:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// background is the context of questions asked without one (the
// functions above name their context-facts parameter "context").
var background = context.Background()
