package localsql

import (
	"fmt"
	"sort"
	"strings"

	"github.com/outpost-authz/outpost/query/polar"
)

// Request is what every question needs: the policy, the stored facts, the
// request's context facts and the parsed bindings.
type Request struct {
	Policy   *polar.Policy
	DB       polar.Database
	Bindings *Bindings
	// Context facts hold for this request only (canonical values).
	Context []polar.Fact
	// Now is the value of @current_unix_time.
	Now int64
	// MaxSteps bounds the translation (0: DefaultMaxSteps).
	MaxSteps int
	// EngineSteps bounds each engine evaluation (0: the engine's default).
	EngineSteps int
}

func newGen(r Request) (*gen, error) {
	if r.Bindings == nil {
		return nil, badf("data bindings are required for local authorization")
	}
	info := r.Bindings.infoFor(r.Policy)
	g := &gen{p: r.Policy, db: r.DB, b: r.Bindings, info: info, now: r.Now, max: r.MaxSteps,
		ctx: map[string][][]polar.Value{}}
	if g.max <= 0 {
		g.max = DefaultMaxSteps
	}
	now := r.Now
	g.qo = &polar.QueryOptions{Now: func() int64 { return now }, MaxSteps: r.EngineSteps, Context: r.Context}
	for _, f := range r.Context {
		k := predKey(f.Predicate, len(f.Args))
		g.ctx[k] = append(g.ctx[k], f.Args)
	}
	return g, nil
}

func (g *gen) top(pred string, args []term) ([]state, [][]term, error) {
	var states []state
	var answers [][]term
	g.call(nil, pred, args, state{}, func(ans []term, st state) bool {
		states = append(states, st)
		answers = append(answers, ans)
		return true
	})
	if g.err != nil {
		return nil, nil, g.err
	}
	return states, answers, nil
}

func constant(v polar.Value) term { return term{k: kConst, v: v} }

func checkValue(p *polar.Policy, field string, v polar.Value) error {
	if v.Type == "" || v.ID == "" {
		return badf("%s: a value needs a type and an id", field)
	}
	if !p.HasType(v.Type) {
		return badf("%s: the policy declares no concrete type %s", field, v.Type)
	}
	return nil
}

// Authorize returns a SELECT of one row with the boolean column allowed.
func Authorize(r Request, actor polar.Value, action string, resource polar.Value) (string, error) {
	if err := checkValue(r.Policy, "actor", actor); err != nil {
		return "", err
	}
	if err := checkValue(r.Policy, "resource", resource); err != nil {
		return "", err
	}
	if action == "" {
		return "", badf("action must not be empty")
	}
	g, err := newGen(r)
	if err != nil {
		return "", err
	}
	states, _, err := g.top("allow", []term{constant(actor), constant(polar.Value{Type: polar.TypeString, ID: action}), constant(resource)})
	if err != nil {
		return "", err
	}
	return "SELECT " + disjunction(states) + " AS allowed", nil
}

// List returns a WHERE expression, true for the rows whose column (copied
// verbatim) holds the id of a resource the actor may act on.
func List(r Request, actor polar.Value, action, resourceType, column string) (string, error) {
	if err := checkValue(r.Policy, "actor", actor); err != nil {
		return "", err
	}
	if !r.Policy.HasType(resourceType) {
		return "", badf("resource_type: the policy declares no concrete type %q", resourceType)
	}
	if action == "" {
		return "", badf("action must not be empty")
	}
	if strings.TrimSpace(column) == "" {
		return "", badf("column must name the column that holds %s ids", resourceType)
	}
	g, err := newGen(r)
	if err != nil {
		return "", err
	}
	res := term{k: kFree, typ: resourceType}
	states, answers, err := g.top("allow", []term{constant(actor), constant(polar.Value{Type: polar.TypeString, ID: action}), res})
	if err != nil {
		return "", err
	}
	values := make([]term, len(answers))
	for i, a := range answers {
		values[i] = a[2]
	}
	return g.membership(column, resourceType, states, values), nil
}

