package polar

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds the scanner: it turns source text into tokens, one per call
// to next. It never fails: malformed input becomes a tkIllegal token that
// carries the message, and the parser reports it where it finds it.

// tokKind is the kind of a token.
type tokKind uint8

const (
	tkEOF     tokKind = iota
	tkIllegal         // malformed input; token.text is the message
	tkIdent           // identifier or keyword; token.text is the name
	tkString          // string literal; token.text is the decoded value
	tkInt             // unsigned decimal digits; token.text is the digits
	tkFloat           // float literal, rejected by the parser
	tkFlag            // @name; token.text is the name without @
	tkLParen
	tkRParen
	tkLBrace
	tkRBrace
	tkLBrack
	tkRBrack
	tkComma
	tkSemi
	tkColon
	tkEq
	tkNe
	tkLt
	tkLe
	tkGt
	tkGe
	tkQueryEq // ?=
	// Tokens of the open-source dialect, lexed only to be reported.
	tkEqEq    // ==
	tkColonEq // :=
	tkDot
	tkPlus
	tkMinus
	tkStar
	tkSlash
	tkBang
)

var tokKindText = [...]string{
	tkLParen: "(", tkRParen: ")", tkLBrace: "{", tkRBrace: "}",
	tkLBrack: "[", tkRBrack: "]", tkComma: ",", tkSemi: ";", tkColon: ":",
	tkEq: "=", tkNe: "!=", tkLt: "<", tkLe: "<=", tkGt: ">", tkGe: ">=",
	tkQueryEq: "?=", tkEqEq: "==", tkColonEq: ":=", tkDot: ".", tkPlus: "+",
	tkMinus: "-", tkStar: "*", tkSlash: "/", tkBang: "!",
}

// token is one lexical token. off and end are byte offsets into the source.
type token struct {
	kind tokKind
	pos  Pos
	off  int
	end  int
	text string
}

// describe renders a token for "found ..." in error messages.
func (t token) describe() string {
	switch t.kind {
	case tkEOF:
		return "end of file"
	case tkIllegal:
		return "invalid input"
	case tkIdent:
		if polarReserved(t.text) {
			return "keyword " + quoteString(t.text)
		}
		return "identifier " + quoteString(t.text)
	case tkString:
		s := t.text
		if len(s) > 32 {
			s = truncateUTF8(s, 32) + "..."
		}
		return "string " + quoteString(s)
	case tkInt, tkFloat:
		s := t.text
		if len(s) > 32 {
			s = s[:32] + "..."
		}
		return "number " + s
	case tkFlag:
		return quoteString("@" + t.text)
	}
	return quoteString(tokKindText[t.kind])
}

// polarReserved reports whether name is a reserved word (§3.4): it cannot
// name a variable, a predicate or a type.
func polarReserved(name string) bool {
	switch name {
	case "if", "and", "or", "not", "in", "matches", "true", "false":
		return true
	}
	return false
}

// polarLegacyWord reports whether name is a keyword of the open-source
// dialect that Oso Cloud does not support (§3.4, §8.10).
func polarLegacyWord(name string) bool {
	switch name {
	case "cut", "debug", "print", "forall", "new", "isa", "mod", "rem", "of":
		return true
	}
	return false
}

// legacyWhat names an open-source keyword for an S001 message and gives a
// hint to append to it.
func legacyWhat(word string) (what, hint string) {
	switch word {
	case "isa":
		return `"isa"`, `; use "matches"`
	case "mod", "rem":
		return `arithmetic operator "` + word + `"`, ""
	case "new":
		return `"new"`, ": there are no host objects"
	}
	return strconv.Quote(word), ""
}

// shIdent reports whether an identifier can be a shorthand term.
func shIdent(name string) bool {
	return !polarReserved(name) && name != "on" && name != "_"
}

func startsTerm(k tokKind) bool {
	switch k {
	case tkString, tkInt, tkFloat, tkPlus, tkMinus, tkFlag, tkIdent, tkLBrace, tkLBrack:
		return true
	}
	return false
}

// scanner produces tokens from a source string on demand.
type scanner struct {
	src       string
	off       int
	line      int
	lineStart int
}

func newScanner(src string) *scanner {
	s := &scanner{src: src, line: 1}
	if strings.HasPrefix(src, "\uFEFF") {
		s.off = 3
		s.lineStart = 3
	}
	return s
}

func (s *scanner) pos(off int) Pos {
	return Pos{Line: s.line, Col: off - s.lineStart + 1}
}

