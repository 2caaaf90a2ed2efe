package polar

import (
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", ""},
		{"empty blocks", "actor User{}resource   Doc{ }global{}",
			"actor User {}\n\nresource Doc {}\n\nglobal {}\n"},
		{"block layout", `resource Doc extends A,B,{"read" if "r";roles=["r",];relations={p:Doc,};}`,
			"resource Doc extends A, B {\n  roles = [\"r\"];\n  relations = { p: Doc };\n\n  \"read\" if \"r\";\n}\n"},
		{"empty declarations", `resource Doc{roles=[];relations={};}`,
			"resource Doc {\n  roles = [];\n  relations = {};\n}\n"},
		{"shorthand forms", `resource R{role if role on "p";"a" if global "g" or is_public(resource) and "b" on resource;@f "c" if ("a" or "b") and "d";}`,
			"resource R {\n  role if role on \"p\";\n  \"a\" if global \"g\" or is_public(resource) and \"b\" on resource;\n  @f \"c\" if (\"a\" or \"b\") and \"d\";\n}\n"},
		{"fact", `f( 1 ,"a" ,true,User{ "u" },Integer{+5} ) ;`, "f(1, \"a\", true, User{\"u\"}, Integer{5});\n"},
		{"rule one line", `f(x:User,_:T,"a")if g(x)or h(x);`, "f(x: User, _: T, \"a\") if g(x) or h(x);\n"},
		{"rule conjunction", `f(x)if a(x)and(b(x)or c(x))and not d(x);`, "f(x) if\n  a(x) and\n  (b(x) or c(x)) and\n  not d(x);\n"},
		{"nested conjunction in conjunction", `f(x) if (a(x) and b(x)) and c(x);`, "f(x) if\n  (a(x) and b(x)) and\n  c(x);\n"},
		{"flags", `@a @b f(x);`, "@a @b f(x);\n"},
		{"operators", `f(x) if x=1 or x!=2 or x<3 or x<=4 or x>5 or x>=-6 or x in[1,2,] or x matches T or true or false;`,
			"f(x) if x = 1 or x != 2 or x < 3 or x <= 4 or x > 5 or x >= -6 or x in [1, 2] or x matches T or true or false;\n"},
		{"declare and type", `declare p(A,B);type q(x:A);`, "declare p(A, B);\n\ntype q(x: A);\n"},
		{"inline query", `?=f(1)and g(2);`, "?= f(1) and g(2);\n"},
		{"fixture", `test fixture fx{f(1);g("a");}test fixture empty{}`,
			"test fixture fx {\n  f(1);\n  g(\"a\");\n}\n\ntest fixture empty {}\n"},
		{"test", `test "t\"q"{setup{f(1);fixture a;}assert f(x:Integer)iff x in[1];assert_not g(_);}`,
			"test \"t\\\"q\" {\n  setup {\n    fixture a;\n    f(1);\n  }\n  assert f(x: Integer) iff x in [1];\n  assert_not g(_);\n}\n"},
		{"empty setup and test", `test "a"{setup{}}test "b"{}`, "test \"a\" {\n  setup {}\n}\n\ntest \"b\" {}\n"},
		{"comments dropped", "# c\nf(x) # c\n;", "f(x);\n"},
		{"escapes", `f("a\"b\\c\qd	e");`, "f(\"a\\\"b\\\\cqd\\te\");\n"},
		{"unicode", `ünï(日本) if 日本 = "ü";`, "ünï(日本) if 日本 = \"ü\";\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.src)
			if got := Format(f); got != tt.want {
				t.Errorf("Format:\n got %q\nwant %q", got, tt.want)
			}
			checkRoundTrip(t, f)
		})
	}
}

