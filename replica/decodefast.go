package replica

import (
	"math"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeFast decodes an event in the usual form without encoding/json's
// reflection. It is conservative: ok is true only when data is an event that
// decodeJSON accepts and decodes to the same Event. It gives up (ok false)
// on anything it does not handle, leaving the verdict and the error to
// decodeJSON:
//
//   - syntax errors and values of the wrong JSON type;
//   - object keys that are not exactly a field's name (encoding/json also
//     matches names case-insensitively, and reports unknown ones);
//   - a key that occurs twice in one object (encoding/json merges the
//     values);
//   - strings holding invalid UTF-8 (encoding/json replaces it), and times
//     that time.Time.UnmarshalJSON rejects;
//   - a seq that is not a plain base-10 uint64.
//
// null is handled as encoding/json handles it for a field seen once: the
// field keeps its zero value, except that a null list element is a zero
// element. A list written [] is empty but not nil, as with encoding/json
// (DecodeEvent then turns the event's own empty lists into nil).
//
// Decoded strings without escapes are substrings of one copy of data, so
// an event's strings share one allocation (and keep it alive together).
// FuzzDecodeFast checks the agreement with decodeJSON.
func decodeFast(data []byte) (ev Event, ok bool) {
	p := fastDecoder{d: data, s: string(data)}
	p.ws()
	if !p.event(&ev) {
		return Event{}, false
	}
	p.ws()
	if p.i != len(p.d) {
		return Event{}, false
	}
	return ev, true
}

type fastDecoder struct {
	d []byte
	s string // string(d)
	i int

	vals    []Value      // slab for facts' arguments
	pargs   []PatternArg // slab for patterns' arguments
	strs    []string     // slab for the strings patterns' arguments point to
	scratch []Value
	pscr    []PatternArg
}

// ws skips JSON white space.
func (p *fastDecoder) ws() {
	for p.i < len(p.d) && p.d[p.i] <= ' ' {
		switch p.d[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// begin consumes open ('{' or '[') and the white space after it; empty
// reports that close followed (and consumed it too).
func (p *fastDecoder) begin(open, close byte) (empty, ok bool) {
	if p.i >= len(p.d) || p.d[p.i] != open {
		return false, false
	}
	p.i++
	p.ws()
	if p.i < len(p.d) && p.d[p.i] == close {
		p.i++
		return true, true
	}
	return false, true
}

// more consumes the white space after a value and then ',' (more is true,
// and the white space after it is consumed) or close.
func (p *fastDecoder) more(close byte) (more, ok bool) {
	p.ws()
	if p.i >= len(p.d) {
		return false, false
	}
	switch p.d[p.i] {
	case ',':
		p.i++
		p.ws()
		return true, true
	case close:
		p.i++
		return false, true
	}
	return false, false
}

// key reads an object key and the ':' after it, with the white space
// around. A key holding an escape or a control character is returned up to
// the backslash and so matches no field.
func (p *fastDecoder) key() (string, bool) {
	if p.i >= len(p.d) || p.d[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	j := start
	for j < len(p.d) && p.d[j] != '"' && p.d[j] != '\\' {
		j++
	}
	if j >= len(p.d) || p.d[j] != '"' {
		return "", false
	}
	k := p.s[start:j]
	p.i = j + 1
	p.ws()
	if p.i >= len(p.d) || p.d[p.i] != ':' {
		return "", false
	}
	p.i++
	p.ws()
	return k, true
}

// null consumes a null literal if one is next.
func (p *fastDecoder) null() bool {
	if len(p.d)-p.i >= 4 && p.s[p.i:p.i+4] == "null" {
		p.i += 4
		return true
	}
	return false
}

// strField decodes a string field's value (null leaves dst alone).
func (p *fastDecoder) strField(dst *string) bool {
	if p.null() {
		return true
	}
	s, ok := p.str()
	*dst = s
	return ok
}

// strPtrField decodes a *string field's value (null leaves dst nil).
func (p *fastDecoder) strPtrField(dst **string) bool {
	if p.null() {
		return true
	}
	s, ok := p.str()
	if !ok {
		return false
	}
	if len(p.strs) == 0 {
		p.strs = make([]string, 64)
	}
	p.strs[0] = s
	*dst = &p.strs[0]
	p.strs = p.strs[1:]
	return true
}

// strPlain marks the bytes a string can hold that need no further look:
// ASCII other than control characters, '"' and '\\'.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str decodes a string.
func (p *fastDecoder) str() (string, bool) {
	if p.i >= len(p.d) || p.d[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	j := start
	ascii := true
	for {
		for j < len(p.d) && strPlain[p.d[j]] {
			j++
		}
		if j >= len(p.d) {
			return "", false
		}
		switch c := p.d[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(p.d[start:j]) {
				return "", false // encoding/json replaces invalid UTF-8
			}
			p.i = j + 1
			return p.s[start:j], true
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return "", false
		default:
			ascii = false
			j++
		}
	}
}

// strEscaped decodes a string holding escapes; start is the offset after
// its opening quote. It follows encoding/json's unquote, but rejects where
// that coerces invalid UTF-8, and rejects what its scanner rejects.
func (p *fastDecoder) strEscaped(start int) (string, bool) {
	end := start
	for {
		if end >= len(p.d) {
			return "", false
		}
		c := p.d[end]
		if c == '"' {
			break
		}
		if c == '\\' {
			end++
		}
		end++
	}
	s := p.d[start:end]
	b := make([]byte, 0, len(s))
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			if r+1 >= len(s) {
				return "", false
			}
			switch e := s[r+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
				r += 2
			case 'b':
				b = append(b, '\b')
				r += 2
			case 'f':
				b = append(b, '\f')
				r += 2
			case 'n':
				b = append(b, '\n')
				r += 2
			case 'r':
				b = append(b, '\r')
				r += 2
			case 't':
				b = append(b, '\t')
				r += 2
			case 'u':
				rr := getu4(s[r:])
				if rr < 0 {
					return "", false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					rr1 := getu4(s[r:])
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						break
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
			default:
				return "", false
			}
		case c < 0x20 || c == '"':
			return "", false
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			if rr == utf8.RuneError && size == 1 {
				return "", false
			}
			b = append(b, s[r:r+size]...)
			r += size
		}
	}
	p.i = end + 1
	return string(b), true
}

// getu4 decodes \uXXXX from the beginning of s, returning the hex value,
// or -1 (as encoding/json's getu4).
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// uintField decodes a uint64 written as plain digits (null leaves dst
// alone).
func (p *fastDecoder) uintField(dst *uint64) bool {
	if p.null() {
		return true
	}
	start := p.i
	var n uint64
	for p.i < len(p.d) {
		c := p.d[p.i]
		if c < '0' || c > '9' {
			break
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return false
		}
		n = n*10 + d
		p.i++
	}
	if digits := p.i - start; digits == 0 || digits > 1 && p.d[start] == '0' {
		return false
	}
	*dst = n
	return true
}

// timeField decodes the time as encoding/json does: a string handed, quotes
// included, to time.Time.UnmarshalJSON (null leaves dst alone).
func (p *fastDecoder) timeField(ev *Event) bool {
	if p.null() {
		return true
	}
	if p.i >= len(p.d) || p.d[p.i] != '"' {
		return false
	}
	j := p.i + 1
	for j < len(p.d) && strPlain[p.d[j]] {
		j++
	}
	if j >= len(p.d) || p.d[j] != '"' {
		return false
	}
	if err := ev.Time.UnmarshalJSON(p.d[p.i : j+1]); err != nil {
		return false
	}
	p.i = j + 1
	return true
}

// object decodes an object whose keys are decoded by field, which returns
// the key's bit (for finding repeated keys; 0 for an unknown key) and
// whether its value decoded.
func (p *fastDecoder) object(field func(key string) (bit uint, ok bool)) bool {
	empty, ok := p.begin('{', '}')
	if !ok || empty {
		return ok
	}
	var seen uint
	for {
		k, ok := p.key()
		if !ok {
			return false
		}
		bit, ok := field(k)
		if !ok || bit == 0 || seen&bit != 0 {
			return false
		}
		seen |= bit
		more, ok := p.more('}')
		if !ok || !more {
			return ok
		}
	}
}

func (p *fastDecoder) event(ev *Event) bool {
	return p.object(func(k string) (uint, bool) {
		switch k {
		case "env":
			return 1 << 0, p.strField(&ev.Env)
		case "seq":
			return 1 << 1, p.uintField(&ev.Seq)
		case "time":
			return 1 << 2, p.timeField(ev)
		case "kind":
			return 1 << 3, p.strField(&ev.Kind)
		case "inserts":
			return 1 << 4, p.facts(&ev.Inserts)
		case "deletes":
			return 1 << 5, p.patterns(&ev.Deletes)
		case "policy":
			return 1 << 6, p.policy(&ev.Policy)
		case "tokens":
			return 1 << 7, p.tokens(&ev.Tokens)
		}
		return 0, false
	})
}

// list decodes a list whose elements elem decodes (a null element is a
// zero element), appending them to buf[:0]. A null list sets null; []
// returns an empty list that is not nil.
func list[T any](p *fastDecoder, buf []T, elem func(*T) bool) (out []T, null, ok bool) {
	if p.null() {
		return nil, true, true
	}
	out = buf[:0]
	empty, ok := p.begin('[', ']')
	if !ok || empty {
		if out == nil {
			out = []T{} // as encoding/json
		}
		return out, false, ok
	}
	for {
		var zero T
		out = append(out, zero)
		if !p.null() && !elem(&out[len(out)-1]) {
			return nil, false, false
		}
		more, ok := p.more(']')
		if !ok || !more {
			return out, false, ok
		}
	}
}

// facts decodes the inserts (DecodeEvent turns an empty list into nil).
func (p *fastDecoder) facts(dst *[]Fact) bool {
	var ok bool
	*dst, _, ok = list(p, nil, p.fact)
	return ok
}

func (p *fastDecoder) fact(f *Fact) bool {
	return p.object(func(k string) (uint, bool) {
		switch k {
		case "predicate":
			return 1 << 0, p.strField(&f.Predicate)
		case "args":
			return 1 << 1, p.values(&f.Args)
		}
		return 0, false
	})
}

// values decodes a fact's arguments into a slab shared by the event.
func (p *fastDecoder) values(dst *[]Value) bool {
	var null, ok bool
	p.scratch, null, ok = list(p, p.scratch, p.value)
	switch n := len(p.scratch); {
	case !ok:
		return false
	case null:
	case n == 0:
		*dst = []Value{}
	default:
		if len(p.vals) < n {
			p.vals = make([]Value, max(n, 256))
		}
		a := p.vals[:n:n]
		p.vals = p.vals[n:]
		copy(a, p.scratch)
		*dst = a
	}
	return true
}

func (p *fastDecoder) value(v *Value) bool {
	return p.object(func(k string) (uint, bool) {
		switch k {
		case "type":
			return 1 << 0, p.strField(&v.Type)
		case "id":
			return 1 << 1, p.strField(&v.ID)
		}
		return 0, false
	})
}

// patterns decodes the deletes (DecodeEvent turns an empty list into nil).
func (p *fastDecoder) patterns(dst *[]Pattern) bool {
	var ok bool
	*dst, _, ok = list(p, nil, p.pattern)
	return ok
}

func (p *fastDecoder) pattern(pt *Pattern) bool {
	return p.object(func(k string) (uint, bool) {
		switch k {
		case "predicate":
			return 1 << 0, p.strField(&pt.Predicate)
		case "args":
			return 1 << 1, p.patternArgs(&pt.Args)
		}
		return 0, false
	})
}

func (p *fastDecoder) patternArgs(dst *[]PatternArg) bool {
	var null, ok bool
	p.pscr, null, ok = list(p, p.pscr, p.patternArg)
	switch n := len(p.pscr); {
	case !ok:
		return false
	case null:
	case n == 0:
		*dst = []PatternArg{}
	default:
		if len(p.pargs) < n {
			p.pargs = make([]PatternArg, max(n, 64))
		}
		a := p.pargs[:n:n]
		p.pargs = p.pargs[n:]
		copy(a, p.pscr)
		*dst = a
	}
	return true
}

func (p *fastDecoder) patternArg(a *PatternArg) bool {
	return p.object(func(k string) (uint, bool) {
		switch k {
		case "type":
			return 1 << 0, p.strPtrField(&a.Type)
		case "id":
			return 1 << 1, p.strPtrField(&a.ID)
		}
		return 0, false
	})
}

func (p *fastDecoder) policy(dst **PolicySource) bool {
	if p.null() {
		return true
	}
	ps := new(PolicySource)
	*dst = ps
	return p.object(func(k string) (uint, bool) {
		switch k {
		case "src":
			return 1 << 0, p.strField(&ps.Src)
		case "filename":
			return 1 << 1, p.strField(&ps.Filename)
		}
		return 0, false
	})
}

// tokens decodes the tokens (DecodeEvent turns an empty list into nil).
func (p *fastDecoder) tokens(dst *[]Token) bool {
	var ok bool
	*dst, _, ok = list(p, nil, p.token)
	return ok
}

func (p *fastDecoder) token(t *Token) bool {
	return p.object(func(k string) (uint, bool) {
		switch k {
		case "id":
			return 1 << 0, p.strField(&t.ID)
		case "sha256":
			return 1 << 1, p.strField(&t.SHA256)
		case "access":
			return 1 << 2, p.strField(&t.Access)
		}
		return 0, false
	})
}