// skipSpace skips whitespace and comments. It returns an illegal token when a
// comment holds invalid UTF-8.
func (s *scanner) skipSpace() (token, bool) {
	for s.off < len(s.src) {
		switch c := s.src[s.off]; c {
		case '\n':
			s.off++
			s.line++
			s.lineStart = s.off
		case ' ', '\t', '\r':
			s.off++
		case '#':
			for s.off < len(s.src) && s.src[s.off] != '\n' && s.src[s.off] != '\r' {
				if s.src[s.off] < utf8.RuneSelf {
					s.off++
					continue
				}
				r, n := utf8.DecodeRuneInString(s.src[s.off:])
				if r == utf8.RuneError && n == 1 {
					start := s.off
					s.off++
					return s.illegal(start, "invalid UTF-8 encoding"), true
				}
				s.off += n
			}
		default:
			return token{}, false
		}
	}
	return token{}, false
}

func (s *scanner) illegal(start int, msg string) token {
	return token{kind: tkIllegal, pos: s.pos(start), off: start, end: s.off, text: msg}
}

func (s *scanner) tok(kind tokKind, start int, text string) token {
	return token{kind: kind, pos: s.pos(start), off: start, end: s.off, text: text}
}

// next returns the next token; at the end of input it returns tkEOF forever.
func (s *scanner) next() token {
	if t, ok := s.skipSpace(); ok {
		return t
	}
	start := s.off
	if s.off >= len(s.src) {
		return s.tok(tkEOF, start, "")
	}
	c := s.src[s.off]
	switch {
	case c == '"':
		return s.scanString()
	case c >= '0' && c <= '9':
		return s.scanNumber()
	case c == '@':
		s.off++
		end := s.identEnd(s.off)
		if end == s.off {
			return s.illegal(start, `expected a name after "@"`)
		}
		s.off = end
		return s.tok(tkFlag, start, s.src[start+1:end])
	}
	if end := s.identEnd(s.off); end > s.off {
		s.off = end
		return s.tok(tkIdent, start, s.src[start:end])
	}
	kind, n := punct(s.src[s.off:])
	if n > 0 {
		s.off += n
		return s.tok(kind, start, "")
	}
	r, n := utf8.DecodeRuneInString(s.src[s.off:])
	s.off += n
	if r == utf8.RuneError && n == 1 {
		return s.illegal(start, "invalid UTF-8 encoding")
	}
	return s.illegal(start, "invalid character "+strconv.QuoteRune(r))
}

// punct recognises punctuation at the start of rest and returns its kind and
// length, or length 0.
func punct(rest string) (tokKind, int) {
	c := rest[0]
	var c1 byte
	if len(rest) > 1 {
		c1 = rest[1]
	}
	switch c {
	case '(':
		return tkLParen, 1
	case ')':
		return tkRParen, 1
	case '{':
		return tkLBrace, 1
	case '}':
		return tkRBrace, 1
	case '[':
		return tkLBrack, 1
	case ']':
		return tkRBrack, 1
	case ',':
		return tkComma, 1
	case ';':
		return tkSemi, 1
	case ':':
		if c1 == '=' {
			return tkColonEq, 2
		}
		return tkColon, 1
	case '=':
		if c1 == '=' {
			return tkEqEq, 2
		}
		return tkEq, 1
	case '!':
		if c1 == '=' {
			return tkNe, 2
		}
		return tkBang, 1
	case '<':
		if c1 == '=' {
			return tkLe, 2
		}
		return tkLt, 1
	case '>':
		if c1 == '=' {
			return tkGe, 2
		}
		return tkGt, 1
	case '?':
		if c1 == '=' {
			return tkQueryEq, 2
		}
	case '.':
		return tkDot, 1
	case '+':
		return tkPlus, 1
	case '-':
		return tkMinus, 1
	case '*':
		return tkStar, 1
	case '/':
		return tkSlash, 1
	}
	return 0, 0
}

// identEnd returns the end offset of the identifier starting at off, or off
// when there is none. An identifier is one or more segments joined by "::",
// with one optional trailing "?" (§3.3).
func (s *scanner) identEnd(off int) int {
	end := s.segmentEnd(off)
	if end == off {
		return off
	}
	for end+2 < len(s.src) && s.src[end] == ':' && s.src[end+1] == ':' {
		next := s.segmentEnd(end + 2)
		if next == end+2 {
			break
		}
		end = next
	}
	if end < len(s.src) && s.src[end] == '?' {
		end++
	}
	return end
}

