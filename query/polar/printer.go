package polar

import (
	"strconv"
	"strings"
)

// This file prints the AST back to canonical Polar source. The output parses
// back to the same tree (positions aside): parentheses appear exactly where
// the tree nests an expression that the precedence rules would not produce
// on their own, and strings are re-escaped. Comments are not kept.
//
// Layout: one blank line between items; blocks list their declarations, a
// blank line, then their shorthand rules; a rule whose body is a conjunction
// puts each conjunct on its own line; setup blocks list fixture references
// before facts.

// Format returns canonical Polar source for f.
func Format(f *File) string {
	var w printer
	for i, it := range f.Items {
		if i > 0 {
			w.WriteByte('\n')
		}
		w.item(it)
	}
	return w.String()
}

// FormatExpr returns the canonical text of one expression.
func FormatExpr(e Expr) string {
	var w printer
	w.expr(e, precOr)
	return w.String()
}

// FormatTerm returns the canonical text of one term.
func FormatTerm(t Term) string {
	var w printer
	w.term(t)
	return w.String()
}

type printer struct {
	strings.Builder
}

// Precedence levels, loosest first (§4 note 1).
const (
	precOr = iota + 1
	precAnd
	precNot
	precAtom
)

func (w *printer) item(it Item) {
	switch n := it.(type) {
	case *Block:
		w.block(n)
	case *Rule:
		w.flags(n.Flags)
		w.head(n.Name, n.Params)
		if n.Body != nil {
			w.body(n.Body, "  ")
		}
		w.WriteString(";\n")
	case *Declare:
		w.WriteString("declare " + n.Name + "(")
		for i, t := range n.Types {
			w.sep(i)
			w.WriteString(t.Name)
		}
		w.WriteString(");\n")
	case *RuleType:
		w.WriteString("type ")
		w.head(n.Name, n.Params)
		w.WriteString(";\n")
	case *InlineQuery:
		w.WriteString("?= ")
		w.expr(n.Body, precOr)
		w.WriteString(";\n")
	case *Fixture:
		w.WriteString("test fixture " + n.Name + " {")
		if len(n.Facts) > 0 {
			w.WriteByte('\n')
			w.facts(n.Facts, "  ")
		}
		w.WriteString("}\n")
	case *TestBlock:
		w.test(n)
	default:
		w.WriteString("<nil>\n")
	}
}

func (w *printer) sep(i int) {
	if i > 0 {
		w.WriteString(", ")
	}
}

func (w *printer) flags(flags []Flag) {
	for _, f := range flags {
		w.WriteString("@" + f.Name + " ")
	}
}

func (w *printer) head(name string, params []Param) {
	w.WriteString(name)
	w.WriteByte('(')
	for i, p := range params {
		w.sep(i)
		w.term(p.Term)
		if p.Spec != nil {
			w.WriteString(": " + p.Spec.Name)
		}
	}
	w.WriteByte(')')
}

// body writes " if ..." for a rule or assertion. A conjunction is written
// one conjunct per line, indented by indent.
func (w *printer) body(e Expr, indent string) {
	and, ok := e.(*And)
	if !ok || len(and.Args) < 2 {
		w.WriteString(" if ")
		w.expr(e, precOr)
		return
	}
	w.WriteString(" if")
	for i, a := range and.Args {
		if i > 0 {
			w.WriteString(" and")
		}
		w.WriteString("\n" + indent)
		w.expr(a, precNot)
	}
}

func (w *printer) block(b *Block) {
	w.WriteString(b.Kind.String())
	if b.Kind != GlobalBlock {
		w.WriteString(" " + b.Name)
		for i, t := range b.Extends {
			if i == 0 {
				w.WriteString(" extends ")
			}
			w.sep(i)
			w.WriteString(t.Name)
		}
	}
	w.WriteString(" {")
	if len(b.Decls) == 0 && len(b.Rules) == 0 {
		w.WriteString("}\n")
		return
	}
	w.WriteByte('\n')
	for _, d := range b.Decls {
		w.WriteString("  " + d.Key + " = ")
		if d.IsMap {
			w.relations(d.Map)
		} else {
			w.list(d.List)
		}
		w.WriteString(";\n")
	}
	if len(b.Decls) > 0 && len(b.Rules) > 0 {
		w.WriteByte('\n')
	}
	for _, r := range b.Rules {
		w.WriteString("  ")
		w.flags(r.Flags)
		w.shTerm(r.Head)
		w.WriteString(" if ")
		w.shExpr(r.Body, precOr)
		w.WriteString(";\n")
	}
	w.WriteString("}\n")
}

func (w *printer) relations(entries []RelationEntry) {
	if len(entries) == 0 {
		w.WriteString("{}")
		return
	}
	w.WriteString("{ ")
	for i, e := range entries {
		w.sep(i)
		w.WriteString(e.Name + ": " + e.Type.Name)
	}
	w.WriteString(" }")
}

func (w *printer) list(terms []Term) {
	w.WriteByte('[')
	for i, t := range terms {
		w.sep(i)
		w.term(t)
	}
	w.WriteByte(']')
}

func (w *printer) shTerm(t ShTerm) {
	if t.IsString {
		w.WriteString(quoteString(t.Value))
	} else {
		w.WriteString(t.Value)
	}
}