// Actions returns a SELECT of the distinct allowed actions in the text
// column actions. An answer that allows every action (a wildcard) is left
// out, as the Check API's actions endpoint leaves it out.
func Actions(r Request, actor, resource polar.Value) (string, error) {
	if err := checkValue(r.Policy, "actor", actor); err != nil {
		return "", err
	}
	if err := checkValue(r.Policy, "resource", resource); err != nil {
		return "", err
	}
	g, err := newGen(r)
	if err != nil {
		return "", err
	}
	states, answers, err := g.top("allow", []term{constant(actor), {k: kFree, typ: polar.TypeString}, constant(resource)})
	if err != nil {
		return "", err
	}
	byAction := map[string][]state{}
	var arms []string
	for i, st := range states {
		a := answers[i][1]
		switch a.k {
		case kConst:
			if a.v.Type == polar.TypeString {
				byAction[a.v.ID] = append(byAction[a.v.ID], st)
			}
		case kCol:
			arms = append(arms, selectArm([]string{a.sql + "::text AS actions"}, st))
		}
	}
	var constArms []string
	for _, act := range sortedKeys(byAction) {
		if strings.IndexByte(act, 0) >= 0 {
			return "", badf("action %q contains a NUL character, which PostgreSQL text cannot hold", act)
		}
		d := disjunction(byAction[act])
		if d == "false" {
			continue
		}
		arm := "SELECT " + quote(act) + "::text AS actions"
		if d != "true" {
			arm += " WHERE " + d
		}
		constArms = append(constArms, arm)
	}
	arms = append(constArms, arms...)
	if len(arms) == 0 {
		return "SELECT NULL::text AS actions WHERE false", nil
	}
	if len(arms) == 1 && len(constArms) == 1 {
		return arms[0], nil
	}
	return "SELECT DISTINCT actions FROM (" + strings.Join(arms, " UNION ") + ") AS _o_actions", nil
}

// Query is an evaluate_query question: calls over typed variables.
type Query struct {
	Calls []polar.QueryCall
	Vars  map[string]polar.VarConstraint
}

// Select returns a SELECT with one column per entry of columns (query
// variable → output column name), one distinct row per satisfying
// combination; a variable left open by the policy is NULL. With no
// columns it returns one row with the boolean column result.
func Select(r Request, q Query, columns map[string]string) (string, error) {
	g, names, lits, env, err := prepareQuery(r, q, columns, "")
	if err != nil {
		return "", err
	}
	if lits == nil {
		if len(columns) == 0 {
			return "SELECT false AS result", nil
		}
		return emptySelect(columns), nil
	}
	var states []state
	var envs [][]term
	needed := make([]bool, len(env))
	for i := range needed {
		needed[i] = true
	}
	g.solve(&polar.RuleView{Text: "the query"}, lits, allOf(lits), env, needed, state{}, func(env []term, st state) bool {
		states = append(states, st)
		envs = append(envs, append([]term(nil), env...))
		return g.tick()
	})
	if g.err != nil {
		return "", g.err
	}
	if len(columns) == 0 {
		return "SELECT " + disjunction(states) + " AS result", nil
	}
	vars := sortedKeys(columns)
	idx := map[string]int{}
	for i, n := range names {
		idx[n] = i
	}
	var arms []string
	seen := map[string]bool{}
	for i, st := range states {
		outs := make([]string, len(vars))
		for j, v := range vars {
			t := envs[i][idx[v]]
			var e string
			switch t.k {
			case kConst:
				if strings.IndexByte(t.v.ID, 0) >= 0 {
					return "", badf("variable %s: the id %q contains a NUL character, which PostgreSQL text cannot hold", v, t.v.ID)
				}
				if st, ok := g.b.SQLTypes[t.v.Type]; ok && !canonicalFor(t.v.ID, sqlKind(st)) {
					return "", badf("variable %s: the answer %s:%s cannot be written as the sql_types type %s of %s", v, t.v.Type, t.v.ID, st, t.v.Type)
				}
				e = g.outLit(t.v)
			case kCol:
				e = t.sql
			default:
				e = "NULL"
				if st, ok := g.b.SQLTypes[q.Vars[v].Type]; ok {
					e += "::" + st
				}
			}
			outs[j] = e + " AS " + quoteIdent(columns[v])
		}
		arm := selectArm(outs, st)
		if !seen[arm] {
			seen[arm] = true
			arms = append(arms, arm)
		}
	}
	if len(arms) == 0 {
		return emptySelect(columns), nil
	}
	return strings.Join(arms, " UNION "), nil
}

