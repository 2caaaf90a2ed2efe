package polar

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden parses every testdata/parse/NAME.polar and compares the Dump of
// the tree (valid input) or the diagnostics (invalid input) with NAME.golden.
// Valid inputs must also survive Format → Parse unchanged.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/parse/*.polar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden inputs in testdata/parse")
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".polar")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(filepath.Base(path), string(src))
			var got string
			if err != nil {
				got = diagnosticsText(t, err)
			} else {
				got = Dump(f)
			}
			checkRoundTrip(t, f) // on error, of the items that parsed
			if wantErr := strings.HasPrefix(name, "err_"); wantErr != (err != nil) {
				t.Errorf("err_ prefix is %v but Parse returned error %v", wantErr, err)
			}
			golden := strings.TrimSuffix(path, ".polar") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("mismatch with %s (run with -update to rewrite)\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestConformanceCopies checks that testdata holds the current conformance
// policies from the shared specification directory, when it is present.
func TestConformanceCopies(t *testing.T) {
	shared, _ := filepath.Glob("../../../shared/conformance/*.polar")
	if len(shared) == 0 {
		t.Skip("shared conformance directory not present")
	}
	for _, path := range shared {
		base := filepath.Base(path)
		t.Run(base, func(t *testing.T) {
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join("testdata/parse", "conformance_"+base[:2]+".polar"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("testdata copy of %s is stale", base)
			}
		})
	}
}

func diagnosticsText(t testing.TB, err error) string {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Parse returned %T, want ErrorList", err)
	}
	var b strings.Builder
	for _, d := range list {
		if d.File == "" {
			t.Errorf("diagnostic without file: %v", d)
		}
		b.WriteString(d.Error())
		b.WriteByte('\n')
	}
	return b.String()
}

var dumpPos = regexp.MustCompile(` \d+:\d+`)

// shape is a Dump without positions: two trees with the same shape are equal
// up to positions.
func shape(f *File) string {
	return dumpPos.ReplaceAllString(Dump(f), "")
}

// checkRoundTrip verifies that Format(f) parses back to the same tree and
// that formatting is idempotent.
func checkRoundTrip(t testing.TB, f *File) {
	t.Helper()
	out := Format(f)
	g, err := Parse(f.Name, out)
	if err != nil {
		t.Fatalf("formatted source does not parse: %v\n%s", err, out)
	}
	if got, want := shape(g), shape(f); got != want {
		t.Fatalf("formatted source parses to a different tree\nsource:\n%s\ngot:\n%s\nwant:\n%s", out, got, want)
	}
	if again := Format(g); again != out {
		t.Fatalf("Format is not idempotent\nfirst:\n%s\nsecond:\n%s", out, again)
	}
}

