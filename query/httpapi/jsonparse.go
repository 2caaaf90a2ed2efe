package httpapi

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// A strict single-pass JSON parser for request bodies. It yields the same
// generic values as encoding/json with UseNumber (map[string]any, []any,
// string, json.Number, bool, nil), except for the top-level context_facts
// array, which it decodes straight into []replica.Fact: a generic decoding
// of a 9 MB context costs about 23 times its size in maps and interfaces,
// the compact one about 1.5 times.
//
// Strings alias the body (which is never modified after reading) unless
// the body is large: then strings outside context_facts are copied, so that
// a small value kept by the engine (a cache key part) cannot pin a large
// body. Context facts live only as long as the request.
//
// Any syntax error makes the caller re-parse with encoding/json, whose
// messages (with line and column) the API has always given; only invalid
// UTF-8 and the context-fact limits are reported from here.

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// aliasLimit is the body size up to which every string aliases the body.
const aliasLimit = 16 << 10

// ctxFacts is a decoded context_facts array and its first problem, which
// is reported when the field is read (so that earlier fields' errors win,
// as with the generic decoding).
type ctxFacts struct {
	facts []replica.Fact
	err   error
}

// noContextFacts is an empty context_facts array (shared, never modified).
var noContextFacts = &ctxFacts{}

// factLimits bound the context facts of one request (0: unlimited).
type factLimits struct {
	count int // facts
	bytes int // bytes of the context_facts array's JSON text
}

// parseFail is the parser's error: a syntax error (off < 0 unknown: the
// caller re-parses for the message), invalid UTF-8, or an apiError.
type parseFail struct {
	api    *apiError
	utf8At int // offset of invalid UTF-8, or -1
}

type jsonParser struct {
	b     []byte
	s     string // b, aliased
	i     int
	depth int
	clone bool // copy strings outside context_facts
	lim   factLimits
	cf    *ctxFacts
	fail  *parseFail
	buf   []byte                  // scratch for strings with escapes
	args  [polar.MaxArity]factArg // scratch of contextFact
}