func shPrec(e ShExpr) int {
	switch n := e.(type) {
	case *ShOr:
		if len(n.Args) != 1 {
			return precOr
		}
		return shPrec(n.Args[0])
	case *ShAnd:
		if len(n.Args) != 1 {
			return precAnd
		}
		return shPrec(n.Args[0])
	}
	return precAtom
}

func (w *printer) shExpr(e ShExpr, min int) {
	if shPrec(e) < min {
		w.WriteByte('(')
		defer w.WriteByte(')')
	}
	switch n := e.(type) {
	case *ShAtom:
		w.shTerm(n.Term)
		if n.On != nil {
			w.WriteString(" on ")
			w.shTerm(*n.On)
		}
	case *ShGlobal:
		w.WriteString("global ")
		w.shTerm(n.Name)
	case *ShCall:
		if n.Not {
			w.WriteString("not ")
		}
		w.call(n.Call)
	case *ShAnd:
		w.shJoin(n.Args, " and ", precNot)
	case *ShOr:
		w.shJoin(n.Args, " or ", precAnd)
	default:
		w.WriteString("<nil>")
	}
}

// shJoin writes a conjunction or disjunction; a single argument stands for
// itself at the caller's level, an empty one is never produced by Parse.
func (w *printer) shJoin(args []ShExpr, op string, argMin int) {
	if len(args) == 1 {
		w.shExpr(args[0], 0) // the caller has placed any parentheses
		return
	}
	for i, a := range args {
		if i > 0 {
			w.WriteString(op)
		}
		w.shExpr(a, argMin)
	}
}

func exprPrec(e Expr) int {
	switch n := e.(type) {
	case *Or:
		if len(n.Args) == 1 {
			return exprPrec(n.Args[0])
		}
		return precOr
	case *And:
		if len(n.Args) == 1 {
			return exprPrec(n.Args[0])
		}
		return precAnd
	case *Not:
		return precNot
	}
	return precAtom
}

func (w *printer) expr(e Expr, min int) {
	if exprPrec(e) < min {
		w.WriteByte('(')
		defer w.WriteByte(')')
	}
	switch n := e.(type) {
	case *Or:
		w.join(n.Args, " or ", precAnd, "false")
	case *And:
		w.join(n.Args, " and ", precNot, "true")
	case *Not:
		w.WriteString("not ")
		w.expr(n.Arg, precNot)
	case *Call:
		w.call(n)
	case *Compare:
		w.term(n.Left)
		w.WriteString(" " + n.Op.String() + " ")
		w.term(n.Right)
	case *In:
		w.term(n.Left)
		w.WriteString(" in ")
		w.list(n.List)
	case *Matches:
		w.term(n.Left)
		w.WriteString(" matches " + n.Type.Name)
	case *BoolExpr:
		w.WriteString(strconv.FormatBool(n.Value))
	default:
		w.WriteString("<nil>")
	}
}

// join writes a conjunction or disjunction. Nested operators of the same
// kind get parentheses because Parse flattens only unparenthesised chains.
func (w *printer) join(args []Expr, op string, argMin int, empty string) {
	switch len(args) {
	case 0:
		w.WriteString(empty)
		return
	case 1:
		w.expr(args[0], 0) // the caller has placed any parentheses
		return
	}
	for i, a := range args {
		if i > 0 {
			w.WriteString(op)
		}
		w.expr(a, argMin)
	}
}

func (w *printer) call(c *Call) {
	w.WriteString(c.Name)
	w.WriteByte('(')
	for i, t := range c.Args {
		w.sep(i)
		w.term(t)
	}
	w.WriteByte(')')
}

func (w *printer) term(t Term) {
	switch n := t.(type) {
	case *Var:
		w.WriteString(n.Name)
	case *Wildcard:
		w.WriteByte('_')
	case *StringLit:
		w.WriteString(quoteString(n.Value))
	case *IntLit:
		w.WriteString(strconv.FormatInt(n.Value, 10))
	case *BoolLit:
		w.WriteString(strconv.FormatBool(n.Value))
	case *TypedLit:
		w.WriteString(n.Type + "{")
		w.term(n.Lit)
		w.WriteByte('}')
	case *CurrentTime:
		w.WriteString("@current_unix_time")
	default:
		w.WriteString("<nil>")
	}
}

func (w *printer) facts(facts []*FactStmt, indent string) {
	for _, f := range facts {
		w.WriteString(indent + f.Name + "(")
		for i, t := range f.Args {
			w.sep(i)
			w.term(t)
		}
		w.WriteString(");\n")
	}
}

func (w *printer) test(t *TestBlock) {
	w.WriteString("test " + quoteString(t.Name) + " {")
	if t.Setup == nil && len(t.Asserts) == 0 {
		w.WriteString("}\n")
		return
	}
	w.WriteByte('\n')
	if s := t.Setup; s != nil {
		w.WriteString("  setup {")
		if len(s.Fixtures) > 0 || len(s.Facts) > 0 {
			w.WriteByte('\n')
			for _, f := range s.Fixtures {
				w.WriteString("    fixture " + f.Name + ";\n")
			}
			w.facts(s.Facts, "    ")
			w.WriteString("  ")
		}
		w.WriteString("}\n")
	}
	for _, a := range t.Asserts {
		if a.Negated {
			w.WriteString("  assert_not ")
		} else {
			w.WriteString("  assert ")
		}
		w.head(a.Name, a.Args)
		if a.Iff != nil {
			w.WriteString(" iff ")
			w.expr(a.Iff, precOr)
		}
		w.WriteString(";\n")
	}
	w.WriteString("}\n")
}