// mustParse parses src and fails the test on error.
func mustParse(t testing.TB, src string) *File {
	t.Helper()
	f, err := Parse("test.polar", src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return f
}

// parseBody parses "r(x) if BODY;" and returns the body.
func parseBody(t testing.TB, body string) Expr {
	t.Helper()
	f := mustParse(t, "r(x) if "+body+";")
	return f.Items[0].(*Rule).Body
}

// sexpr renders an expression as a compact S-expression for table tests.
func sexpr(e Expr) string {
	switch n := e.(type) {
	case *And:
		return "(and" + sexprList(n.Args) + ")"
	case *Or:
		return "(or" + sexprList(n.Args) + ")"
	case *Not:
		return "(not " + sexpr(n.Arg) + ")"
	case *Call:
		s := "(" + n.Name
		for _, a := range n.Args {
			s += " " + FormatTerm(a)
		}
		return s + ")"
	case *Compare:
		return "(" + n.Op.String() + " " + FormatTerm(n.Left) + " " + FormatTerm(n.Right) + ")"
	case *In:
		s := "(in " + FormatTerm(n.Left)
		for _, a := range n.List {
			s += " " + FormatTerm(a)
		}
		return s + ")"
	case *Matches:
		return "(matches " + FormatTerm(n.Left) + " " + n.Type.Name + ")"
	case *BoolExpr:
		if n.Value {
			return "TRUE"
		}
		return "FALSE"
	}
	return "?"
}

func sexprList(args []Expr) string {
	s := ""
	for _, a := range args {
		s += " " + sexpr(a)
	}
	return s
}

func shSexpr(e ShExpr) string {
	switch n := e.(type) {
	case *ShAtom:
		s := shTermText(n.Term)
		if n.On != nil {
			s = "(on " + s + " " + shTermText(*n.On) + ")"
		}
		return s
	case *ShGlobal:
		return "(global " + shTermText(n.Name) + ")"
	case *ShCall:
		return sexpr(n.Call)
	case *ShAnd, *ShOr:
		op, args := "and", []ShExpr(nil)
		if a, ok := n.(*ShAnd); ok {
			args = a.Args
		} else {
			op, args = "or", n.(*ShOr).Args
		}
		s := "(" + op
		for _, a := range args {
			s += " " + shSexpr(a)
		}
		return s + ")"
	}
	return "?"
}

func TestParseExpr(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"eq", `x = 1`, `(= x 1)`},
		{"ne", `x != "a"`, `(!= x "a")`},
		{"lt", `x < 1`, `(< x 1)`},
		{"le", `x <= 1`, `(<= x 1)`},
		{"gt", `x > 1`, `(> x 1)`},
		{"ge", `x >= 1`, `(>= x 1)`},
		{"no spaces", `x>=1`, `(>= x 1)`},
		{"in", `x in ["a", "b"]`, `(in x "a" "b")`},
		{"in trailing comma", `x in ["a", "b",]`, `(in x "a" "b")`},
		{"in empty", `x in []`, `(in x)`},
		{"in typed", `x in [User{"a"}, Integer{2}]`, `(in x User{"a"} Integer{2})`},
		{"matches", `x matches User`, `(matches x User)`},
		{"matches namespaced", `x matches Billing::Invoice`, `(matches x Billing::Invoice)`},
		{"true", `true`, `TRUE`},
		{"false", `false`, `FALSE`},
		{"true as term", `true = x`, `(= true x)`},
		{"call", `f(x, "a", 1, _, User{"u"})`, `(f x "a" 1 _ User{"u"})`},
		{"call no args", `f()`, `(f)`},
		{"current time", `x < @current_unix_time`, `(< x @current_unix_time)`},
		{"negative", `x = -7`, `(= x -7)`},
		{"explicit plus", `x = +3`, `(= x 3)`},
		{"min int", `x = -9223372036854775808`, `(= x -9223372036854775808)`},
		{"and", `a(x) and b(x) and c(x)`, `(and (a x) (b x) (c x))`},
		{"or", `a(x) or b(x) or c(x)`, `(or (a x) (b x) (c x))`},
		{"and binds tighter", `a(x) or b(x) and c(x)`, `(or (a x) (and (b x) (c x)))`},
		{"and binds tighter left", `a(x) and b(x) or c(x)`, `(or (and (a x) (b x)) (c x))`},
		{"parens", `(a(x) or b(x)) and c(x)`, `(and (or (a x) (b x)) (c x))`},
		{"parens leave no node", `((a(x)))`, `(a x)`},
		{"right nested or kept", `a(x) or (b(x) or c(x))`, `(or (a x) (or (b x) (c x)))`},
		{"left nested and kept", `(a(x) and b(x)) and c(x)`, `(and (and (a x) (b x)) (c x))`},
		{"not binds tighter than and", `not a(x) and b(x)`, `(and (not (a x)) (b x))`},
		{"not looser than eq", `not x = y`, `(not (= x y))`},
		{"not not", `not not a(x)`, `(not (not (a x)))`},
		{"not parens", `not (a(x) or b(x))`, `(not (or (a x) (b x)))`},
		{"not in", `not x in ["a"]`, `(not (in x "a"))`},
		{"wildcard", `_ = x`, `(= _ x)`},
		{"contextual words as vars", `actor = resource and role = permission and global = on`, `(and (= actor resource) (= role permission) (= global on))`},
		{"test words as vars", `test = fixture and setup = assert and iff = extends`, `(and (= test fixture) (= setup assert) (= iff extends))`},
		{"unicode", `ünï = 日本`, `(= ünï 日本)`},
		{"question mark ident", `ok?(x?) and x? = 1`, `(and (ok? x?) (= x? 1))`},
		{"escapes", `x = "a\"b\\c\nd\re\tf\0g\qh"`, `(= x "a\"b\\c\nd\re\tf\0gqh")`},
		{"comments", "a(x) # one\n and # two\n b(x)", `(and (a x) (b x))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sexpr(parseBody(t, tt.body)); got != tt.want {
				t.Errorf("body %q: got %s, want %s", tt.body, got, tt.want)
			}
		})
	}
}

func TestParseShorthand(t *testing.T) {
	tests := []struct {
		name, rule, head, want string
	}{
		{"string", `"a" if "b";`, `"a"`, `"b"`},
		{"on relation", `"a" if "b" on "rel";`, `"a"`, `(on "b" "rel")`},
		{"global", `"a" if global "b";`, `"a"`, `(global "b")`},
		{"role on", `role if role on "rel";`, `role`, `(on role "rel")`},
		{"permission on", `permission if permission on "rel";`, `permission`, `(on permission "rel")`},
		{"on resource", `"a" if "b" on resource;`, `"a"`, `(on "b" resource)`},
		{"call", `"a" if is_public(resource);`, `"a"`, `(is_public resource)`},
		{"and", `"a" if "b" and "c";`, `"a"`, `(and "b" "c")`},
		{"or", `"a" if "b" or "c" or "d";`, `"a"`, `(or "b" "c" "d")`},
		{"precedence", `"a" if "b" or "c" and "d";`, `"a"`, `(or "b" (and "c" "d"))`},
		{"parens", `"a" if ("b" or "c") and "d";`, `"a"`, `(and (or "b" "c") "d")`},
		{"global word alone", `"a" if global on "r";`, `"a"`, `(on global "r")`},
		{"global call", `"a" if global(resource);`, `"a"`, `(global resource)`},
		{"comments", "\"a\" # x\n if # y\n \"b\" # z\n on # w\n \"r\" # v\n;", `"a"`, `(on "b" "r")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, "resource R {\n  "+tt.rule+"\n}")
			r := f.Items[0].(*Block).Rules[0]
			if got := shTermText(r.Head); got != tt.head {
				t.Errorf("head: got %s, want %s", got, tt.head)
			}
			if got := shSexpr(r.Body); got != tt.want {
				t.Errorf("body: got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseItems(t *testing.T) {
	tests := []struct {
		name, src, want string // want: "Kind name" of each item
	}{
		{"actor block", `actor User {}`, "actor User"},
		{"resource block", `resource Doc {}`, "resource Doc"},
		{"global block", `global {}`, "global "},
		{"extends", `resource Image extends Asset, Media, {}`, "resource Image<Asset,Media>"},
		{"namespaced", `resource Billing::Invoice extends Billing::Doc {}`, "resource Billing::Invoice<Billing::Doc>"},
		{"rule named actor", `actor(x) if x = 1;`, "rule actor"},
		{"rule named resource", `resource(x);`, "rule resource"},
		{"rule named global", `global(x);`, "rule global"},
		{"rule named test", `test(x);`, "rule test"},
		{"rule named declare", `declare(x);`, "rule declare"},
		{"rule named type", `type(x);`, "rule type"},
		{"fact", `f(1, "a", true, User{"u"});`, "rule f"},
		{"flags", `@a @b f(x);`, "rule f@a@b"},
		{"declare", `declare p(A, B);`, "declare p"},
		{"rule type", `type p(x: A, _: B);`, "type p"},
		{"inline query", `?= f(1);`, "query"},
		{"fixture", `test fixture fx { f(1); }`, "fixture fx"},
		{"test", `test "t" { setup { fixture fx; f(1); } assert f(1); }`, "test t"},
		{"several", "actor U {}\nf(x);\ndeclare g(U);", "actor U|rule f|declare g"},
		{"empty", "", ""},
		{"only comments", "# nothing\n# here", ""},
		{"bom", "\uFEFFactor U {}", "actor U"},
		{"crlf", "actor U {}\r\nf(x) if\r\n  x = 1;\r\n", "actor U|rule f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.src)
			var got []string
			for _, it := range f.Items {
				got = append(got, itemSummary(it))
			}
			if s := strings.Join(got, "|"); s != tt.want {
				t.Errorf("got %q, want %q", s, tt.want)
			}
		})
	}
}

func itemSummary(it Item) string {
	switch n := it.(type) {
	case *Block:
		s := n.Kind.String() + " " + n.Name
		if len(n.Extends) > 0 {
			var names []string
			for _, e := range n.Extends {
				names = append(names, e.Name)
			}
			s += "<" + strings.Join(names, ",") + ">"
		}
		return s
	case *Rule:
		s := "rule " + n.Name
		for _, f := range n.Flags {
			s += "@" + f.Name
		}
		return s
	case *Declare:
		return "declare " + n.Name
	case *RuleType:
		return "type " + n.Name
	case *InlineQuery:
		return "query"
	case *Fixture:
		return "fixture " + n.Name
	case *TestBlock:
		return "test " + n.Name
	}
	return "?"
}

func TestParseDeclarations(t *testing.T) {
	f := mustParse(t, `resource R {
  permissions = ["a", "b",];
  relations = { parent: R, owner: Billing::User, };
  roles = [];
  anything = [x, 1];
}`)
	b := f.Items[0].(*Block)
	if len(b.Decls) != 4 {
		t.Fatalf("got %d declarations, want 4", len(b.Decls))
	}
	tests := []struct {
		name  string
		decl  *Declaration
		key   string
		isMap bool
		n     int
	}{
		{"list with trailing comma", b.Decls[0], "permissions", false, 2},
		{"map with trailing comma", b.Decls[1], "relations", true, 2},
		{"empty list", b.Decls[2], "roles", false, 0},
		{"any key and terms", b.Decls[3], "anything", false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.decl
			n := len(d.List)
			if d.IsMap {
				n = len(d.Map)
			}
			if d.Key != tt.key || d.IsMap != tt.isMap || n != tt.n {
				t.Errorf("got key %s map %v with %d elements, want %s %v %d", d.Key, d.IsMap, n, tt.key, tt.isMap, tt.n)
			}
		})
	}
	if e := b.Decls[1].Map[1]; e.Name != "owner" || e.Type.Name != "Billing::User" {
		t.Errorf("relation entry: got %s: %s", e.Name, e.Type.Name)
	}
}

