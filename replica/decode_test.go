package replica

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  string // substring; empty = accept
	}{
		{"batch", `{"env":"prod","seq":42,"time":"2026-11-22T10:00:00.123Z","kind":"batch",
			"inserts":[{"predicate":"has_role","args":[{"type":"User","id":"ana"},{"type":"String","id":"admin"},{"type":"Organization","id":"acme"}]}],
			"deletes":[{"predicate":"has_role","args":[{"type":"User","id":"bob"},{"type":null,"id":null},{"type":"Organization","id":"acme"}]}]}`, ""},
		{"policy", `{"env":"prod","seq":43,"time":"2026-11-22T10:00:00Z","kind":"policy","policy":{"src":"actor User {}","filename":"main.polar"}}`, ""},
		{"clear", `{"env":"prod","seq":44,"kind":"clear"}`, ""},
		{"tokens", `{"env":"prod","seq":45,"kind":"tokens","tokens":[{"id":"k1","sha256":"ab","access":"read"}]}`, ""},
		{"white space after", "{\"seq\":1,\"kind\":\"clear\"}\n \t", ""},
		{"empty", ``, "empty input"},
		{"missing seq", `{"env":"prod","kind":"clear"}`, "seq is missing"},
		{"zero seq", `{"env":"prod","seq":0,"kind":"clear"}`, "seq is missing"},
		{"negative seq", `{"seq":-1,"kind":"clear"}`, "cannot unmarshal"},
		{"string seq", `{"seq":"1","kind":"clear"}`, "cannot unmarshal"},
		{"float seq", `{"seq":1.5,"kind":"clear"}`, "cannot unmarshal"},
		{"unknown kind", `{"seq":1,"kind":"merge"}`, "unknown kind"},
		{"missing kind", `{"seq":1}`, "kind is missing"},
		{"unknown field", `{"seq":1,"kind":"clear","extra":1}`, "unknown field"},
		{"unknown nested field", `{"seq":1,"kind":"batch","inserts":[{"predicate":"p","args":[],"x":1}]}`, "unknown field"},
		{"args not a list", `{"seq":1,"kind":"batch","inserts":[{"predicate":"p","args":{}}]}`, "cannot unmarshal"},
		{"id not a string", `{"seq":1,"kind":"batch","inserts":[{"predicate":"p","args":[{"type":"Integer","id":5}]}]}`, "cannot unmarshal"},
		{"bad time", `{"seq":1,"kind":"clear","time":"yesterday"}`, "cannot parse"},
		{"trailing garbage", `{"seq":1,"kind":"clear"}x`, "after the event"},
		{"two events", `{"seq":1,"kind":"clear"}{"seq":2,"kind":"clear"}`, "after the event"},
		{"not an object", `[1,2]`, "cannot unmarshal"},
		{"null", `null`, "seq is missing"},
		{"truncated", `{"seq":1,"kind":"cle`, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(tt.in))
			if tt.err == "" {
				if err != nil {
					t.Fatalf("DecodeEvent: %v", err)
				}
				checkReencode(t, ev)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "decode event: ") {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.err)
			}
		})
	}
	ev, err := DecodeEvent([]byte(tests[0].in))
	if err != nil {
		t.Fatal(err)
	}
	d := ev.Deletes[0].Args[1]
	if d.Type != nil || d.ID != nil || *ev.Deletes[0].Args[0].ID != "bob" || ev.Seq != 42 || ev.Time.Nanosecond() != 123e6 {
		t.Errorf("decoded %+v", ev)
	}
}

// checkReencode encodes an accepted event and decodes it again.
func checkReencode(tb testing.TB, ev Event) {
	tb.Helper()
	data, err := json.Marshal(ev)
	if err != nil {
		tb.Fatalf("re-encode %+v: %v", ev, err)
	}
	again, err := DecodeEvent(data)
	if err != nil {
		tb.Fatalf("decode re-encoded %s: %v", data, err)
	}
	if !again.Time.Equal(ev.Time) {
		tb.Fatalf("time %v became %v", ev.Time, again.Time)
	}
	ev.Time, again.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(ev, again) {
		tb.Fatalf("round trip changed the event:\n%+v\n%+v\n(%s)", ev, again, data)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"env":"prod","seq":42,"time":"2026-11-22T10:00:00.123Z","kind":"batch","inserts":[{"predicate":"has_role","args":[{"type":"User","id":"ana"}]}],"deletes":[{"predicate":"has_role","args":[{"type":null,"id":null},{"type":"Org"}]}]}`,
		`{"env":"prod","seq":43,"kind":"policy","policy":{"src":"actor User {}","filename":"main.polar"}}`,
		`{"env":"prod","seq":44,"kind":"clear"}`,
		`{"env":"prod","seq":45,"kind":"tokens","tokens":[{"id":"k1","sha256":"ab","access":"read"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvent(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "decode event: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if ev.Seq == 0 {
			t.Fatal("accepted seq 0")
		}
		checkReencode(t, ev)
		// Applying must never panic either.
		s := New(Config{})
		_ = s.Apply(Event{Seq: 1, Kind: KindClear})
		ev.Seq = 2
		_ = s.Apply(ev)
		checkState(t, s)
	})
}