// parseBody parses b as one JSON object. ok=false with a nil fail means a
// syntax error whose message the caller must produce.
func parseBody(b []byte, lim factLimits) (obj object, cf *ctxFacts, fail *parseFail) {
	p := &jsonParser{b: b, lim: lim, clone: len(b) > aliasLimit}
	if len(b) > 0 {
		p.s = unsafe.String(&b[0], len(b))
	}
	p.ws()
	if p.i >= len(b) || b[p.i] != '{' {
		return nil, nil, &parseFail{utf8At: -1}
	}
	v, ok := p.topObject()
	if ok {
		p.ws()
		if p.i != len(b) {
			ok = false
		}
	}
	if !ok {
		if p.fail != nil {
			return nil, nil, p.fail
		}
		return nil, nil, &parseFail{utf8At: -1}
	}
	return v, p.cf, nil
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// expect consumes c after optional white space.
func (p *jsonParser) expect(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonParser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *jsonParser) value() (any, bool) {
	switch c := p.peek(); {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.str(p.clone)
	case c == 't':
		return true, p.lit("true")
	case c == 'f':
		return false, p.lit("false")
	case c == 'n':
		return nil, p.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, false
}

func (p *jsonParser) lit(word string) bool {
	if strings.HasPrefix(p.s[p.i:], word) {
		p.i += len(word)
		return true
	}
	return false
}

func (p *jsonParser) number() (any, bool) {
	b, i := p.b, p.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return nil, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	s := p.s[p.i:i]
	p.i = i
	if p.clone {
		s = strings.Clone(s)
	}
	return json.Number(s), true
}

// object is a request body's top-level JSON object: its members, each
// name once, a later duplicate replacing the earlier value (as
// encoding/json does). A request has a handful of members: a slice is
// cheaper to build than a map (one allocation, no hashing) and as quick
// to search.
type object []member

type member struct {
	name string
	v    any
}

// get returns the value of member name.
func (o object) get(name string) (any, bool) {
	for i := range o {
		if o[i].name == name {
			return o[i].v, true
		}
	}
	return nil, false
}

// set adds or replaces member name.
func (o *object) set(name string, v any) {
	for i := range *o {
		if (*o)[i].name == name {
			(*o)[i].v = v
			return
		}
	}
	*o = append(*o, member{name, v})
}

// remove drops member name.
func (o *object) remove(name string) {
	for i := range *o {
		if (*o)[i].name == name {
			*o = append((*o)[:i], (*o)[i+1:]...)
			return
		}
	}
}

// objectOf is m as an object (for bodies decoded by encoding/json).
func objectOf(m map[string]any) object {
	o := make(object, 0, len(m))
	for k, v := range m {
		o = append(o, member{k, v})
	}
	return o
}

// toMap is o as encoding/json's generic decoding.
func (o object) toMap() map[string]any {
	m := make(map[string]any, len(o))
	for _, e := range o {
		m[e.name] = e.v
	}
	return m
}

// topObject reads the body's object, context_facts decoded compactly.
func (p *jsonParser) topObject() (object, bool) {
	p.i++ // '{'
	p.depth++
	defer func() { p.depth-- }()
	o := make(object, 0, 8)
	if p.expect('}') {
		return o, true
	}
	for {
		if p.peek() != '"' {
			return nil, false
		}
		k, ok := p.str(p.clone)
		if !ok || !p.expect(':') {
			return nil, false
		}
		if k == "context_facts" && p.peek() == '[' {
			if !p.contextFacts() {
				return nil, false
			}
			o.remove(k)
		} else {
			v, ok := p.value()
			if !ok {
				return nil, false
			}
			o.set(k, v)
			if k == "context_facts" {
				p.cf = nil // the last occurrence wins
			}
		}
		if p.expect(',') {
			continue
		}
		if p.expect('}') {
			return o, true
		}
		return nil, false
	}
}

func (p *jsonParser) object() (map[string]any, bool) {
	p.i++ // '{'
	if p.depth++; p.depth > maxJSONDepth {
		return nil, false
	}
	defer func() { p.depth-- }()
	m := make(map[string]any, 8)
	if p.expect('}') {
		return m, true
	}
	for {
		if p.peek() != '"' {
			return nil, false
		}
		k, ok := p.str(p.clone)
		if !ok || !p.expect(':') {
			return nil, false
		}
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		m[k] = v
		if p.expect(',') {
			continue
		}
		if p.expect('}') {
			return m, true
		}
		return nil, false
	}
}

func (p *jsonParser) array() ([]any, bool) {
	p.i++ // '['
	if p.depth++; p.depth > maxJSONDepth {
		return nil, false
	}
	defer func() { p.depth-- }()
	out := []any{}
	if p.expect(']') {
		return out, true
	}
	for {
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if p.expect(',') {
			continue
		}
		if p.expect(']') {
			return out, true
		}
		return nil, false
	}
}

// str reads the string at p.i (its opening quote).
func (p *jsonParser) str(clone bool) (string, bool) {
	start := p.i + 1
	for i := start; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			p.i = i + 1
			s := p.s[start:i]
			if clone {
				s = strings.Clone(s)
			}
			return s, true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return p.strSlow(start, clone)
		}
	}
	return "", false
}

// strSlow reads a string with escapes or non-ASCII bytes. Invalid UTF-8,
// raw or escaped (a lone surrogate), is refused: encoding/json would
// replace it with U+FFFD, and two different ids would become one.
func (p *jsonParser) strSlow(start int, clone bool) (string, bool) {
	buf := p.buf[:0]
	escaped := false
	for i := start; i < len(p.b); {
		c := p.b[i]
		switch {
		case c == '"':
			p.i = i + 1
			p.buf = buf
			if !escaped {
				s := p.s[start:i]
				if clone {
					s = strings.Clone(s)
				}
				return s, true
			}
			return string(buf), true
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(p.b[i:])
			if r == utf8.RuneError && n == 1 {
				p.fail = &parseFail{utf8At: i}
				return "", false
			}
			buf = append(buf, p.b[i:i+n]...)
			i += n
		case c != '\\':
			buf = append(buf, c)
			i++
		default:
			escaped = true
			if i+1 >= len(p.b) {
				return "", false
			}
			switch e := p.b[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(p.b, i+2)
				if !ok {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2, ok2 := rune(-1), false
					if i+1 < len(p.b) && p.b[i] == '\\' && p.b[i+1] == 'u' {
						r2, ok2 = hex4(p.b, i+2)
					}
					d := utf16.DecodeRune(r, r2)
					if !ok2 || d == utf8.RuneError {
						p.fail = &parseFail{utf8At: i - 6}
						return "", false
					}
					i += 6
					r = d
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default:
				return "", false
			}
			i += 2
		}
	}
	return "", false
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 32)
	return rune(n), err == nil
}