func TestParseTests(t *testing.T) {
	f := mustParse(t, `test "owners" {
  setup {
    fixture base;
    owns(User{"ann"}, Plot{"p1"}, -3, true);
    fixture more;
  }
  assert can(User{"ann"}, Plot{"p1"});
  assert_not can(User{"ann"}, _: Plot);
  assert allow(User{"a"}, action: String, Plot{"p"}) iff action in ["water", "view"];
}`)
	tb := f.Items[0].(*TestBlock)
	if tb.Name != "owners" || tb.Setup == nil {
		t.Fatalf("got test %q with setup %v", tb.Name, tb.Setup)
	}
	if len(tb.Setup.Fixtures) != 2 || tb.Setup.Fixtures[1].Name != "more" || len(tb.Setup.Facts) != 1 {
		t.Errorf("setup: got %+v", tb.Setup)
	}
	if len(tb.Setup.Facts[0].Args) != 4 {
		t.Errorf("fact args: got %d, want 4", len(tb.Setup.Facts[0].Args))
	}
	if len(tb.Asserts) != 3 {
		t.Fatalf("got %d assertions, want 3", len(tb.Asserts))
	}
	if a := tb.Asserts[1]; !a.Negated || a.Args[1].Spec == nil || a.Args[1].Spec.Name != "Plot" {
		t.Errorf("assert_not: got %+v", a)
	}
	if a := tb.Asserts[2]; a.Negated || sexpr(a.Iff) != `(in action "water" "view")` {
		t.Errorf("iff: got %s", sexpr(a.Iff))
	}
}