func emptySelect(columns map[string]string) string {
	var outs []string
	for _, v := range sortedKeys(columns) {
		outs = append(outs, "NULL AS "+quoteIdent(columns[v]))
	}
	return "SELECT " + strings.Join(outs, ", ") + " WHERE false"
}

// Filter returns a WHERE expression, true for the rows whose column
// (copied verbatim) holds a value of the variable that satisfies the query.
func Filter(r Request, q Query, variable, column string) (string, error) {
	if strings.TrimSpace(column) == "" {
		return "", badf("output_column_name must not be empty")
	}
	g, _, lits, env, err := prepareQuery(r, q, map[string]string{variable: column}, variable)
	if err != nil {
		return "", err
	}
	if lits == nil {
		return "false", nil
	}
	var states []state
	var values []term
	idx := sort.SearchStrings(sortedKeys(q.Vars), variable)
	needed := make([]bool, len(env))
	needed[idx] = true
	g.solve(&polar.RuleView{Text: "the query"}, lits, allOf(lits), env, needed, state{}, func(env []term, st state) bool {
		states = append(states, st)
		values = append(values, env[idx])
		return g.tick()
	})
	if g.err != nil {
		return "", g.err
	}
	return g.membership(column, q.Vars[variable].Type, states, values), nil
}

// prepareQuery turns an evaluate_query question into a conjunction over
// numbered variables. filterVar, when set, is bound to the output column.
// lits is nil when a variable may take no value at all.
func prepareQuery(r Request, q Query, columns map[string]string, filterVar string) (*gen, []string, []polar.LitView, []term, error) {
	if len(q.Calls) == 0 {
		return nil, nil, nil, nil, badf("query: no predicate to evaluate")
	}
	mentioned := map[string]bool{}
	for _, c := range q.Calls {
		if len(c.Args) == 0 || len(c.Args) > polar.MaxArity {
			return nil, nil, nil, nil, badf("query: %s has %d arguments", c.Predicate, len(c.Args))
		}
		for _, a := range c.Args {
			if _, ok := q.Vars[a]; !ok {
				return nil, nil, nil, nil, badf("query: variable %s in %s has no constraint", a, c.Predicate)
			}
			mentioned[a] = true
		}
	}
	for _, v := range sortedKeys(columns) {
		if _, ok := q.Vars[v]; !ok && !mentioned[v] {
			return nil, nil, nil, nil, badf("mode: the query does not mention the variable %s", v)
		}
		if columns[v] == "" {
			return nil, nil, nil, nil, badf("mode: the output column name of variable %s is empty", v)
		}
	}
	names := sortedKeys(q.Vars)
	idx := map[string]int{}
	env := make([]term, len(names))
	var lits []polar.LitView
	empty := false
	for i, n := range names {
		c := q.Vars[n]
		if !r.Policy.HasType(c.Type) {
			return nil, nil, nil, nil, badf("query: variable %s: the policy declares no concrete type %q", n, c.Type)
		}
		idx[n] = i
		env[i] = term{k: kFree, typ: c.Type}
		if c.IDs == nil {
			continue
		}
		if len(c.IDs) == 0 {
			empty = true
		}
		l := polar.LitView{Kind: polar.LitIn, A: polar.TermView{Kind: polar.TermVar, Var: i}}
		for _, id := range c.IDs {
			v := polar.Value{Type: c.Type, ID: id}
			if err := checkValue(r.Policy, "variable "+n, v); err != nil {
				return nil, nil, nil, nil, err
			}
			l.List = append(l.List, polar.TermView{Kind: polar.TermVal, Val: v})
		}
		lits = append(lits, l)
	}
	for _, c := range q.Calls {
		l := polar.LitView{Kind: polar.LitCall, Pred: c.Predicate}
		for _, a := range c.Args {
			l.Args = append(l.Args, polar.TermView{Kind: polar.TermVar, Var: idx[a]})
		}
		lits = append(lits, l)
	}
	g, err := newGen(r)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if empty {
		return g, names, nil, env, nil
	}
	return g, names, lits, env, nil
}

