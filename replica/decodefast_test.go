package replica

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// decodeReference is DecodeEvent as it was before the fast path:
// encoding/json and the checks after it.
func decodeReference(data []byte) (Event, error) {
	ev, err := decodeJSON(data)
	if err != nil {
		return Event{}, err
	}
	return checkDecoded(ev)
}

// sameEvent reports whether two decoded events are equal: times by Equal
// and zone, the rest deeply.
func sameEvent(a, b Event) bool {
	an, ao := a.Time.Zone()
	bn, bo := b.Time.Zone()
	if !a.Time.Equal(b.Time) || an != bn || ao != bo || a.Time.Location().String() != b.Time.Location().String() {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// checkAgainstReference checks DecodeEvent and decodeFast against the
// reference on data.
func checkAgainstReference(t *testing.T, data []byte) {
	t.Helper()
	want, werr := decodeReference(data)
	got, gerr := DecodeEvent(data)
	switch {
	case (werr == nil) != (gerr == nil):
		t.Fatalf("%q: DecodeEvent err = %v, reference err = %v", data, gerr, werr)
	case werr != nil:
		if werr.Error() != gerr.Error() {
			t.Fatalf("%q: DecodeEvent err = %v, reference err = %v", data, gerr, werr)
		}
	case !sameEvent(got, want):
		t.Fatalf("%q: DecodeEvent = %+v, reference = %+v", data, got, want)
	}
	fast, ok := decodeFast(data)
	if !ok {
		return
	}
	ref, err := decodeJSON(data)
	if err != nil {
		t.Fatalf("%q: fast path accepted what encoding/json rejects: %v", data, err)
	}
	if !sameEvent(fast, ref) {
		t.Fatalf("%q: fast path decoded\n%#v\nencoding/json decoded\n%#v", data, fast, ref)
	}
}

var fastSeeds = []string{
	`{"env":"prod","seq":42,"time":"2026-11-22T10:00:00.123Z","kind":"batch","inserts":[{"predicate":"has_role","args":[{"type":"User","id":"ana"},{"type":"String","id":"admin"},{"type":"Organization","id":"acme"}]}],"deletes":[{"predicate":"has_role","args":[{"type":"User","id":"bob"},{"type":null,"id":null},{"type":"Organization","id":"acme"}]}]}`,
	`{"env":"prod","seq":43,"time":"2026-11-22T10:00:00+02:00","kind":"policy","policy":{"src":"actor User {}\n\tresource Repo {}\n","filename":"main.polar"}}`,
	`{"env":"prod","seq":44,"kind":"clear"}`,
	`{"env":"prod","seq":45,"kind":"tokens","tokens":[{"id":"k1","sha256":"ab","access":"read"},null]}`,
	` { "seq" : 18446744073709551615 , "kind" : "batch" , "inserts" : [ { "args" : [ { "id" : "x\u00e9\ud83d\ude00\ud800\"\\\/\b\f\n\r\t" , "type" : "T" } , null ] } , null ] , "deletes" : [ ] } ` + "\n",
	`{"seq":7,"kind":"batch","inserts":[{"predicate":"p","args":[]},{"predicate":"q","args":null},{"predicate":"ünï","args":[{"type":"Ünï","id":"cödé ✓"}]}],"deletes":[{"predicate":"p","args":[]},{"predicate":"p","args":null},{"predicate":"p","args":[null,{"type":"T"},{"id":"i"},{}]}]}`,
	`{"seq":8,"kind":null,"env":null,"time":null,"inserts":null,"deletes":null,"policy":null,"tokens":null}`,
	`{"seq":9,"kind":"policy","policy":{}}`,
	`{"seq":1,"kind":"clear","time":"0000-01-01T00:00:00Z"}`,
	`{"seq":1,"kind":"clear","time":"2026-11-22T10:00:00.123456789-23:59"}`,
	// Inputs the fast path leaves to encoding/json.
	`{"seq":1,"kind":"clear","Seq":2}`,
	`{"SEQ":1,"kind":"clear"}`,
	`{"ſeq":1,"kind":"clear"}`,
	`{"seq":1,"kind":"clear","seq":2}`,
	`{"seq":1,"kind":"batch","inserts":[{"predicate":"p","predicate":"q","args":[]}]}`,
	`{"seq":1,"kind":"batch","policy":{"src":"a"},"policy":{"filename":"b"}}`,
	`{"s\u0065q":1,"kind":"clear"}`,
	"{\"seq\":1,\"kind\":\"cl\xffear\"}",
	"{\"seq\":1,\"kind\":\"clear\",\"env\":\"\xed\xa0\x80\"}",
	"{\"seq\":1,\"kind\":\"clear\",\"env\":\"a\\n\xff\"}",
	`{"seq":1.0,"kind":"clear"}`,
	`{"seq":1e1,"kind":"clear"}`,
	`{"seq":01,"kind":"clear"}`,
	`{"seq":-1,"kind":"clear"}`,
	`{"seq":18446744073709551616,"kind":"clear"}`,
	`{"seq":0,"kind":"clear"}`,
	`{"seq":1,"kind":"clear","time":"2026-11-22T10:00:00\u005a"}`,
	`{"seq":1,"kind":"clear","time":"2026-11-22 10:00:00Z"}`,
	`{"seq":1,"kind":"clear","time":"10000-01-01T00:00:00Z"}`,
	`{"seq":1,"kind":"clear","time":5}`,
	`{"seq":1,"kind":"clear","env":"\x"}`,
	`{"seq":1,"kind":"clear","env":"\'"}`,
	`{"seq":1,"kind":"clear","env":"\u12G4"}`,
	"{\"seq\":1,\"kind\":\"clear\",\"env\":\"\t\"}",
	`{"seq":1,"kind":"clear",}`,
	`{"seq":1,"kind":"batch","inserts":[{"predicate":"p","args":[,]}]}`,
	`{"seq":1,"kind":"clear"} {}`,
	`{"seq":1,"kind":"clear"}nul`,
	`{"seq":1,"kind":"clear","env":nul}`,
	`{"seq":1,"kind":"clear","env":nullx}`,
	`{"seq":1,"kind":"batch","inserts":{}}`,
	`{"seq":1,"kind":"batch","inserts":[[]]}`,
	`{"seq":1,"kind":"batch","deletes":[{"predicate":"p","args":[{"type":1}]}]}`,
	`{"seq":1,"kind":"tokens","tokens":[{"id":"k","extra":1}]}`,
	`null`,
	` `,
	``,
}

func TestDecodeFastAgrees(t *testing.T) {
	for _, s := range fastSeeds {
		checkAgainstReference(t, []byte(s))
	}
	// The fuzz corpus, too.
	files, _ := filepath.Glob("testdata/fuzz/*/*")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte("\n"))[1:] {
			if s, ok := bytes.CutPrefix(line, []byte("[]byte(")); ok {
				str, err := strconv.Unquote(string(bytes.TrimSuffix(s, []byte(")"))))
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				checkAgainstReference(t, []byte(str))
			}
		}
	}
}