func TestParsePositions(t *testing.T) {
	src := "actor User {}\n" + // line 1
		"resource Doc extends Base {\n" + // line 2
		"  roles = [\"r\"];\n" + // line 3
		"  relations = { owner: User };\n" + // line 4
		"  @f \"read\" if \"r\" or global \"g\";\n" + // line 5
		"}\n" + // line 6
		"# ünïcødé comment\n" + // line 7
		"ünï(x: User, \"é\") if\n" + // line 8
		"\t(a(x) or b(x)) and not x = -1 and x in [1] and x matches User;\n" + // line 9
		"test \"t\" { setup { fixture f; g(1); } assert h(_: T) iff y > @current_unix_time; }\n" // line 10
	f := mustParse(t, src)
	doc := f.Items[1].(*Block)
	rule := f.Items[2].(*Rule)
	body := rule.Body.(*And)
	or := body.Args[0].(*Or)
	not := body.Args[1].(*Not)
	cmp := not.Arg.(*Compare)
	in := body.Args[2].(*In)
	m := body.Args[3].(*Matches)
	sh := doc.Rules[0]
	test := f.Items[3].(*TestBlock)
	iff := test.Asserts[0].Iff.(*Compare)
	tests := []struct {
		name string
		got  Pos
		want Pos
	}{
		{"actor block", f.Items[0].Position(), Pos{1, 1}},
		{"block", doc.Pos, Pos{2, 1}},
		{"block name", doc.NamePos, Pos{2, 10}},
		{"extends", doc.Extends[0].Pos, Pos{2, 22}},
		{"declaration", doc.Decls[0].Pos, Pos{3, 3}},
		{"declaration element", doc.Decls[0].List[0].Position(), Pos{3, 12}},
		{"relation entry", doc.Decls[1].Map[0].Pos, Pos{4, 17}},
		{"relation type", doc.Decls[1].Map[0].Type.Pos, Pos{4, 24}},
		{"shorthand rule starts at flag", sh.Pos, Pos{5, 3}},
		{"flag", sh.Flags[0].Pos, Pos{5, 3}},
		{"shorthand head", sh.Head.Pos, Pos{5, 6}},
		{"shorthand or", sh.Body.Position(), Pos{5, 16}},
		{"shorthand global", sh.Body.(*ShOr).Args[1].Position(), Pos{5, 23}},
		{"shorthand global name", sh.Body.(*ShOr).Args[1].(*ShGlobal).Name.Pos, Pos{5, 30}},
		{"rule after multibyte comment", rule.Pos, Pos{8, 1}},
		{"param after multibyte name", rule.Params[0].Term.Position(), Pos{8, 7}},
		{"specializer", rule.Params[0].Spec.Pos, Pos{8, 10}},
		{"string param", rule.Params[1].Term.Position(), Pos{8, 16}},
		{"and starts at paren", body.Pos, Pos{9, 2}},
		{"or inside paren", or.Pos, Pos{9, 3}},
		{"second call", or.Args[1].Position(), Pos{9, 11}},
		{"not", not.Pos, Pos{9, 21}},
		{"compare at left operand", cmp.Pos, Pos{9, 25}},
		{"signed literal at sign", cmp.Right.Position(), Pos{9, 29}},
		{"in", in.Pos, Pos{9, 36}},
		{"in element", in.List[0].Position(), Pos{9, 42}},
		{"matches", m.Pos, Pos{9, 49}},
		{"matches type", m.Type.Pos, Pos{9, 59}},
		{"test", test.Pos, Pos{10, 1}},
		{"setup", test.Setup.Pos, Pos{10, 12}},
		{"fixture ref", test.Setup.Fixtures[0].Pos, Pos{10, 20}},
		{"setup fact", test.Setup.Facts[0].Pos, Pos{10, 31}},
		{"assert", test.Asserts[0].Pos, Pos{10, 39}},
		{"assert wildcard", test.Asserts[0].Args[0].Term.Position(), Pos{10, 48}},
		{"current time", iff.Right.Position(), Pos{10, 62}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %d:%d, want %d:%d", tt.got.Line, tt.got.Col, tt.want.Line, tt.want.Col)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string // want: first diagnostic without the file name
	}{
		{"missing semicolon", "f(x) if\n  g(x)\n  h(x);", `3:3: P001 expected ";" after rule, found identifier "h"`},
		{"missing semicolon before brace", "resource R {\n  \"a\" if \"b\"\n}", `3:1: P001 expected ";" after shorthand rule, found "}"`},
		{"missing if", `f(x) g(x);`, `1:6: P001 expected "if" or ";" after rule head, found identifier "g"`},
		{"missing paren", `f if g(x);`, `1:3: P001 expected "(" after rule name "f", found keyword "if"`},
		{"float", `f(1.5);`, `1:3: T007 float literals are not supported`},
		{"signed float", `f(-1.5);`, `1:4: T007 float literals are not supported`},
		{"big int", `f(99999999999999999999);`, `1:3: T007 integer literal 99999999999999999999 is out of range (64-bit signed)`},
		{"forall", `f(x) if forall(x, g(x));`, `1:9: S001 "forall" is not supported in Oso Cloud Polar`},
		{"cut", `f(x) if cut;`, `1:9: S001 "cut" is not supported in Oso Cloud Polar`},
		{"new", `f(x) if x = new;`, `1:13: S001 "new" is not supported in Oso Cloud Polar: there are no host objects`},
		{"print", `f(x) if print(x);`, `1:9: S001 "print" is not supported in Oso Cloud Polar`},
		{"debug", `f(x) if debug();`, `1:9: S001 "debug" is not supported in Oso Cloud Polar`},
		{"isa", `f(x) if x isa T;`, `1:11: S001 "isa" is not supported in Oso Cloud Polar; use "matches"`},
		{"mod", `f(x) if x mod 2 = 1;`, `1:11: S001 arithmetic operator "mod" is not supported in Oso Cloud Polar`},
		{"rem", `f(x) if 1 = x rem 2;`, `1:15: S001 arithmetic operator "rem" is not supported in Oso Cloud Polar`},
		{"of", `f(x) if g(x of y);`, `1:13: S001 "of" is not supported in Oso Cloud Polar`},
		{"dot", `f(x) if x.y = 1;`, `1:10: S001 field access with "." is not supported in Oso Cloud Polar`},
		{"method call", `f(x) if x.g();`, `1:10: S001 field access with "." is not supported in Oso Cloud Polar`},
		{"double equals", `f(x) if x == 1;`, `1:11: S001 "==" is not supported in Oso Cloud Polar; use "=" for unification`},
		{"assign", `f(x) if x := 1;`, `1:11: S001 ":=" is not supported in Oso Cloud Polar; use "=" for unification`},
		{"plus", `f(x) if x = 1 + 2;`, `1:15: S001 arithmetic operator "+" is not supported in Oso Cloud Polar`},
		{"minus without space", `f(x) if x = y-1;`, `1:14: S001 arithmetic operator "-" is not supported in Oso Cloud Polar`},
		{"minus before space", `f(x) if x = 3 -1;`, `1:15: S001 arithmetic operator "-" is not supported in Oso Cloud Polar`},
		{"unary minus on var", `f(x) if x = -y;`, `1:13: S001 arithmetic operator "-" is not supported in Oso Cloud Polar`},
		{"detached sign", `f(x) if x = - 1;`, `1:13: S001 arithmetic operator "-" is not supported in Oso Cloud Polar`},
		{"times", `f(x) if x = 2 * 2;`, `1:15: S001 arithmetic operator "*" is not supported in Oso Cloud Polar`},
		{"divide", `f(x) if x = 2 / 2;`, `1:15: S001 arithmetic operator "/" is not supported in Oso Cloud Polar`},
		{"dictionary", `f(x) if x = {a: 1};`, `1:13: S001 a dictionary literal is not supported in Oso Cloud Polar`},
		{"matches bang", `f(x) if x matches! T;`, `1:18: S001 "matches!" is not supported in Oso Cloud Polar`},
		{"reserved var", `f(x) if x = not;`, `1:13: P001 expected a term, found keyword "not"`},
		{"reserved type", `f(x) if x matches in;`, `1:19: P001 expected a type name after "matches", found keyword "in"`},
		{"list argument", `f(x) if g([1]);`, `1:11: P001 list literals are only allowed after "in"`},
		{"in a field", `f(x) if "admin" in x.roles;`, `1:20: S001 "in" over a variable or field is not supported in Oso Cloud Polar; Oso Cloud Polar takes a list literal after "in" ([...]), or store the members as facts`},
		{"matches with fields", `f(x, y) if x matches Repo{owner: y};`, `1:26: S001 "matches" with fields (Type{field: value}) is not supported in Oso Cloud Polar; match the type alone and store the fields as facts`},
		{"unterminated string", `f("abc`, `1:3: P001 unterminated string literal`},
		{"newline in string", "f(\"ab\nc\");", `1:3: P001 line break in string literal`},
		{"escaped newline in string", "f(\"ab\\\nc\");", `1:3: P001 line break in string literal`},
		{"invalid character", `f(x) if x = ~;`, `1:13: P001 invalid character '~'`},
		{"control character", "f(x) if x = \x01;", `1:13: P001 invalid character '\x01'`},
		{"lone question mark", `f(x) if ? ;`, `1:9: P001 invalid character '?'`},
		{"bad flag", `@ f(x);`, `1:1: P001 expected a name after "@"`},
		{"zero-width space", "f(x\u200b);", `1:4: P001 invalid character '\u200b'`},
		{"invalid utf-8", "f(\xff);", `1:3: P001 invalid UTF-8 encoding`},
		{"shorthand at top level", `"a" if "b";`, `1:1: P001 shorthand rules are only allowed inside a resource, actor or global block`},
		{"shorthand head reserved", "resource R {\n  and if \"b\";\n}", `2:3: P001 expected a declaration or shorthand rule, found keyword "and"`},
		{"shorthand on without relation", "resource R {\n  \"a\" if \"b\" on;\n}", `2:16: P001 expected a relation after "on", found ";"`},
		{"declaration value", "resource R {\n  roles = \"a\";\n}", `2:11: P001 expected "[" or "{" after "roles =", found string "a"`},
		{"relation without type", "resource R {\n  relations = { a };\n}", `2:19: P001 expected ":" after relation name, found "}"`},
		{"extends without type", `resource R extends {}`, `1:20: P001 expected a type name after "extends", found "{"`},
		{"global with name", `global G {}`, `1:8: P001 expected "(" after rule name "global", found identifier "G"`},
		{"declare literal", `declare f("a");`, `1:11: P001 expected a type name, found string "a"`},
		{"type without params", `type f;`, `1:7: P001 expected "(", found ";"`},
		{"inline query without semicolon", `?= f(1)`, `1:8: P001 expected ";" after inline query, found end of file`},
		{"fixture without name", `test fixture { }`, `1:14: P001 expected a fixture name, found "{"`},
		{"fact with wildcard", `test fixture x { f(_); }`, `1:20: P001 fact arguments must be literals or typed literals`},
		{"fact with time", `test fixture x { f(@current_unix_time); }`, `1:20: P001 fact arguments must be literals or typed literals`},
		{"assert without predicate", `test "t" { assert; }`, `1:18: P001 expected a predicate after "assert", found ";"`},
		{"typed literal empty", `f(User{});`, `1:8: P001 expected a literal inside User{...}, found "}"`},
		{"typed literal nested", `f(User{User{"a"}});`, `1:8: P001 a typed literal holds one string, integer or boolean literal`},
		{"typed literal unclosed", `f(User{"a");`, `1:11: P001 expected "}" to close typed literal, found ")"`},
		{"trailing comma in head", `f(x,);`, `1:5: P001 expected a parameter after ",", found ")"`},
		{"trailing comma in declare", `declare f(A,);`, `1:13: P001 expected a type name after ",", found ")"`},
		{"missing comma", `f(x y);`, `1:5: P001 expected "," or ")", found identifier "y"`},
		{"unclosed paren", `f(x) if (g(x);`, `1:14: P001 expected ")" to close "(", found ";"`},
		{"stray brace", `}`, `1:1: P001 expected a rule, block, declaration or test, found "}"`},
		{"two semicolons after a block", "actor User {};;", `1:15: P001 expected a rule, block, declaration or test, found ";"`},
		{"semicolon alone", ";", `1:1: P001 expected a rule, block, declaration or test, found ";"`},
		{"unknown flag term", `f(x) if x = @now;`, `1:13: P001 unknown constant "@now"; the only constant is @current_unix_time`},
		{"bare term", `f(x) if x;`, `1:10: P001 expected an operator (= != < <= > >= in matches) after the term, found ";"`},
		{"comparison chain", `f(x) if x = y = z;`, `1:15: P001 expected ";" after rule, found "="`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("", tt.src)
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("Parse(%q): got %v, want an ErrorList", tt.src, err)
			}
			if got := list[0].Error(); got != tt.want {
				t.Errorf("Parse(%q):\n got %s\nwant %s", tt.src, got, tt.want)
			}
		})
	}
}

