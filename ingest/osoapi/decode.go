package osoapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// factReader reads the JSON array of GET /api/facts one element at a time:
// it captures each element's bytes (tracking strings and nesting only), then
// decodes them with a fast path for the shape Oso writes,
// {"predicate":"p","args":[{"type":"T","id":"x"},...]}, and with
// encoding/json for anything else (escapes, other keys, other order,
// invalid UTF-8), so the result is always encoding/json's.
type factReader struct {
	r    *bufio.Reader
	elem []byte // the current element's bytes
	n    int    // elements read
	done bool   // the closing ']' was read
}

func newFactReader(r io.Reader) (*factReader, error) {
	fr := &factReader{r: bufio.NewReaderSize(r, 256<<10)}
	c, err := fr.next()
	if err != nil {
		return nil, err
	}
	if c != '[' {
		return nil, fmt.Errorf("the answer is not a JSON array (starts with %q)", c)
	}
	return fr, nil
}

// next returns the next byte that is not white space.
func (fr *factReader) next() (byte, error) {
	for {
		c, err := fr.r.ReadByte()
		if err != nil {
			return 0, unexpectedEOF(err)
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, nil
	}
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// read decodes the next fact into w; ok is false after the last one.
func (fr *factReader) read(w *wireFact) (ok bool, err error) {
	if fr.done {
		return false, nil
	}
	c, err := fr.next()
	if err != nil {
		return false, err
	}
	if fr.n > 0 {
		switch c {
		case ']':
			fr.done = true
			return false, nil
		case ',':
			if c, err = fr.next(); err != nil {
				return false, err
			}
		default:
			return false, fmt.Errorf("after element %d: want ',' or ']', got %q", fr.n, c)
		}
	} else if c == ']' {
		fr.done = true
		return false, nil
	}
	if c != '{' {
		return false, fmt.Errorf("element %d is not an object (starts with %q)", fr.n, c)
	}
	if err := fr.capture(); err != nil {
		return false, err
	}
	fr.n++
	*w = wireFact{Args: w.Args[:0]}
	if !decodeFactFast(fr.elem, w) {
		*w = wireFact{}
		if err := json.Unmarshal(fr.elem, w); err != nil {
			return false, err
		}
	}
	return true, nil
}

// capture reads the rest of an object whose '{' was read into fr.elem.
func (fr *factReader) capture() error {
	fr.elem = append(fr.elem[:0], '{')
	depth, inStr, esc := 1, false, false
	for depth > 0 {
		c, err := fr.r.ReadByte()
		if err != nil {
			return unexpectedEOF(err)
		}
		fr.elem = append(fr.elem, c)
		switch {
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case inStr && c == '"':
			inStr = false
		case inStr:
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
		if len(fr.elem) > 64<<20 {
			return errors.New("an element is larger than 64 MiB")
		}
	}
	return nil
}

// end checks that nothing but white space follows the array.
func (fr *factReader) end() error {
	if !fr.done {
		return errors.New("the array is not closed")
	}
	if c, err := fr.next(); err == nil {
		return fmt.Errorf("unexpected %q after the array", c)
	} else if !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	return nil
}

// fastParser decodes the canonical element shape; any surprise makes it
// decline (ok false), never guess.
type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) lit(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters, in valid UTF-8.
func (p *fastParser) str() (string, bool) {
	if !p.lit('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return "", false
}

func (p *fastParser) key(want string) bool {
	k, ok := p.str()
	return ok && k == want && p.lit(':')
}

func decodeFactFast(b []byte, w *wireFact) bool {
	p := fastParser{b: b}
	if !p.lit('{') || !p.key("predicate") {
		return false
	}
	pred, ok := p.str()
	if !ok || !p.lit(',') || !p.key("args") || !p.lit('[') {
		return false
	}
	w.Predicate = pred
	if !p.lit(']') {
		for {
			if !p.lit('{') || !p.key("type") {
				return false
			}
			t, ok := p.str()
			if !ok || !p.lit(',') || !p.key("id") {
				return false
			}
			id, ok := p.str()
			if !ok || !p.lit('}') {
				return false
			}
			w.Args = append(w.Args, wireArg{Type: &t, ID: &id})
			if p.lit(']') {
				break
			}
			if !p.lit(',') {
				return false
			}
		}
	}
	if !p.lit('}') {
		return false
	}
	p.ws()
	return p.i == len(p.b)
}
