package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestStatusAuth: with StatusAuth, /status and / need a key of the state
// (Bearer, or Basic with the key as password), even with Auth none;
// without it they are open. /metrics and /healthcheck stay open.
func TestStatusAuth(t *testing.T) {
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	cases := []struct {
		name       string
		statusAuth bool
		auth       string
		header     string
		want       int
	}{
		{"open by default", false, AuthTokens, "", 200},
		{"no key", true, AuthTokens, "", 401},
		{"wrong key", true, AuthTokens, "Bearer nope", 401},
		{"bearer key", true, AuthTokens, "Bearer " + testKey, 200},
		{"bearer lower case", true, AuthTokens, "bearer " + testKey, 200},
		{"basic, key as password", true, AuthTokens, basic("ops", testKey), 200},
		{"basic, wrong password", true, AuthTokens, basic("ops", "nope"), 401},
		{"auth none still guards status", true, AuthNone, "", 401},
		{"auth none with key", true, AuthNone, "Bearer " + testKey, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, loadedState(t), func(c *Config) { c.StatusAuth, c.Auth = tc.statusAuth, tc.auth })
			for _, path := range []string{"/status", "/"} {
				r := send(t, ts.Client(), "GET", ts.URL+path, "", map[string]string{"Authorization": tc.header})
				if r.status != tc.want {
					t.Errorf("%s: %d, want %d", path, r.status, tc.want)
				}
				if tc.want == 401 && (!strings.Contains(string(r.body), "API key") || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic")) {
					t.Errorf("%s: 401 without a message naming the key or a Basic challenge: %s %v", path, r.body, r.header)
				}
			}
			for _, path := range []string{"/metrics", "/healthcheck"} {
				if r := send(t, ts.Client(), "GET", ts.URL+path, "", map[string]string{"Authorization": ""}); r.status != 200 {
					t.Errorf("%s: %d", path, r.status)
				}
			}
		})
	}
}

// TestVerdict: the words and colour at the top of the page for each
// state a node can be in, with how long.
func TestVerdict(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ago := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339Nano) }
	cases := []struct {
		name      string
		doc       string
		class     string
		title     []string
		lineWords []string
	}{
		{"not ready", `{"policy_loaded":false,"revision":0}`, "bad", []string{"Not ready"}, nil},
		{"no source", `{"policy_loaded":true,"revision":7,"node":{"loaded_from":"import"}}`, "ok", []string{"Serving revision 7", "no ingest source"}, []string{"import"}},
		{"caught up", `{"policy_loaded":true,"revision":7,"ingest":{"source":"poll","state":"caught-up","lag_events":0,"caught_up_at":"` + ago(2*time.Second) + `"}}`,
			"ok", []string{"caught up with poll"}, []string{"2s ago"}},
		{"stale", `{"policy_loaded":true,"revision":7,"ingest":{"source":"nats","state":"following","lag_events":4,"caught_up_at":"` + ago(3*time.Minute+12*time.Second) + `"}}`,
			"warn", []string{"Stale for 3m 12s"}, []string{"4 events behind"}},
		{"catching up", `{"policy_loaded":true,"revision":7,"ingest":{"source":"kafka","state":"following","lag_events":4,"caught_up_at":"` + ago(5*time.Second) + `"}}`,
			"warn", []string{"catching up"}, []string{"4 events behind"}},
		{"failing", `{"policy_loaded":true,"revision":7,"ingest":{"source":"poll","state":"failing","last_error":"connection refused","caught_up_at":"` + ago(time.Hour) + `","transport_failing_since":"` + ago(50*time.Minute) + `"}}`,
			"bad", []string{"Failing for 50m 0s", "possibly stale"}, []string{"last caught up 1h 0m ago", "connection refused", "unknown"}},
		{"checkpoints failing", `{"policy_loaded":true,"revision":7,"checkpoint":{"consecutive_failures":3,"last_error":"disk full"}}`,
			"warn", []string{"Serving revision 7"}, []string{"Checkpoints are failing (3 in a row): disk full"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := json.NewDecoder(strings.NewReader(tc.doc))
			d.UseNumber()
			var doc map[string]any
			if err := d.Decode(&doc); err != nil {
				t.Fatal(err)
			}
			b := verdict(doc, now)
			lines := strings.Join(b.Lines, "\n")
			if b.Class != tc.class {
				t.Errorf("class %s, want %s (%+v)", b.Class, tc.class, b)
			}
			for _, w := range tc.title {
				if !strings.Contains(b.Title, w) {
					t.Errorf("title %q lacks %q", b.Title, w)
				}
			}
			for _, w := range tc.lineWords {
				if !strings.Contains(lines, w) {
					t.Errorf("lines %q lack %q", lines, w)
				}
			}
		})
	}
}