// TestDecodeFastTakesUsualEvents checks that events as json.Marshal writes
// them take the fast path (so the speed-up is not silently lost).
func TestDecodeFastTakesUsualEvents(t *testing.T) {
	str := func(s string) *string { return &s }
	events := []Event{
		{Env: "prod", Seq: 1, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Kind: KindBatch,
			Inserts: []Fact{fact("has_role", v("User", "ana <&> \u2028 é"), v("Integer", "-5"), v("Boolean", "true"))},
			Deletes: []Pattern{{Predicate: "p", Args: []PatternArg{{Type: str("T")}, {}, {Type: str("U"), ID: str("x\"y")}}}}},
		{Env: "prod", Seq: 2, Kind: KindPolicy, Policy: &PolicySource{Src: "actor User {}\n", Filename: "a.polar"}},
		{Seq: 3, Kind: KindTokens, Tokens: []Token{{ID: "k", SHA256: strings.Repeat("ab", 32), Access: "read"}}},
		{Seq: 4, Kind: KindClear, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))},
	}
	for _, ev := range events {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := decodeFast(data); !ok {
			t.Errorf("fast path refused %s", data)
		}
		checkAgainstReference(t, data)
	}
	for _, s := range fastSeeds[:10] {
		if _, ok := decodeFast([]byte(s)); !ok {
			t.Errorf("fast path refused %s", s)
		}
	}
}

// FuzzDecodeFast checks that DecodeEvent agrees with the encoding/json
// reference on every input: the same verdict, the same error, the same
// event; and that whatever the fast path accepts, encoding/json accepts
// and decodes the same way.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstReference(t, data)
	})
}
