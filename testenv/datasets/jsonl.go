package datasets

import (
	"bufio"
	"encoding/json"
	"io"
	"unicode/utf8"

	"github.com/outpost-authz/outpost/replica"
)

// WriteJSONLines writes the data set cfg chooses to w as JSON lines in the
// wire format of facts, one per line:
//
//	{"predicate":"has_role","args":[{"type":"User","id":"user-0000001"},{"type":"String","id":"admin"},{"type":"Organization","id":"org-000000"}]}
//
// It returns the number of facts written.
func WriteJSONLines(w io.Writer, cfg Config) (int64, error) {
	jw := NewJSONLinesWriter(w)
	if err := Generate(cfg, jw.Write); err != nil {
		return jw.Count(), err
	}
	return jw.Count(), jw.Flush()
}

// JSONLinesWriter writes facts as JSON lines (see WriteJSONLines). Its Write
// method fits Generate's emit parameter. Not safe for concurrent use.
type JSONLinesWriter struct {
	w   *bufio.Writer
	buf []byte
	n   int64
}

// NewJSONLinesWriter returns a buffered writer to w; call Flush at the end.
func NewJSONLinesWriter(w io.Writer) *JSONLinesWriter {
	return &JSONLinesWriter{w: bufio.NewWriterSize(w, 1<<16)}
}

// Write writes one fact as one line.
func (jw *JSONLinesWriter) Write(f replica.Fact) error {
	b := append(jw.buf[:0], `{"predicate":`...)
	b = appendJSONString(b, f.Predicate)
	b = append(b, `,"args":[`...)
	for i, a := range f.Args {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":`...)
		b = appendJSONString(b, a.Type)
		b = append(b, `,"id":`...)
		b = appendJSONString(b, a.ID)
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	jw.buf = b
	jw.n++
	_, err := jw.w.Write(b)
	return err
}

// Count is the number of facts written so far.
func (jw *JSONLinesWriter) Count() int64 { return jw.n }

// Flush writes any buffered data to the underlying writer.
func (jw *JSONLinesWriter) Flush() error { return jw.w.Flush() }

// appendJSONString appends s as a JSON string. Generated ids are plain ASCII
// and take the fast path; anything else is encoded by encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // never fails for a string
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
