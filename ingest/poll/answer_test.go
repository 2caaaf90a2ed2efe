package poll

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestParseAnswer checks that the fast split agrees with encoding/json on
// every answer it takes, and that other shapes still parse (or fail) as
// encoding/json decides.
func TestParseAnswer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		fast    bool     // the structural split handles it
		events  []string // nil: an error is wanted
		head    uint64
		wantErr string
	}{
		{"feed shape", `{"events":[{"seq":1,"kind":"batch"},{"seq":2}],"head":7}` + "\n", true, []string{`{"seq":1,"kind":"batch"}`, `{"seq":2}`}, 7, ""},
		{"empty", `{"events":[],"head":0}`, true, []string{}, 0, ""},
		{"spaces and key order", " {\n \"head\" : 3 , \"events\" : [ {\"a\":[1,{\"b\":\"}\"}]} , {} ] }\n", true, []string{`{"a":[1,{"b":"}"}]}`, `{}`}, 3, ""},
		{"escaped quotes and brackets in strings", `{"events":[{"id":"a\"]}\\","x":"\\\\"}],"head":1}`, true, []string{`{"id":"a\"]}\\","x":"\\\\"}`}, 1, ""},
		{"an extra key", `{"events":[{"seq":1}],"head":1,"more":true}`, false, []string{`{"seq":1}`}, 1, ""},
		{"a non-object event", `{"events":[{"seq":1},null],"head":2}`, false, []string{`{"seq":1}`, `null`}, 2, ""},
		{"escaped key", `{"even\u0074s":[{"seq":1}],"head":1}`, false, []string{`{"seq":1}`}, 1, ""},
		{"no head", `{"events":[]}`, false, nil, 0, "no head"},
		{"truncated", `{"events":[{"seq":1,"kind":"bat`, false, nil, 0, "decode answer"},
		{"unbalanced", `{"events":[{"seq":[1}],"head":1}`, false, nil, 0, "decode answer"},
		{"trailing garbage", `{"events":[],"head":1}x`, false, nil, 0, "decode answer"},
		{"head not a number", `{"events":[],"head":"1"}`, false, nil, 0, "decode answer"},
		{"not an object", `[1,2]`, false, nil, 0, "decode answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, fast := splitAnswer([]byte(tc.body))
			if fast != tc.fast {
				t.Errorf("fast path taken = %v, want %v", fast, tc.fast)
			}
			events, head, err := parseAnswer([]byte(tc.body))
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
			if !slices.Equal(got, tc.events) || head != tc.head {
				t.Fatalf("got %q head %d, want %q head %d", got, head, tc.events, tc.head)
			}
		})
	}
}