// kindAt names the JSON kind of the value starting at p.i.
func (p *jsonParser) kindAt() string {
	switch c := p.peek(); {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	}
	return "a number"
}

// skip parses and drops one value.
func (p *jsonParser) skip() bool {
	_, ok := p.value()
	return ok
}

// contextFacts decodes the array at p.i into p.cf.
func (p *jsonParser) contextFacts() bool {
	start := p.i
	p.i++ // '['
	if p.expect(']') {
		p.cf = noContextFacts
		return true
	}
	cf := &ctxFacts{}
	p.cf = cf
	var arena []replica.Value
	for n := 0; ; n++ {
		if p.lim.count > 0 && n >= p.lim.count {
			p.fail = &parseFail{utf8At: -1, api: badRequest(
				"context_facts has more than %d facts; this node accepts at most %d per request (--max-context-facts)", p.lim.count, p.lim.count)}
			return false
		}
		switch {
		case cf.err != nil:
			if !p.skip() {
				return false
			}
		case p.peek() != '{':
			cf.err = badRequest("context_facts[%d] must be an object with predicate and args, not %s", n, p.kindAt())
			if !p.skip() {
				return false
			}
		default:
			f, err, ok := p.contextFact(n, &arena)
			if !ok {
				return false
			}
			if err != nil {
				cf.err = err
			} else {
				cf.facts = append(cf.facts, f)
			}
		}
		if p.lim.bytes > 0 && p.i-start > p.lim.bytes {
			p.fail = &parseFail{utf8At: -1, api: badRequest(
				"context_facts is larger than %d bytes; this node accepts at most %d bytes of context facts per request (--max-context-bytes)", p.lim.bytes, p.lim.bytes)}
			return false
		}
		if p.expect(',') {
			continue
		}
		return p.expect(']')
	}
}

// field is what a context-fact object held under one key.
type field struct {
	present bool
	kind    string // "" for a string
	val     string
}

// read reads the value at p.i into f: a string, or its kind.
func (p *jsonParser) read(f *field) bool {
	f.present = true
	if p.peek() == '"' {
		s, ok := p.str(false)
		f.kind, f.val = "", s
		return ok
	}
	f.kind, f.val = p.kindAt(), ""
	return p.skip()
}

type factArg struct {
	kind     string // "" for an object
	typ, id  field
	hasValue bool
}

