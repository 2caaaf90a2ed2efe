package polar

import (
	"strings"
	"testing"
)

// scanAll returns "kind:text" for every token of src, separated by spaces.
func scanAll(t testing.TB, src string) string {
	t.Helper()
	sc := newScanner(src)
	var out []string
	for i := 0; ; i++ {
		if i > len(src)+1 {
			t.Fatalf("scanner does not reach EOF on %q", src)
		}
		tok := sc.next()
		if tok.kind == tkEOF {
			break
		}
		out = append(out, tokenString(tok))
	}
	return strings.Join(out, " ")
}

func tokenString(tok token) string {
	switch tok.kind {
	case tkIllegal:
		return "ILLEGAL(" + tok.text + ")"
	case tkIdent:
		return "ID(" + tok.text + ")"
	case tkString:
		return "STR" + quoteString(tok.text)
	case tkInt:
		return "INT(" + tok.text + ")"
	case tkFloat:
		return "FLOAT(" + tok.text + ")"
	case tkFlag:
		return "@" + tok.text
	}
	return tokKindText[tok.kind]
}

func TestScanTokens(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", ""},
		{"whitespace", " \t\r\n ", ""},
		{"punctuation", "( ) { } [ ] , ; :", "( ) { } [ ] , ; :"},
		{"operators", "= != < <= > >= ?=", "= != < <= > >= ?="},
		{"operators without spaces", "a<=b>=c!=d<e>f=g", "ID(a) <= ID(b) >= ID(c) != ID(d) < ID(e) > ID(f) = ID(g)"},
		{"open-source operators", "== := . + - * / !", "== := . + - * / !"},
		{"identifiers", "abc _x X9 _", "ID(abc) ID(_x) ID(X9) ID(_)"},
		{"keywords are identifiers", "if and or not in matches true false", "ID(if) ID(and) ID(or) ID(not) ID(in) ID(matches) ID(true) ID(false)"},
		{"unicode identifiers", "ünïcødé 日本語 émoji_🎉 x٣", "ID(ünïcødé) ID(日本語) ID(émoji_🎉) ID(x٣)"},
		{"namespaced", "Billing::Invoice a::b::c", "ID(Billing::Invoice) ID(a::b::c)"},
		{"namespace needs segment", "a:: b", "ID(a) : : ID(b)"},
		{"namespace then digit", "a::1", "ID(a) : : INT(1)"},
		{"trailing question mark", "ok? a::b? x??", "ID(ok?) ID(a::b?) ID(x?) ILLEGAL(invalid character '?')"},
		{"question mark then eq", "x?=1", "ID(x?) = INT(1)"},
		{"inline query", "?=f", "?= ID(f)"},
		{"digit does not start identifier", "9abc", "INT(9) ID(abc)"},
		{"integers", "0 42 007", "INT(0) INT(42) INT(007)"},
		{"signs are separate", "-7 +3 - 7", "- INT(7) + INT(3) - INT(7)"},
		{"floats", "1.5 2e9 3E+4 5e-1 6.25e3", "FLOAT(1.5) FLOAT(2e9) FLOAT(3E+4) FLOAT(5e-1) FLOAT(6.25e3)"},
		{"not floats", "1. 1.x 1e 1ex", "INT(1) . INT(1) . ID(x) INT(1) ID(e) INT(1) ID(ex)"},
		{"strings", `"" "a b" "ü"`, `STR"" STR"a b" STR"ü"`},
		{"escapes", `"\n\r\t\0\"\\\q\é"`, `STR"\n\r\t\0\"\\qé"`},
		{"raw tab in string", "\"a\tb\"", `STR"a\tb"`},
		{"comment", "a # b c\nd", "ID(a) ID(d)"},
		{"comment ends at cr", "a # b\rc", "ID(a) ID(c)"},
		{"comment at eof", "a # b", "ID(a)"},
		{"comment with quote", "a # \" { \nb", "ID(a) ID(b)"},
		{"hash in string", `"a # b"`, `STR"a # b"`},
		{"flags", "@current_unix_time @internal @a::b", "@current_unix_time @internal @a::b"},
		{"bare at", "@ x", `ILLEGAL(expected a name after "@") ID(x)`},
		{"bom", "\uFEFFa", "ID(a)"},
		{"bom later is illegal", "a\uFEFF", "ID(a) ILLEGAL(invalid character '\\ufeff')"},
		{"invalid character", "a $ b", "ID(a) ILLEGAL(invalid character '$') ID(b)"},
		{"nul", "a\x00b", `ID(a) ILLEGAL(invalid character '\x00') ID(b)`},
		{"non-breaking space", "a\u00a0b", `ID(a) ILLEGAL(invalid character '\u00a0') ID(b)`},
		{"invalid utf-8", "a\xffb", "ID(a) ILLEGAL(invalid UTF-8 encoding) ID(b)"},
		{"invalid utf-8 in comment", "a #\xff\nb", "ID(a) ILLEGAL(invalid UTF-8 encoding) ID(b)"},
		{"invalid utf-8 in string", "\"a\xffb\" c", "ILLEGAL(invalid UTF-8 encoding in string literal) ID(c)"},
		{"unterminated string", `"abc`, "ILLEGAL(unterminated string literal)"},
		{"unterminated escape", `"abc\`, "ILLEGAL(unterminated string literal)"},
		{"newline in string", "\"ab\ncd\"", "ILLEGAL(line break in string literal) ID(cd) ILLEGAL(unterminated string literal)"},
		{"cr in string", "\"ab\rc", "ILLEGAL(line break in string literal) ID(c)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scanAll(t, tt.src); got != tt.want {
				t.Errorf("scan %q:\n got %s\nwant %s", tt.src, got, tt.want)
			}
		})
	}
}

func TestScanPositions(t *testing.T) {
	src := "actor User {\n\t\"ü\" # c\n  ünï::x? -1\r\n  @f\n}"
	want := []struct {
		text string
		pos  Pos
		off  int
		end  int
	}{
		{"ID(actor)", Pos{1, 1}, 0, 5},
		{"ID(User)", Pos{1, 7}, 6, 10},
		{"{", Pos{1, 12}, 11, 12},
		{`STR"ü"`, Pos{2, 2}, 14, 18},
		{"ID(ünï::x?)", Pos{3, 3}, 25, 34},
		{"-", Pos{3, 13}, 35, 36},
		{"INT(1)", Pos{3, 14}, 36, 37},
		{"@f", Pos{4, 3}, 41, 43},
		{"}", Pos{5, 1}, 44, 45},
	}
	sc := newScanner(src)
	for i, w := range want {
		tok := sc.next()
		t.Run(w.text, func(t *testing.T) {
			if got := tokenString(tok); got != w.text || tok.pos != w.pos || tok.off != w.off || tok.end != w.end {
				t.Errorf("token %d: got %s at %v [%d,%d), want %s at %v [%d,%d)", i, got, tok.pos, tok.off, tok.end, w.text, w.pos, w.off, w.end)
			}
		})
	}
	if tok := sc.next(); tok.kind != tkEOF || tok.pos != (Pos{5, 2}) {
		t.Errorf("after last token: got %s at %v, want EOF at 5:2", tokenString(tok), tok.pos)
	}
	if tok := sc.next(); tok.kind != tkEOF {
		t.Errorf("EOF is not sticky: got %s", tokenString(tok))
	}
}

func TestScanQuoteRoundTrip(t *testing.T) {
	tests := []struct {
		name, value, quoted string
	}{
		{"plain", "abc", `"abc"`},
		{"empty", "", `""`},
		{"quote", `a"b`, `"a\"b"`},
		{"backslash", `a\b`, `"a\\b"`},
		{"newline", "a\nb", `"a\nb"`},
		{"cr", "a\rb", `"a\rb"`},
		{"tab", "a\tb", `"a\tb"`},
		{"nul", "a\x00b", `"a\0b"`},
		{"other control kept raw", "a\x01b", "\"a\x01b\""},
		{"unicode kept raw", "ü日🎉", `"ü日🎉"`},
		{"hash", "# not a comment", `"# not a comment"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := quoteString(tt.value)
			if q != tt.quoted {
				t.Errorf("quoteString(%q) = %s, want %s", tt.value, q, tt.quoted)
			}
			tok := newScanner(q).next()
			if tok.kind != tkString || tok.text != tt.value {
				t.Errorf("scanning %s: got %s, want the value back", q, tokenString(tok))
			}
		})
	}
}

func BenchmarkScan(b *testing.B) {
	src := strings.Repeat(`has_permission(user: User, "read", doc: Document) if has_role(user, "owner", doc) and x >= -5; # c`+"\n", 50)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		sc := newScanner(src)
		for sc.next().kind != tkEOF {
		}
	}
}
