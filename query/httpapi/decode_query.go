package httpapi

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// queryCalls reads predicate, calls and constraints of an evaluate_query
// request (check-api.md §4.5). The predicate is the first call.
func (f *fields) queryCalls() ([]query.QueryCall, map[string]query.VarConstraint) {
	if f.err != nil {
		return nil, nil
	}
	var calls []query.QueryCall
	v, ok := f.obj.get("predicate")
	if !ok {
		f.fail("missing field predicate")
		return nil, nil
	}
	calls = append(calls, f.call("predicate", v))
	arr, _ := f.array("calls", false)
	for i, el := range arr {
		calls = append(calls, f.call(fmt.Sprintf("calls[%d]", i), el))
	}
	vars := f.constraints()
	if f.err != nil {
		return nil, nil
	}
	for i, c := range calls {
		path := "predicate"
		if i > 0 {
			path = fmt.Sprintf("calls[%d]", i-1)
		}
		for j, a := range c.Args {
			if _, ok := vars[a]; !ok {
				f.fail("%s[1][%d]: variable %s is not declared in constraints", path, j, a)
				return nil, nil
			}
		}
	}
	return calls, vars
}

// call reads one [name, [var, ...]] tuple at path.
func (f *fields) call(path string, v any) query.QueryCall {
	if f.err != nil {
		return query.QueryCall{}
	}
	t, ok := v.([]any)
	if !ok || len(t) != 2 {
		what := kind(v)
		if ok {
			what = fmt.Sprintf("an array of %d elements", len(t))
		}
		f.fail("%s must be a 2-element array [name, [variables...]], not %s", path, what)
		return query.QueryCall{}
	}
	c := query.QueryCall{Predicate: f.nonEmpty(path+"[0]", t[0])}
	args, ok := t[1].([]any)
	switch {
	case f.err != nil:
		return c
	case !ok:
		f.fail("%s[1] must be an array of variable names, not %s", path, kind(t[1]))
		return c
	case len(args) == 0:
		f.fail("%s[1] must name at least one variable", path)
		return c
	case len(args) > polar.MaxArity:
		f.fail("%s[1] has %d arguments; at most %d are supported", path, len(args), polar.MaxArity)
		return c
	}
	for j, a := range args {
		c.Args = append(c.Args, f.nonEmpty(fmt.Sprintf("%s[1][%d]", path, j), a))
	}
	return c
}

// constraints reads the constraints object: variable → {type, ids}.
func (f *fields) constraints() map[string]query.VarConstraint {
	if f.err != nil {
		return nil
	}
	v, ok := f.obj.get("constraints")
	if !ok {
		f.fail("missing field constraints")
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		f.fail("constraints must be an object mapping variable names to {\"type\", \"ids\"}, not %s", kind(v))
		return nil
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names) // the first error is deterministic
	out := make(map[string]query.VarConstraint, len(m))
	for _, n := range names {
		path := "constraints." + n
		c, ok := m[n].(map[string]any)
		if !ok {
			f.fail("%s must be an object with type and ids, not %s", path, kind(m[n]))
			return nil
		}
		var vc query.VarConstraint
		t, present := c["type"]
		if !present {
			f.fail("%s.type is missing", path)
			return nil
		}
		vc.Type = f.nonEmpty(path+".type", t)
		if ids, present := c["ids"]; present && ids != nil {
			arr, ok := ids.([]any)
			if !ok {
				f.fail("%s.ids must be an array of strings or null, not %s", path, kind(ids))
				return nil
			}
			vc.IDs = make([]string, 0, len(arr))
			for i, id := range arr {
				s := f.nonEmpty(fmt.Sprintf("%s.ids[%d]", path, i), id)
				if f.err == nil {
					if _, err := replica.CanonicalQuestion(replica.Value{Type: vc.Type, ID: s}); err != nil {
						f.fail("%s.ids[%d]: %v", path, i, err)
					}
				}
				vc.IDs = append(vc.IDs, s)
			}
		}
		if f.err != nil {
			return nil
		}
		out[n] = vc
	}
	return out
}

