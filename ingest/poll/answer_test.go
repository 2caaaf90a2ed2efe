package poll

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/outpost-authz/outpost/ingest"
)

// TestParseAnswer checks that the fast split agrees with encoding/json on
// every answer it takes, and that other shapes still parse (or fail) as
// encoding/json decides. The origin fields (log_id, digest, digest_seq) are
// optional: an answer without them (an older feed) gives an Origin with
// only the head, and a digest counts only with its digest_seq.
func TestParseAnswer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		fast    bool     // the structural split handles it
		events  []string // nil: an error is wanted
		head    uint64
		wantErr string
		// The wanted Origin besides the head: log id, digest and its seq.
		logID, digest string
		dseq          uint64
	}{
		{"feed shape", `{"events":[{"seq":1,"kind":"batch"},{"seq":2}],"head":7}` + "\n", true, []string{`{"seq":1,"kind":"batch"}`, `{"seq":2}`}, 7, "", "", "", 0},
		{"empty", `{"events":[],"head":0}`, true, []string{}, 0, "", "", "", 0},
		{"spaces and key order", " {\n \"head\" : 3 , \"events\" : [ {\"a\":[1,{\"b\":\"}\"}]} , {} ] }\n", true, []string{`{"a":[1,{"b":"}"}]}`, `{}`}, 3, "", "", "", 0},
		{"escaped quotes and brackets in strings", `{"events":[{"id":"a\"]}\\","x":"\\\\"}],"head":1}`, true, []string{`{"id":"a\"]}\\","x":"\\\\"}`}, 1, "", "", "", 0},
		{"an extra key", `{"events":[{"seq":1}],"head":1,"more":true}`, false, []string{`{"seq":1}`}, 1, "", "", "", 0},
		{"a non-object event", `{"events":[{"seq":1},null],"head":2}`, false, []string{`{"seq":1}`, `null`}, 2, "", "", "", 0},
		{"escaped key", `{"even\u0074s":[{"seq":1}],"head":1}`, false, []string{`{"seq":1}`}, 1, "", "", "", 0},
		{"feed shape with origin", `{"events":[{"seq":1}],"head":7,"log_id":"L1","digest":"d7","digest_seq":7}` + "\n", true, []string{`{"seq":1}`}, 7, "", "L1", "d7", 7},
		{"origin, digest past the head", `{"events":[],"head":7,"log_id":"L1","digest":"d8","digest_seq":8}`, true, []string{}, 7, "", "L1", "d8", 8},
		{"origin first, spaces", ` { "digest_seq" : 3 , "digest" : "d3" , "log_id" : "L" , "head" : 3 , "events" : [ ] } `, true, []string{}, 3, "", "L", "d3", 3},
		{"log id only", `{"events":[],"head":2,"log_id":"L2"}`, true, []string{}, 2, "", "L2", "", 0},
		{"digest without its seq", `{"events":[],"head":2,"digest":"d2"}`, true, []string{}, 2, "", "", "", 0},
		{"digest seq without a digest", `{"events":[],"head":2,"digest_seq":2}`, true, []string{}, 2, "", "", "", 0},
		{"empty digest", `{"events":[],"head":2,"digest":"","digest_seq":2}`, true, []string{}, 2, "", "", "", 0},
		{"null origin fields", `{"events":[],"head":2,"log_id":null,"digest":null,"digest_seq":null}`, false, []string{}, 2, "", "", "", 0},
		{"escaped log id", `{"events":[],"head":2,"log_id":"L\u0031","digest":"d","digest_seq":1}`, false, []string{}, 2, "", "L1", "d", 1},
		{"duplicate digest", `{"events":[],"head":2,"digest":"a","digest":"b","digest_seq":2}`, false, []string{}, 2, "", "", "b", 2},
		{"digest seq with leading zero", `{"events":[],"head":2,"digest":"d","digest_seq":02}`, false, nil, 0, "decode answer", "", "", 0},
		{"log id not a string", `{"events":[],"head":2,"log_id":5}`, false, nil, 0, "decode answer", "", "", 0},
		{"digest seq not a number", `{"events":[],"head":2,"digest":"d","digest_seq":"2"}`, false, nil, 0, "decode answer", "", "", 0},
		{"negative digest seq", `{"events":[],"head":2,"digest":"d","digest_seq":-1}`, false, nil, 0, "decode answer", "", "", 0},
		{"no head", `{"events":[]}`, false, nil, 0, "no head", "", "", 0},
		{"truncated", `{"events":[{"seq":1,"kind":"bat`, false, nil, 0, "decode answer", "", "", 0},
		{"unbalanced", `{"events":[{"seq":[1}],"head":1}`, false, nil, 0, "decode answer", "", "", 0},
		{"trailing garbage", `{"events":[],"head":1}x`, false, nil, 0, "decode answer", "", "", 0},
		{"head not a number", `{"events":[],"head":"1"}`, false, nil, 0, "decode answer", "", "", 0},
		{"not an object", `[1,2]`, false, nil, 0, "decode answer", "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, fast := splitAnswer([]byte(tc.body))
			if fast != tc.fast {
				t.Errorf("fast path taken = %v, want %v", fast, tc.fast)
			}
			events, origin, err := parseAnswer([]byte(tc.body))
			if tc.events == nil {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(events))
			for i, e := range events {
				got[i] = string(e)
				if !json.Valid(e) {
					t.Errorf("event %d is not valid JSON: %s", i, e)
				}
			}
			if !slices.Equal(got, tc.events) || origin.Head != tc.head {
				t.Fatalf("got %q head %d, want %q head %d", got, origin.Head, tc.events, tc.head)
			}
			want := ingest.Origin{LogID: tc.logID, Head: tc.head, HasHead: true, Digest: tc.digest, DigestSeq: tc.dseq}
			if origin != want {
				t.Errorf("origin = %+v, want %+v", origin, want)
			}
			// The fallback decodes into feedOrigin: both paths must agree.
			var a struct {
				Events []json.RawMessage `json:"events"`
				Head   *uint64           `json:"head"`
				feedOrigin
			}
			if err := json.Unmarshal([]byte(tc.body), &a); err != nil || a.Head == nil {
				t.Fatalf("encoding/json: %v (head %v)", err, a.Head)
			}
			if o := a.origin(*a.Head); o != origin {
				t.Errorf("encoding/json origin = %+v, parseAnswer gave %+v", o, origin)
			}
		})
	}
}