// TestParseRecovery checks that one pass reports errors from several items
// and members, and that parsing resumes at the right place.
func TestParseRecovery(t *testing.T) {
	src := `resource R {
  roles = ["a"];
  "x" if "a" "b";
  "y" if "a";
}
f(x) if x = 1.5;
g(x) if x == 1;
h(x);
test "t" {
  assert f(x: );
  assert h(1);
}
`
	f, err := Parse("r.polar", src)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want an ErrorList", err)
	}
	var got []string
	for _, d := range list {
		got = append(got, d.Code+"@"+at(d.Pos))
	}
	want := "P001@3:14 T007@6:13 S001@7:11 P001@10:15"
	if s := strings.Join(got, " "); s != want {
		t.Errorf("diagnostics: got %s, want %s", s, want)
	}
	var names []string
	for _, it := range f.Items {
		names = append(names, itemSummary(it))
	}
	// f is kept: T007 does not abandon the rule.
	if s := strings.Join(names, "|"); s != "resource R|rule f|rule h|test t" {
		t.Errorf("items: got %s", s)
	}
	if b := f.Items[0].(*Block); len(b.Rules) != 1 || b.Rules[0].Head.Value != "y" {
		t.Errorf("block rules after recovery: got %+v", b.Rules)
	}
	if tb := f.Items[3].(*TestBlock); len(tb.Asserts) != 1 || tb.Asserts[0].Name != "h" {
		t.Errorf("test assertions after recovery: got %+v", tb.Asserts)
	}
}