// factPattern reads the fact pattern of a /api/query request: a missing or
// null type or id is a wildcard; an id without a type is invalid.
func (f *fields) factPattern() replica.Pattern {
	if f.err != nil {
		return replica.Pattern{}
	}
	v, ok := f.obj.get("fact")
	if !ok {
		f.fail("missing field fact")
		return replica.Pattern{}
	}
	m, ok := v.(map[string]any)
	if !ok {
		f.fail("fact must be an object with predicate and args, not %s", kind(v))
		return replica.Pattern{}
	}
	p := replica.Pattern{Predicate: f.predicate("fact", m)}
	for i, a := range f.argList("fact", m) {
		path := fmt.Sprintf("fact.args[%d]", i)
		am, ok := a.(map[string]any)
		if !ok {
			f.fail("%s must be an object with type and id (either may be null), not %s", path, kind(a))
			return replica.Pattern{}
		}
		var pa replica.PatternArg
		if t := am["type"]; t != nil {
			s := f.nonEmpty(path+".type", t)
			pa.Type = &s
		}
		if id := am["id"]; id != nil {
			s := f.nonEmpty(path+".id", id)
			pa.ID = &s
			if f.err == nil && pa.Type == nil {
				f.fail("%s has an id but no type; a pattern argument needs a type to match an id", path)
			}
			if f.err == nil {
				if _, err := replica.CanonicalQuestion(replica.Value{Type: *pa.Type, ID: s}); err != nil {
					f.fail("%s: %v", path, err)
				}
			}
		}
		p.Args = append(p.Args, pa)
	}
	return p
}

// factsPattern reads the query string of GET /api/facts (check-api.md
// §4.7): predicate, args.N.type, args.N.id. Positions without parameters are
// wildcards; the pattern ends at the highest position mentioned.
func factsPattern(q url.Values) (replica.Pattern, error) {
	preds := q["predicate"]
	if len(preds) == 0 || preds[0] == "" {
		return replica.Pattern{}, badRequest("the predicate query parameter is required")
	}
	if len(preds) > 1 {
		return replica.Pattern{}, badRequest("the predicate query parameter is given %d times; give it once", len(preds))
	}
	for k, vs := range q {
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return replica.Pattern{}, badRequest("query parameter %s is not valid UTF-8", truncateMessage(k))
			}
		}
	}
	p := replica.Pattern{Predicate: preds[0]}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, "args.")
		if !ok {
			continue // unknown parameters are ignored
		}
		idx, field, ok := strings.Cut(rest, ".")
		n, err := strconv.Atoi(idx)
		if !ok || err != nil || n < 0 || idx != strconv.Itoa(n) || (field != "type" && field != "id") {
			return replica.Pattern{}, badRequest("malformed query parameter %s: expected args.<index>.type or args.<index>.id with a 0-based index", k)
		}
		if n >= polar.MaxArity {
			return replica.Pattern{}, badRequest("query parameter %s: the index must be below %d (facts have at most %d arguments)", k, polar.MaxArity, polar.MaxArity)
		}
		vals := q[k]
		if len(vals) > 1 {
			return replica.Pattern{}, badRequest("query parameter %s is given %d times; give it once", k, len(vals))
		}
		for len(p.Args) <= n {
			p.Args = append(p.Args, replica.Any())
		}
		v := vals[0]
		if v == "" {
			// Oso's Ruby SDK sends args.N.id with no value for a
			// type-only wildcard (Value.new(type: "Organization")):
			// an empty parameter is a wildcard, as if absent.
			continue
		}
		if field == "type" {
			p.Args[n].Type = &v
		} else {
			p.Args[n].ID = &v
		}
	}
	for i, a := range p.Args {
		if a.ID == nil {
			continue
		}
		if a.Type == nil {
			return replica.Pattern{}, badRequest("query parameter args.%d.id needs args.%d.type: an id without a type matches nothing", i, i)
		}
		c, err := replica.Canonical(replica.Value{Type: *a.Type, ID: *a.ID})
		if err != nil {
			return replica.Pattern{}, badRequest("args.%d: %v", i, err)
		}
		p.Args[i].ID = &c.ID
	}
	return p, nil
}