func TestFormatExpr(t *testing.T) {
	x := &Var{Name: "x"}
	call := func(name string) Expr { return &Call{Name: name, Args: []Term{x}} }
	tests := []struct {
		name string
		expr Expr
		want string
	}{
		{"call", call("a"), "a(x)"},
		{"compare", &Compare{Op: OpGe, Left: x, Right: &IntLit{Value: -3}}, "x >= -3"},
		{"every op", &And{Args: []Expr{
			&Compare{Op: OpEq, Left: x, Right: x}, &Compare{Op: OpNe, Left: x, Right: x},
			&Compare{Op: OpLt, Left: x, Right: x}, &Compare{Op: OpLe, Left: x, Right: x},
			&Compare{Op: OpGt, Left: x, Right: x}, &Compare{Op: OpGe, Left: x, Right: x},
		}}, "x = x and x != x and x < x and x <= x and x > x and x >= x"},
		{"in", &In{Left: x, List: []Term{&StringLit{Value: "a"}, &BoolLit{Value: true}}}, `x in ["a", true]`},
		{"matches", &Matches{Left: x, Type: TypeRef{Name: "User"}}, "x matches User"},
		{"bool", &BoolExpr{Value: false}, "false"},
		{"or in and", &And{Args: []Expr{&Or{Args: []Expr{call("a"), call("b")}}, call("c")}}, "(a(x) or b(x)) and c(x)"},
		{"and in or", &Or{Args: []Expr{&And{Args: []Expr{call("a"), call("b")}}, call("c")}}, "a(x) and b(x) or c(x)"},
		{"or in or", &Or{Args: []Expr{call("a"), &Or{Args: []Expr{call("b"), call("c")}}}}, "a(x) or (b(x) or c(x))"},
		{"and in not", &Not{Arg: &And{Args: []Expr{call("a"), call("b")}}}, "not (a(x) and b(x))"},
		{"not in and", &And{Args: []Expr{&Not{Arg: call("a")}, call("b")}}, "not a(x) and b(x)"},
		{"not not", &Not{Arg: &Not{Arg: call("a")}}, "not not a(x)"},
		{"not compare", &Not{Arg: &Compare{Op: OpEq, Left: x, Right: x}}, "not x = x"},
		{"single-arg and", &And{Args: []Expr{&Or{Args: []Expr{call("a"), call("b")}}}}, "a(x) or b(x)"},
		{"single-arg and under not", &Not{Arg: &And{Args: []Expr{&Or{Args: []Expr{call("a"), call("b")}}}}}, "not (a(x) or b(x))"},
		{"empty and", &And{}, "true"},
		{"empty or", &Or{}, "false"},
		{"nil", nil, "<nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatExpr(tt.expr); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFormatTerm(t *testing.T) {
	tests := []struct {
		name string
		term Term
		want string
	}{
		{"var", &Var{Name: "ünï"}, "ünï"},
		{"wildcard", &Wildcard{}, "_"},
		{"string", &StringLit{Value: "a\"\n"}, `"a\"\n"`},
		{"int", &IntLit{Value: -9223372036854775808}, "-9223372036854775808"},
		{"bool", &BoolLit{Value: true}, "true"},
		{"typed", &TypedLit{Type: "Billing::Invoice", Lit: &StringLit{Value: "i"}}, `Billing::Invoice{"i"}`},
		{"typed int", &TypedLit{Type: "Integer", Lit: &IntLit{Value: 5}}, `Integer{5}`},
		{"time", &CurrentTime{}, "@current_unix_time"},
		{"nil", nil, "<nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatTerm(tt.term); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPrintRoundTripConstructed formats hand-built trees (as desugaring
// might produce) and checks that they parse back to the same shape.
func TestPrintRoundTripConstructed(t *testing.T) {
	x := &Var{Name: "x"}
	call := func(name string) Expr { return &Call{Name: name, Args: []Term{x}} }
	files := []struct {
		name string
		file *File
	}{
		{"deep nesting", &File{Items: []Item{&Rule{Name: "r", Params: []Param{{Term: x}}, Body: &Not{Arg: &Or{Args: []Expr{
			&And{Args: []Expr{call("a"), &Or{Args: []Expr{call("b"), &Not{Arg: &And{Args: []Expr{call("c"), call("d")}}}}}}},
			&Or{Args: []Expr{call("e"), call("f")}},
		}}}}}}},
		{"shorthand nesting", &File{Items: []Item{&Block{Kind: ResourceBlock, Name: "R", Rules: []*ShorthandRule{{
			Head: ShTerm{IsString: true, Value: "a"},
			Body: &ShAnd{Args: []ShExpr{
				&ShOr{Args: []ShExpr{&ShAtom{Term: ShTerm{IsString: true, Value: "b"}}, &ShGlobal{Name: ShTerm{IsString: true, Value: "g"}}}},
				&ShAnd{Args: []ShExpr{&ShAtom{Term: ShTerm{Value: "role"}, On: &ShTerm{IsString: true, Value: "p"}}, &ShCall{Call: &Call{Name: "c", Args: []Term{&Var{Name: "resource"}}}}}},
			}},
		}}}}}},
	}
	for _, tt := range files {
		t.Run(tt.name, func(t *testing.T) {
			checkRoundTrip(t, tt.file)
		})
	}
}
