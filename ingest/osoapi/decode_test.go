package osoapi

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
)

// readAll decodes a GET /api/facts body with factReader.
func readAll(body []byte) ([]wireFact, error) {
	fr, err := newFactReader(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	var out []wireFact
	for {
		var w wireFact
		ok, err := fr.read(&w)
		if err != nil {
			return out, err
		}
		if !ok {
			break
		}
		if len(w.Args) == 0 {
			w.Args = nil
		}
		out = append(out, w)
	}
	return out, fr.end()
}

// readJSON is the reference: encoding/json on the whole body.
func readJSON(body []byte) ([]wireFact, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []wireFact
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	for i := range out {
		if len(out[i].Args) == 0 {
			out[i].Args = nil
		}
	}
	if out == nil {
		out = []wireFact{}
	}
	return out, nil
}

var decodeSeeds = []string{
	`[]`,
	` [ ] `,
	`[{"predicate":"has_role","args":[{"type":"User","id":"ana"},{"type":"String","id":"admin"},{"type":"Org","id":"acme"}]}]`,
	"[\n {\"predicate\" : \"p\" , \"args\" : [ {\"type\":\"User\" , \"id\":\"a\"} ] } ,\n{\"predicate\":\"p\",\"args\":[{\"type\":\"User\",\"id\":\"b\"}]}\n]\n",
	`[{"args":[{"id":"a","type":"User"}],"predicate":"p"}]`,
	`[{"predicate":"p","args":[{"type":"User","id":"a\"b\\c\u00e9\ud83d\ude00"}]}]`,
	`[{"predicate":"p","args":[{"type":"User","id":"été ✓"}]}]`,
	"[{\"predicate\":\"p\",\"args\":[{\"type\":\"User\",\"id\":\"\xff\xfe\"}]}]",
	`[{"predicate":"p","args":[{"type":null,"id":"a"}]}]`,
	`[{"predicate":"p","args":[],"extra":{"x":[1,2,{"y":"}"}]}}]`,
	`[{"predicate":"p","predicate":"q","args":[{"type":"T","id":"1"}]}]`,
	`[{"predicate":"p","args":[{"type":"T","id":"1"}]},]`,
	`[{"predicate":"p","args":[{"type":"T","id":"1"}]}`,
	`[{"predicate":"p","args":[{"type":"T","id":"1"}]}] x`,
	`[{"predicate":"p","args":[{"type":"T","id":1}]}]`,
	`[{"predicate":"p","args":[{"type":"T","id":"1"}]} {"predicate":"p","args":[]}]`,
	`{"predicate":"p"}`,
	`[1]`,
	`[{"predicate":"p","args":[{"type":"T","id":"tab	in"}]}]`,
	`[{"predicate":"p","args":[{"type":"T","id":"1"}]}][]`,
	`[{"predicate":"p","args":[{"type":"T","id":"1"]}]`,
	``,
	`[`,
}

// factReader agrees with encoding/json on every input: the same facts, and
// an error exactly when encoding/json fails.
func TestFactReaderMatchesEncodingJSON(t *testing.T) {
	for _, in := range decodeSeeds {
		checkSame(t, []byte(in))
	}
}

func checkSame(t *testing.T, in []byte) {
	t.Helper()
	got, gotErr := readAll(in)
	want, wantErr := readJSON(in)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%q: factReader err %v, encoding/json err %v", in, gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if got == nil {
		got = []wireFact{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nfactReader    %s\nencoding/json %s", in, show(got), show(want))
	}
}

func show(v any) string { b, _ := json.Marshal(v); return string(b) }

func FuzzFactReader(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if bytes.Count(in, []byte("{"))+bytes.Count(in, []byte("[")) > 1000 {
			return
		}
		checkSame(t, in)
	})
}

func TestFactReaderLargeBody(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range 5000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"predicate":"has_role","args":[{"type":"User","id":"u`)
		b.WriteString(strings.Repeat("x", i%50))
		b.WriteString(`"},{"type":"String","id":"admin"},{"type":"Org","id":"o"}]}`)
	}
	b.WriteString("]")
	checkSame(t, []byte(b.String()))
}
