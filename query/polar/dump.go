package polar

import (
	"fmt"
	"strconv"
	"strings"
)

// Dump renders f as an indented tree, one node per line as
// "Kind line:col details", for golden files and debugging. Its format may
// change; nothing should parse it.
func Dump(f *File) string {
	d := &dumper{}
	d.line(0, "File %s", strconv.Quote(f.Name))
	for _, it := range f.Items {
		d.item(1, it)
	}
	return d.b.String()
}

type dumper struct {
	b strings.Builder
}

func (d *dumper) line(depth int, format string, args ...any) {
	for range depth {
		d.b.WriteString("  ")
	}
	fmt.Fprintf(&d.b, format, args...)
	d.b.WriteByte('\n')
}

func at(p Pos) string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) }

func (d *dumper) item(n int, it Item) {
	switch x := it.(type) {
	case *Block:
		d.line(n, "Block %s %s", at(x.Pos), x.Kind)
		if x.Kind != GlobalBlock {
			d.line(n+1, "Type %s %s", at(x.NamePos), x.Name)
		}
		if len(x.Extends) > 0 {
			d.line(n+1, "Extends")
			for _, t := range x.Extends {
				d.typeRef(n+2, t)
			}
		}
		for _, decl := range x.Decls {
			d.decl(n+1, decl)
		}
		for _, r := range x.Rules {
			d.line(n+1, "ShorthandRule %s", at(r.Pos))
			d.flags(n+2, r.Flags)
			d.line(n+2, "Head %s %s", at(r.Head.Pos), shTermText(r.Head))
			d.sh(n+2, r.Body)
		}
	case *Rule:
		d.line(n, "Rule %s %s", at(x.Pos), x.Name)
		d.flags(n+1, x.Flags)
		d.params(n+1, x.Params)
		if x.Body != nil {
			d.line(n+1, "Body")
			d.expr(n+2, x.Body)
		}
	case *Declare:
		d.line(n, "Declare %s %s", at(x.Pos), x.Name)
		for _, t := range x.Types {
			d.typeRef(n+1, t)
		}
	case *RuleType:
		d.line(n, "RuleType %s %s", at(x.Pos), x.Name)
		d.params(n+1, x.Params)
	case *InlineQuery:
		d.line(n, "InlineQuery %s", at(x.Pos))
		d.expr(n+1, x.Body)
	case *Fixture:
		d.line(n, "Fixture %s %s", at(x.Pos), x.Name)
		d.facts(n+1, x.Facts)
	case *TestBlock:
		d.line(n, "Test %s %s", at(x.Pos), quoteString(x.Name))
		if s := x.Setup; s != nil {
			d.line(n+1, "Setup %s", at(s.Pos))
			for _, f := range s.Fixtures {
				d.line(n+2, "FixtureRef %s %s", at(f.Pos), f.Name)
			}
			d.facts(n+2, s.Facts)
		}
		for _, a := range x.Asserts {
			kind := "Assert"
			if a.Negated {
				kind = "AssertNot"
			}
			d.line(n+1, "%s %s %s", kind, at(a.Pos), a.Name)
			d.params(n+2, a.Args)
			if a.Iff != nil {
				d.line(n+2, "Iff")
				d.expr(n+3, a.Iff)
			}
		}
	default:
		d.line(n, "<nil item>")
	}
}

func (d *dumper) typeRef(n int, t TypeRef) {
	d.line(n, "Type %s %s", at(t.Pos), t.Name)
}

func (d *dumper) flags(n int, flags []Flag) {
	for _, f := range flags {
		d.line(n, "Flag %s @%s", at(f.Pos), f.Name)
	}
}

func (d *dumper) decl(n int, x *Declaration) {
	if x.IsMap {
		d.line(n, "Declaration %s %s map", at(x.Pos), x.Key)
		for _, e := range x.Map {
			d.line(n+1, "Relation %s %s", at(e.Pos), e.Name)
			d.typeRef(n+2, e.Type)
		}
		return
	}
	d.line(n, "Declaration %s %s list", at(x.Pos), x.Key)
	for _, t := range x.List {
		d.term(n+1, t)
	}
}

