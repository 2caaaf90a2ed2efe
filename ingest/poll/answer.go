package poll

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/outpost-authz/outpost/ingest"
)

// maxPrealloc bounds the buffer reserved from an answer's Content-Length
// (a larger answer still reads, growing as it goes).
const maxPrealloc = 256 << 20

// readBody reads a whole answer, reserving its Content-Length up front.
func readBody(r io.Reader, contentLength int64) ([]byte, error) {
	var buf bytes.Buffer
	if contentLength > 0 {
		buf.Grow(int(min(contentLength, maxPrealloc)) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// errNoHead is returned for an answer without a head.
var errNoHead = errors.New("answer has no head")

// parseAnswer parses a feed answer {"events":[...],"head":H}, which may
// also carry "log_id", "digest" and "digest_seq" (see feedOrigin), and
// returns the events and what the answer says about the log. The events
// alias body. The common shape (an object with those keys, each at most
// once, events that are JSON objects, and strings without escapes) is
// split by a structural scan that finds where each event ends without
// decoding it: the events are decoded, and checked strictly, by the
// Runner. Any other shape goes through encoding/json, which accepts
// whatever JSON the answer may be.
func parseAnswer(body []byte) ([]json.RawMessage, ingest.Origin, error) {
	if events, head, fo, ok := splitAnswer(body); ok {
		return events, fo.origin(head), nil
	}
	var a struct {
		Events []json.RawMessage `json:"events"`
		Head   *uint64           `json:"head"`
		feedOrigin
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, ingest.Origin{}, fmt.Errorf("decode answer: %w", err)
	}
	if a.Head == nil {
		return nil, ingest.Origin{}, errNoHead
	}
	return a.Events, a.origin(*a.Head), nil
}

// splitAnswer is parseAnswer's fast path; ok is false when the answer is
// not in the common shape (the caller then decodes it in full).
func splitAnswer(b []byte) (events []json.RawMessage, head uint64, fo feedOrigin, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, 0, feedOrigin{}, false
	}
	var sawEvents, sawHead, sawLogID, sawDigest, sawDigestSeq bool
	for {
		i = skipSpace(b, i+1)
		key, j, ok := plainString(b, i)
		if !ok {
			return nil, 0, feedOrigin{}, false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return nil, 0, feedOrigin{}, false
		}
		i = skipSpace(b, i+1)
		switch {
		case key == "events" && !sawEvents:
			sawEvents = true
			if events, i, ok = splitArray(b, i); !ok {
				return nil, 0, feedOrigin{}, false
			}
		case key == "head" && !sawHead:
			sawHead = true
			if head, i, ok = plainUint(b, i); !ok {
				return nil, 0, feedOrigin{}, false
			}
		case key == "log_id" && !sawLogID:
			sawLogID = true
			if fo.LogID, i, ok = plainValue(b, i); !ok {
				return nil, 0, feedOrigin{}, false
			}
		case key == "digest" && !sawDigest:
			sawDigest = true
			if fo.Digest, i, ok = plainValue(b, i); !ok {
				return nil, 0, feedOrigin{}, false
			}
		case key == "digest_seq" && !sawDigestSeq:
			sawDigestSeq = true
			var n uint64
			if n, i, ok = plainUint(b, i); !ok {
				return nil, 0, feedOrigin{}, false
			}
			fo.DigestSeq = &n
		default:
			return nil, 0, feedOrigin{}, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, 0, feedOrigin{}, false
		}
		if b[i] == '}' {
			break
		}
		if b[i] != ',' {
			return nil, 0, feedOrigin{}, false
		}
	}
	if !sawEvents || !sawHead || skipSpace(b, i+1) != len(b) {
		return nil, 0, feedOrigin{}, false
	}
	return events, head, fo, true
}

// plainUint reads an unsigned integer without sign, fraction, exponent or
// leading zero starting at b[i]; it returns the index after it.
func plainUint(b []byte, i int) (uint64, int, bool) {
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	n, err := strconv.ParseUint(string(b[i:j]), 10, 64)
	if err != nil || (j-i > 1 && b[i] == '0') {
		return 0, 0, false
	}
	return n, j, true
}

// plainValue reads a string value that encoding/json would decode to its
// bytes unchanged: no escapes, no control characters, valid UTF-8.
func plainValue(b []byte, i int) (string, int, bool) {
	s, j, ok := plainString(b, i)
	if !ok || !utf8.ValidString(s) {
		return "", 0, false
	}
	for k := 0; k < len(s); k++ {
		if s[k] < 0x20 {
			return "", 0, false
		}
	}
	return s, j, true
}

// splitArray splits an array of JSON objects starting at b[i] ('['); it
// returns the objects and the index after the array.
func splitArray(b []byte, i int) ([]json.RawMessage, int, bool) {
	if i >= len(b) || b[i] != '[' {
		return nil, 0, false
	}
	i = skipSpace(b, i+1)
	out := []json.RawMessage{}
	if i < len(b) && b[i] == ']' {
		return out, i + 1, true
	}
	for {
		end, ok := skipObject(b, i)
		if !ok {
			return nil, 0, false
		}
		out = append(out, json.RawMessage(b[i:end:end]))
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, 0, false
		}
		switch b[i] {
		case ']':
			return out, i + 1, true
		case ',':
			i = skipSpace(b, i+1)
		default:
			return nil, 0, false
		}
	}
}

// skipObject returns the index after the JSON object starting at b[i]. It
// checks structure only: strings (with escapes) and the nesting of braces
// and brackets.
func skipObject(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	var stack [64]byte // open brackets; deeper objects take the slow path
	depth := 0
	for ; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			end, ok := stringEnd(b, i)
			if !ok {
				return 0, false
			}
			i = end - 1
		case '{', '[':
			if depth == len(stack) {
				return 0, false
			}
			stack[depth] = c
			depth++
		case '}', ']':
			if depth == 0 || stack[depth-1] != c-2 { // '{'+2 == '}', '['+2 == ']'
				return 0, false
			}
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

// stringEnd returns the index after the string starting at b[i] ('"').
func stringEnd(b []byte, i int) (int, bool) {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, false
		}
		j += k
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1, true
		}
		j++
	}
}

// plainString reads a string without escapes starting at b[i].
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	k := bytes.IndexByte(b[i+1:], '"')
	if k < 0 {
		return "", 0, false
	}
	s := b[i+1 : i+1+k]
	if bytes.IndexByte(s, '\\') >= 0 {
		return "", 0, false
	}
	return string(s), i + 2 + k, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}
