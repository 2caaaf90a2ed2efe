package polar

// Read-only views of the compiled rules, for packages that translate a
// policy rather than evaluate it (query/localsql). They are copies: changing
// them changes nothing in the Policy.

// TermKind tells what a TermView holds.
type TermKind uint8

// Term kinds.
const (
	TermVar  TermKind = TermKind(tVar)   // a variable, Var is its index
	TermVal  TermKind = TermKind(tConst) // a constant, Val
	TermTime TermKind = TermKind(tTime)  // @current_unix_time
)

// LitKind tells what a LitView is.
type LitKind uint8

// Literal kinds.
const (
	LitCall    LitKind = LitKind(lCall)
	LitMatches LitKind = LitKind(lMatches)
	LitEq      LitKind = LitKind(lEq)
	LitNe      LitKind = LitKind(lNe)
	LitCmp     LitKind = LitKind(lCmp)
	LitIn      LitKind = LitKind(lIn)
	LitNot     LitKind = LitKind(lNot)
)

// TermView is a term of a rule.
type TermView struct {
	Kind TermKind
	Var  int
	Val  Value
}

// LitView is a body literal: a call (Pred, Args), a type test (A matches
// Type), a comparison (A Op B), a membership (A in List) or a negated
// conjunction (Sub).
type LitView struct {
	Kind LitKind
	Pred string
	Args []TermView
	Op   CompareOp
	A, B TermView
	Type string
	List []TermView
	Sub  []LitView
}

// RuleView is one desugared rule: head parameters with their specializer
// types ("" for none), body and variables with their inferred types.
type RuleView struct {
	Pred       string
	Params     []TermView
	ParamTypes []string
	Body       []LitView
	VarTypes   []string
	Text       string // the rule in Polar syntax, for messages
}

// RuleViews returns every rule of the policy, default allow rules included.
func (p *Policy) RuleViews() []RuleView {
	out := make([]RuleView, len(p.rules))
	for i, r := range p.rules {
		v := RuleView{Pred: r.pred, Body: litViews(r.body), Text: r.String()}
		for _, prm := range r.params {
			v.Params = append(v.Params, termView(prm.term))
			v.ParamTypes = append(v.ParamTypes, prm.typ)
		}
		for _, vr := range r.vars {
			v.VarTypes = append(v.VarTypes, vr.typ)
		}
		out[i] = v
	}
	return out
}

func termView(t irTerm) TermView { return TermView{Kind: TermKind(t.kind), Var: t.v, Val: t.val} }

func litViews(body []irLit) []LitView {
	out := make([]LitView, len(body))
	for i, l := range body {
		v := LitView{Kind: LitKind(l.kind), Pred: l.pred, Op: l.op, A: termView(l.a), B: termView(l.b), Type: l.typ}
		for _, a := range l.args {
			v.Args = append(v.Args, termView(a))
		}
		for _, e := range l.list {
			v.List = append(v.List, termView(e))
		}
		v.Sub = litViews(l.sub)
		out[i] = v
	}
	return out
}

// IsSubtype reports whether type a is b or a subtype of b (a member of the
// union b). Unknown names are subtypes of nothing but themselves.
func (p *Policy) IsSubtype(a, b string) bool {
	if a == b {
		return true
	}
	return p.env.subtypeName(a, b)
}
