package polar

import (
	"fmt"
	"sort"
	"strings"
)

// Running the test blocks of a policy (spec §14). A test sees the policy,
// its fixtures and setup facts, and nothing else: stored facts are not
// visible.

// TestResult is the outcome of one test block.
type TestResult struct {
	Name     string
	File     string
	Pos      Pos
	Passed   int
	Total    int
	Failures []AssertionFailure
}

// OK reports whether every assertion passed.
func (r TestResult) OK() bool { return r.Passed == r.Total && len(r.Failures) == 0 }

// AssertionFailure describes one failed assertion.
type AssertionFailure struct {
	Pos       Pos
	Assertion string
	Message   string
}

// Tests returns the number of test blocks in the policy.
func (p *Policy) Tests() int { return len(p.tests) }

// RunTests runs every test block. o may set the clock and budget; its
// context facts are ignored.
func (p *Policy) RunTests(o *QueryOptions) []TestResult {
	out := make([]TestResult, 0, len(p.tests))
	for _, t := range p.tests {
		out = append(out, p.runTest(t, o))
	}
	return out
}

func (p *Policy) factValues(stmts []*FactStmt) ([]Fact, error) {
	var facts []Fact
	for _, s := range stmts {
		f := Fact{Predicate: s.Name}
		for _, a := range s.Args {
			v, err := p.literalValue(a)
			if err != nil {
				return nil, fmt.Errorf("%d:%d: %s: %w", s.Pos.Line, s.Pos.Col, s.Name, err)
			}
			f.Args = append(f.Args, v)
		}
		facts = append(facts, f)
	}
	return facts, nil
}

// literalValue converts a literal term of a fact or assertion.
func (p *Policy) literalValue(t Term) (Value, error) {
	b := &builder{env: p.env}
	v, ok := b.constant(t)
	if !ok {
		return Value{}, b.diags
	}
	return v, nil
}

func (p *Policy) runTest(t testDef, o *QueryOptions) TestResult {
	res := TestResult{Name: t.block.Name, File: t.file, Pos: t.block.Pos, Total: len(t.block.Asserts)}
	var facts []Fact
	fail := func(pos Pos, text, format string, args ...any) {
		res.Failures = append(res.Failures, AssertionFailure{Pos: pos, Assertion: text, Message: fmt.Sprintf(format, args...)})
	}
	if s := t.block.Setup; s != nil {
		for _, ref := range s.Fixtures {
			fx := p.fixtures[ref.Name]
			fs, err := p.factValues(fx.Facts)
			if err != nil {
				fail(ref.Pos, "fixture "+ref.Name, "%v", err)
				return res
			}
			facts = append(facts, fs...)
		}
		fs, err := p.factValues(s.Facts)
		if err != nil {
			fail(s.Pos, "setup", "%v", err)
			return res
		}
		facts = append(facts, fs...)
	}
	opts := QueryOptions{Context: facts}
	if o != nil {
		opts.Now, opts.MaxSteps = o.Now, o.MaxSteps
	}
	for _, a := range t.block.Asserts {
		text := assertionText(a)
		msg, ok := p.runAssertion(a, &opts)
		if ok {
			res.Passed++
		} else {
			fail(a.Pos, text, "%s", msg)
		}
	}
	return res
}

func assertionText(a *Assertion) string {
	var b strings.Builder
	if a.Negated {
		b.WriteString("assert_not ")
	} else {
		b.WriteString("assert ")
	}
	b.WriteString(a.Name)
	b.WriteByte('(')
	for i, prm := range a.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(FormatTerm(prm.Term))
		if prm.Spec != nil {
			b.WriteString(": " + prm.Spec.Name)
		}
	}
	b.WriteByte(')')
	if a.Iff != nil {
		b.WriteString(" iff " + FormatExpr(a.Iff))
	}
	return b.String()
}

// runAssertion returns whether the assertion passed, and a message saying
// what was derived when it did not.
func (p *Policy) runAssertion(a *Assertion, o *QueryOptions) (string, bool) {
	args := make([]Value, len(a.Args))
	varPos := map[string]int{}
	for i, prm := range a.Args {
		switch t := prm.Term.(type) {
		case *Var:
			if prm.Spec != nil {
				args[i] = Value{Type: prm.Spec.Name}
			}
			if _, ok := varPos[t.Name]; !ok {
				varPos[t.Name] = i
			}
		case *Wildcard:
			if prm.Spec != nil {
				args[i] = Value{Type: prm.Spec.Name}
			}
		default:
			v, err := p.literalValue(prm.Term)
			if err != nil {
				return err.Error(), false
			}
			args[i] = v
		}
	}
	rows, err := p.Query(emptyDB{}, a.Name, args, o)
	if err != nil {
		return "evaluation error: " + err.Error(), false
	}
	if a.Iff == nil {
		if a.Negated {
			if len(rows) == 0 {
				return "", true
			}
			return "derived " + rowsText(a.Name, rows), false
		}
		if len(rows) > 0 {
			return "", true
		}
		return "derived nothing", false
	}
	if a.Negated {
		return "assert_not cannot be combined with iff", false
	}
	in, ok := a.Iff.(*In)
	v, isVar := in.Left.(*Var)
	if !ok || !isVar {
		return "only `iff variable in [...]` is supported", false
	}
	pos, ok := varPos[v.Name]
	if !ok {
		return fmt.Sprintf("iff names %s, which is not an argument of the assertion", v.Name), false
	}
	want := map[string]bool{}
	var wantList []string
	for _, el := range in.List {
		ev, err := p.literalValue(el)
		if err != nil {
			return err.Error(), false
		}
		k := ev.String()
		if !want[k] {
			want[k] = true
			wantList = append(wantList, k)
		}
	}
	got := map[string]bool{}
	var gotList []string
	for _, r := range rows {
		k := r[pos].String()
		if r[pos].IsWildcard() {
			k = "every " + r[pos].String()
		}
		if !got[k] {
			got[k] = true
			gotList = append(gotList, k)
		}
	}
	sort.Strings(wantList)
	sort.Strings(gotList)
	if strings.Join(wantList, "\x00") == strings.Join(gotList, "\x00") {
		return "", true
	}
	var missing, extra []string
	for _, k := range wantList {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for _, k := range gotList {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	msg := fmt.Sprintf("%s is [%s], expected [%s]", v.Name, strings.Join(gotList, ", "), strings.Join(wantList, ", "))
	if len(missing) > 0 {
		msg += "; missing " + strings.Join(missing, ", ")
	}
	if len(extra) > 0 {
		msg += "; unexpected " + strings.Join(extra, ", ")
	}
	return msg, false
}

func rowsText(pred string, rows [][]Value) string {
	parts := make([]string, 0, len(rows))
	for i, r := range rows {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(rows)-5))
			break
		}
		s := make([]string, len(r))
		for j, v := range r {
			s[j] = v.String()
		}
		parts = append(parts, pred+"("+strings.Join(s, ", ")+")")
	}
	return strings.Join(parts, ", ")
}

// emptyDB is a Database with no facts, used by test blocks.
type emptyDB struct{}

func (emptyDB) Lookup(string, string) uint32            { return 0 }
func (emptyDB) Value(uint32) (string, string)           { return "", "" }
func (emptyDB) TypeOf(uint32) uint16                    { return 0 }
func (emptyDB) TypeName(uint16) string                  { return "" }
func (emptyDB) RelationID(string, int) (int, bool)      { return 0, false }
func (emptyDB) Scan(int, []uint32, func([]uint32) bool) {}
func (emptyDB) Count(int, []uint32) int                 { return 0 }