func TestParseTooManyErrors(t *testing.T) {
	src := strings.Repeat("f(x) if x == 1;\n", 200)
	_, err := Parse("", src)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want an ErrorList", err)
	}
	if len(list) != maxErrors+1 || list[len(list)-1].Message != "too many errors" {
		t.Errorf("got %d diagnostics ending with %q", len(list), list[len(list)-1].Message)
	}
}

// TestParseCommentsBetweenTokens puts a comment between every two tokens of
// each golden input and checks that the tree does not change.
func TestParseCommentsBetweenTokens(t *testing.T) {
	files, _ := filepath.Glob("testdata/parse/*.polar")
	for _, path := range files {
		if strings.HasPrefix(filepath.Base(path), "err_") {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f := mustParse(t, string(src))
			var b strings.Builder
			sc := newScanner(string(src))
			prevEnd := -1
			for tok := sc.next(); tok.kind != tkEOF; tok = sc.next() {
				// A sign and its digits form one literal: keep them together.
				if prevEnd != tok.off || tok.kind != tkInt {
					b.WriteString(" # comment { ; } \"\n")
				}
				b.WriteString(string(src[tok.off:tok.end]))
				prevEnd = tok.end
			}
			g := mustParse(t, b.String())
			if shape(g) != shape(f) {
				t.Errorf("comments changed the tree:\n%s", b.String())
			}
		})
	}
}

func BenchmarkParseConformance(b *testing.B) {
	files, _ := filepath.Glob("testdata/parse/conformance_*.polar")
	var srcs []string
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		srcs = append(srcs, string(src))
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, src := range srcs {
			if _, err := Parse("bench.polar", src); err != nil {
				b.Fatal(err)
			}
		}
	}
}