// Ignored returns why the signatures the policy cannot use are left out
// (see Usable), for a warning; nil when every signature is usable.
func (b *Bindings) Ignored(p *polar.Policy) []string { return b.infoFor(p).unused }

// Describe summarises the bindings for logs: predicates and signatures.
func (b *Bindings) Describe() string {
	var parts []string
	for _, k := range sortedKeys(b.Facts) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, len(b.Facts[k])))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// maxLiteralArms bounds the literals folded into the subquery of a
// membership test as SELECT arms; more go to an IN list of their own.
const maxLiteralArms = 200

// membership renders "column holds a value of the answers" for list and
// filter mode. Each branch gives the value (a constant, a database column
// or any value) and its conditions. The values that come from the database
// and the few constants form one IN (subquery of UNION ALL arms), which
// PostgreSQL can plan as a semi-join driven by the arms' indexes; answers
// that allow any value are plain conditions; many constants an IN list.
func (g *gen) membership(column, typ string, states []state, values []term) string {
	var parts, arms, lits []string
	seenLit := map[string]bool{}
	var condConsts []int
	for i, st := range states {
		v := values[i]
		switch v.k {
		case kFree:
			e := branchSQL(st)
			if e == "true" {
				return "true"
			}
			parts = append(parts, e)
		case kConst:
			l, ok := g.lit(v.v, typ)
			if !ok || v.v.Type != typ {
				continue
			}
			if len(st.from) == 0 && len(st.where) == 0 {
				if !seenLit[l] {
					seenLit[l] = true
					lits = append(lits, l)
				}
				continue
			}
			condConsts = append(condConsts, i)
		case kCol:
			arms = append(arms, selectArm([]string{v.sql}, st)[len("SELECT DISTINCT "):])
		}
	}
	castLit := func(l string) string {
		if t, ok := g.b.SQLTypes[typ]; ok {
			return l + "::" + t
		}
		return l
	}
	if len(arms) == 0 {
		for _, i := range condConsts {
			l, _ := g.lit(values[i].v, typ)
			parts = append(parts, "("+column+" = "+l+" AND "+branchSQL(states[i])+")")
		}
	} else {
		for _, i := range condConsts {
			l, _ := g.lit(values[i].v, typ)
			arms = append(arms, selectArm([]string{castLit(l)}, states[i])[len("SELECT DISTINCT "):])
		}
		if len(lits) <= maxLiteralArms {
			for _, l := range lits {
				arms = append(arms, castLit(l))
			}
			lits = nil
		}
	}
	if len(lits) == 1 {
		parts = append(parts, column+" = "+lits[0])
	} else if len(lits) > 1 {
		parts = append(parts, column+" IN ("+strings.Join(lits, ", ")+")")
	}
	if len(arms) > 0 {
		parts = append(parts, column+" IN (SELECT "+strings.Join(arms, " UNION ALL SELECT ")+")")
	}
	switch len(parts) {
	case 0:
		return "false"
	case 1:
		return parts[0]
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}
