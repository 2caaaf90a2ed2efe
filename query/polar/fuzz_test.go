package polar

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParsePrintParse checks that Parse never panics, that its errors are
// well-formed diagnostics, and that Format produces source that parses back
// to the same tree and formats to itself. On invalid input the property is
// checked on the items Parse could still parse, so that nearly every input
// exercises the printer.
func FuzzParsePrintParse(f *testing.F) {
	for _, pattern := range []string{"testdata/parse/*.polar", "../../../shared/conformance/*.polar"} {
		files, _ := filepath.Glob(pattern)
		for _, path := range files {
			src, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(src))
		}
	}
	for _, src := range fuzzSeeds {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		file, err := Parse("fuzz.polar", src)
		if err != nil {
			checkDiagnostics(t, src, err)
		}
		checkRoundTrip(t, file)
	})
}

// checkDiagnostics verifies that err is a non-empty ErrorList of known codes
// whose positions lie inside src.
func checkDiagnostics(t testing.TB, src string, err error) {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("got error %v (%T), want a non-empty ErrorList", err, err)
	}
	lines := strings.Count(src, "\n") + 1
	for _, d := range list {
		switch d.Code {
		case "P001", "S001", "T007":
		default:
			t.Errorf("unexpected code in %v", d)
		}
		if d.Pos.Line < 1 || d.Pos.Line > lines || d.Pos.Col < 1 || d.File != "fuzz.polar" || d.Message == "" {
			t.Errorf("malformed diagnostic %v for %d-line input", d, lines)
		}
	}
}

// fuzzSeeds are short inputs near the tricky corners of the grammar: small
// inputs mutate into more interesting neighbours than whole files do.
var fuzzSeeds = []string{
	`f(x) if x = -1 and y != +2 or not z < 3;`,
	`f(x) if (a(x) or b(x)) and not (c(x) and d(x)) or (e(x) or f(x));`,
	`f(x: T, _: U, _, "s", 1, true, T{"i"}) if x in [1, "a", T{2},] and x matches T;`,
	`resource R extends S, { roles = ["a",]; relations = { p: R, }; "a" if "b" on "p" or global "g" and (role on p or f(resource)); }`,
	`resource R { role if role on "p"; permission if permission on "p"; "a" if "b" on resource; @f "x" if global global; }`,
	`global { roles = ["a"]; "b" if "a"; } actor U {}`,
	`test fixture fx { f(1, "a", T{"x"}, Integer{-3}, Boolean{false}); }`,
	`test "t" { setup { fixture fx; f(1); } assert f(x: T) iff x in [1]; assert_not g(_); }`,
	`?= f(1) or true; declare p(A, B::C); type q(x: A);`,
	`@a @b r(x?) if x? = @current_unix_time; é::ü?(日本) if 日本 >= 0;`,
	"f(\"\\n\\r\\t\\0\\\"\\\\\\q\") if # c\n x = 1;",
	`actor(actor) if resource = actor; test(x); global(x); declare(x); type(x);`,
	`f(x) if x == 1 or x.y or x + 1 or forall(x) or x matches! T or {a: 1};`,
	`f(x) if x = 1.5e3 or x = 99999999999999999999;`,
}