func (d *dumper) facts(n int, facts []*FactStmt) {
	for _, f := range facts {
		d.line(n, "Fact %s %s", at(f.Pos), f.Name)
		for _, t := range f.Args {
			d.term(n+1, t)
		}
	}
}

func (d *dumper) params(n int, params []Param) {
	for _, p := range params {
		if p.Spec == nil {
			d.term(n, p.Term)
			continue
		}
		d.line(n, "Param")
		d.term(n+1, p.Term)
		d.typeRef(n+1, *p.Spec)
	}
}

func shTermText(t ShTerm) string {
	if t.IsString {
		return quoteString(t.Value)
	}
	return t.Value
}

func (d *dumper) sh(n int, e ShExpr) {
	switch x := e.(type) {
	case *ShAtom:
		d.line(n, "ShAtom %s %s", at(x.Pos), shTermText(x.Term))
		if x.On != nil {
			d.line(n+1, "On %s %s", at(x.On.Pos), shTermText(*x.On))
		}
	case *ShGlobal:
		d.line(n, "ShGlobal %s", at(x.Pos))
		d.line(n+1, "Name %s %s", at(x.Name.Pos), shTermText(x.Name))
	case *ShCall:
		if x.Not {
			d.line(n, "ShCall not %s", at(x.NotPos))
		} else {
			d.line(n, "ShCall")
		}
		d.expr(n+1, x.Call)
	case *ShAnd:
		d.line(n, "ShAnd %s", at(x.Pos))
		for _, a := range x.Args {
			d.sh(n+1, a)
		}
	case *ShOr:
		d.line(n, "ShOr %s", at(x.Pos))
		for _, a := range x.Args {
			d.sh(n+1, a)
		}
	default:
		d.line(n, "<nil shorthand>")
	}
}

func (d *dumper) expr(n int, e Expr) {
	switch x := e.(type) {
	case *And:
		d.line(n, "And %s", at(x.Pos))
		for _, a := range x.Args {
			d.expr(n+1, a)
		}
	case *Or:
		d.line(n, "Or %s", at(x.Pos))
		for _, a := range x.Args {
			d.expr(n+1, a)
		}
	case *Not:
		d.line(n, "Not %s", at(x.Pos))
		d.expr(n+1, x.Arg)
	case *Call:
		d.line(n, "Call %s %s", at(x.Pos), x.Name)
		for _, t := range x.Args {
			d.term(n+1, t)
		}
	case *Compare:
		d.line(n, "Compare %s %s", at(x.Pos), x.Op)
		d.term(n+1, x.Left)
		d.term(n+1, x.Right)
	case *In:
		d.line(n, "In %s", at(x.Pos))
		d.term(n+1, x.Left)
		d.line(n+1, "List")
		for _, t := range x.List {
			d.term(n+2, t)
		}
	case *Matches:
		d.line(n, "Matches %s", at(x.Pos))
		d.term(n+1, x.Left)
		d.typeRef(n+1, x.Type)
	case *BoolExpr:
		d.line(n, "BoolExpr %s %t", at(x.Pos), x.Value)
	default:
		d.line(n, "<nil expr>")
	}
}

func (d *dumper) term(n int, t Term) {
	switch x := t.(type) {
	case *Var:
		d.line(n, "Var %s %s", at(x.Pos), x.Name)
	case *Wildcard:
		d.line(n, "Wildcard %s", at(x.Pos))
	case *StringLit:
		d.line(n, "String %s %s", at(x.Pos), quoteString(x.Value))
	case *IntLit:
		d.line(n, "Int %s %d", at(x.Pos), x.Value)
	case *BoolLit:
		d.line(n, "Bool %s %t", at(x.Pos), x.Value)
	case *TypedLit:
		d.line(n, "TypedLit %s %s", at(x.Pos), x.Type)
		d.term(n+1, x.Lit)
	case *CurrentTime:
		d.line(n, "CurrentTime %s", at(x.Pos))
	default:
		d.line(n, "<nil term>")
	}
}