// segmentEnd returns the end of one identifier segment starting at off.
func (s *scanner) segmentEnd(off int) int {
	end := off
	for end < len(s.src) {
		c := s.src[end]
		if c < utf8.RuneSelf {
			if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || end > off && '0' <= c && c <= '9' {
				end++
				continue
			}
			return end
		}
		r, n := utf8.DecodeRuneInString(s.src[end:])
		if !identRune(r, n) {
			return end
		}
		end += n
	}
	return end
}

// identRune reports whether a non-ASCII rune may appear in an identifier:
// letters, digits, marks, symbols (emoji) and the like, but not invalid
// encodings, spaces, control or invisible formatting characters.
func identRune(r rune, n int) bool {
	if r == utf8.RuneError && n == 1 {
		return false
	}
	return !unicode.IsSpace(r) && !unicode.IsControl(r) && !unicode.Is(unicode.Cf, r)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanNumber scans decimal digits, and a fraction or exponent that makes the
// literal a float. Signs are separate tokens; the parser joins them.
func (s *scanner) scanNumber() token {
	start := s.off
	for s.off < len(s.src) && isDigit(s.src[s.off]) {
		s.off++
	}
	kind := tkInt
	if s.off+1 < len(s.src) && s.src[s.off] == '.' && isDigit(s.src[s.off+1]) {
		kind = tkFloat
		s.off++
		for s.off < len(s.src) && isDigit(s.src[s.off]) {
			s.off++
		}
	}
	if s.off < len(s.src) && (s.src[s.off] == 'e' || s.src[s.off] == 'E') {
		e := s.off + 1
		if e < len(s.src) && (s.src[e] == '+' || s.src[e] == '-') {
			e++
		}
		if e < len(s.src) && isDigit(s.src[e]) {
			kind = tkFloat
			s.off = e
			for s.off < len(s.src) && isDigit(s.src[s.off]) {
				s.off++
			}
		}
	}
	return s.tok(kind, start, s.src[start:s.off])
}

// scanString scans a string literal and decodes its escapes (§3.5).
func (s *scanner) scanString() token {
	start := s.off
	s.off++ // opening quote
	var b *strings.Builder
	chunk := s.off
	for s.off < len(s.src) {
		c := s.src[s.off]
		switch {
		case c == '"':
			val := s.src[chunk:s.off]
			if b != nil {
				b.WriteString(val)
				val = b.String()
			}
			s.off++
			return s.tok(tkString, start, val)
		case c == '\n' || c == '\r':
			return s.illegal(start, "line break in string literal")
		case c == '\\':
			if b == nil {
				b = new(strings.Builder)
			}
			b.WriteString(s.src[chunk:s.off])
			s.off++
			if s.off >= len(s.src) {
				break
			}
			r, n := utf8.DecodeRuneInString(s.src[s.off:])
			if r == utf8.RuneError && n == 1 {
				return s.badUTF8InString(start)
			}
			if r == '\n' || r == '\r' {
				return s.illegal(start, "line break in string literal")
			}
			s.off += n
			b.WriteRune(unescape(r))
			chunk = s.off
		case c < utf8.RuneSelf:
			s.off++
		default:
			r, n := utf8.DecodeRuneInString(s.src[s.off:])
			if r == utf8.RuneError && n == 1 {
				return s.badUTF8InString(start)
			}
			s.off += n
		}
	}
	return s.illegal(start, "unterminated string literal")
}

// badUTF8InString reports invalid UTF-8 at the current offset and skips the
// rest of the string so that scanning resumes after it.
func (s *scanner) badUTF8InString(start int) token {
	bad := s.off
	for s.off < len(s.src) && s.src[s.off] != '"' && s.src[s.off] != '\n' && s.src[s.off] != '\r' {
		s.off++
	}
	if s.off < len(s.src) && s.src[s.off] == '"' {
		s.off++
	}
	t := s.illegal(start, "invalid UTF-8 encoding in string literal")
	t.pos = s.pos(bad)
	return t
}

func unescape(r rune) rune {
	switch r {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case '0':
		return 0
	}
	return r // \" \\ and \c for any other c
}

// quoteString renders s as a Polar string literal, escaping what the scanner
// decodes: the result scans back to s.
func quoteString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	chunk := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '"':
			esc = `\"`
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case '\t':
			esc = `\t`
		case 0:
			esc = `\0`
		default:
			continue
		}
		b.WriteString(s[chunk:i])
		b.WriteString(esc)
		chunk = i + 1
	}
	b.WriteString(s[chunk:])
	b.WriteByte('"')
	return b.String()
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