// contextFact decodes one fact object; err is its first problem, checked
// in the order of the generic decoding (predicate, args, each argument's
// type then id, then its canonical form).
func (p *jsonParser) contextFact(n int, arena *[]replica.Value) (replica.Fact, error, bool) {
	p.i++ // '{'
	var pred field
	args := &p.args
	argsPresent, argsKind, nargs := false, "", 0
	if !p.expect('}') {
		for {
			if p.peek() != '"' {
				return replica.Fact{}, nil, false
			}
			k, ok := p.str(false)
			if !ok || !p.expect(':') {
				return replica.Fact{}, nil, false
			}
			switch {
			case k == "predicate":
				ok = p.read(&pred)
			case k == "args" && p.peek() == '[':
				argsPresent, argsKind, nargs = true, "", 0
				ok = p.factArgs(args, &nargs)
			case k == "args":
				argsPresent, argsKind = true, p.kindAt()
				ok = p.skip()
			default:
				ok = p.skip()
			}
			if !ok {
				return replica.Fact{}, nil, false
			}
			if p.expect(',') {
				continue
			}
			if p.expect('}') {
				break
			}
			return replica.Fact{}, nil, false
		}
	}
	switch {
	case !pred.present:
		return replica.Fact{}, badRequest("%s.predicate is missing", ctxPath(n)), true
	case pred.kind != "":
		return replica.Fact{}, badRequest("%s.predicate must be a string, not %s", ctxPath(n), pred.kind), true
	case pred.val == "":
		return replica.Fact{}, badRequest("%s.predicate must not be empty", ctxPath(n)), true
	case !argsPresent:
		return replica.Fact{}, badRequest("%s.args is missing", ctxPath(n)), true
	case argsKind != "":
		return replica.Fact{}, badRequest("%s.args must be an array, not %s", ctxPath(n), argsKind), true
	case nargs == 0:
		return replica.Fact{}, badRequest("%s.args must not be empty: a fact has at least one argument", ctxPath(n)), true
	case nargs > polar.MaxArity:
		return replica.Fact{}, badRequest("%s.args has %d arguments; at most %d are supported", ctxPath(n), nargs, polar.MaxArity), true
	}
	if cap(*arena)-len(*arena) < nargs {
		*arena = make([]replica.Value, 0, 1024)
	}
	a := *arena
	vals := a[len(a) : len(a)+nargs : len(a)+nargs]
	*arena = a[:len(a)+nargs]
	for j := range nargs {
		arg := &args[j]
		if arg.kind != "" {
			return replica.Fact{}, badRequest("%s.args[%d] must be an object with type and id, not %s", ctxPath(n), j, arg.kind), true
		}
		if err := arg.typ.check(n, j, "type"); err != nil {
			return replica.Fact{}, err, true
		}
		if err := arg.id.check(n, j, "id"); err != nil {
			return replica.Fact{}, err, true
		}
		vals[j] = replica.Value{Type: arg.typ.val, ID: arg.id.val}
		if _, err := replica.Canonical(vals[j]); err != nil {
			return replica.Fact{}, badRequest("%s.args[%d]: %v", ctxPath(n), j, err), true
		}
	}
	return replica.Fact{Predicate: pred.val, Args: vals}, nil, true
}

func ctxPath(n int) string { return "context_facts[" + strconv.Itoa(n) + "]" }

// check checks that f, argument j's type or id (name) of context fact n,
// is a non-empty string.
func (f *field) check(n, j int, name string) error {
	switch {
	case !f.present:
		return badRequest("%s.args[%d].%s is missing", ctxPath(n), j, name)
	case f.kind == "null":
		return badRequest("%s.args[%d].%s must not be null (context facts must be concrete)", ctxPath(n), j, name)
	case f.kind != "":
		return badRequest("%s.args[%d].%s must be a string, not %s", ctxPath(n), j, name, f.kind)
	case f.val == "":
		return badRequest("%s.args[%d].%s must not be empty", ctxPath(n), j, name)
	}
	return nil
}

// factArgs reads an args array; arguments beyond polar.MaxArity are only
// counted.
func (p *jsonParser) factArgs(args *[polar.MaxArity]factArg, nargs *int) bool {
	p.i++ // '['
	if p.expect(']') {
		return true
	}
	for {
		if *nargs >= polar.MaxArity {
			if !p.skip() {
				return false
			}
		} else {
			a := &args[*nargs]
			*a = factArg{}
			if p.peek() != '{' {
				a.kind = p.kindAt()
				if !p.skip() {
					return false
				}
			} else if !p.argObject(a) {
				return false
			}
		}
		*nargs++
		if p.expect(',') {
			continue
		}
		return p.expect(']')
	}
}

func (p *jsonParser) argObject(a *factArg) bool {
	p.i++ // '{'
	if p.expect('}') {
		return true
	}
	for {
		if p.peek() != '"' {
			return false
		}
		k, ok := p.str(false)
		if !ok || !p.expect(':') {
			return false
		}
		switch k {
		case "type":
			ok = p.read(&a.typ)
		case "id":
			ok = p.read(&a.id)
		default:
			ok = p.skip()
		}
		if !ok {
			return false
		}
		if p.expect(',') {
			continue
		}
		return p.expect('}')
	}
}

// utf8Error is the 400 for invalid UTF-8 at offset off of b.
func utf8Error(b []byte, off int) *apiError {
	line, col := position(b, int64(off)+1)
	return badRequest("invalid UTF-8 in a string at line %d, column %d: strings, ids included, must be valid UTF-8 (a lone surrogate escape is invalid too)", line, col)
}
