package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseOffset(t *testing.T) {
	cases := []struct {
		in, logID string
		seq       uint64
		ok        bool
	}{
		{"lg:10", "lg", 10, true},
		{"lg:10", "", 10, true},
		{"10", "lg", 10, true},
		{" 7 ", "", 7, true},
		{"a:b:12", "a:b", 12, true},
		{"other:10", "lg", 0, false},
		{"lg:", "lg", 0, false},
		{"lg:x", "lg", 0, false},
		{"lg:-3", "lg", 0, false},
		{"lg:0", "lg", 0, false},
		{"eyJvZmZzZXQiOjQyfQ==", "", 0, false},
		{"", "", 0, false},
	}
	for _, tc := range cases {
		seq, ok := parseOffset(tc.in, tc.logID)
		if seq != tc.seq || ok != tc.ok {
			t.Errorf("parseOffset(%q, %q) = %d, %v; want %d, %v", tc.in, tc.logID, seq, ok, tc.seq, tc.ok)
		}
	}
}

func TestOsoOffset(t *testing.T) {
	body := authzBody("User:alice", "read", "Repository:anvil")
	ask := func(t *testing.T, ts *testServer, offset string) (response, time.Duration) {
		t.Helper()
		start := time.Now()
		r := send(t, ts.Client(), "POST", ts.URL+"/api/authorize", body,
			map[string]string{"Authorization": "Bearer " + testKey, "OsoOffset": offset})
		return r, time.Since(start)
	}
	wait := 100 * time.Millisecond
	lenient := startServer(t, loadedState(t), func(c *Config) { c.ConsistencyWait = wait; c.LogID = "lg" })
	strict := startServer(t, loadedState(t), func(c *Config) { c.ConsistencyWait = wait; c.LogID = "lg"; c.Strict = true })

	t.Run("behind: waits, then answers marked stale", func(t *testing.T) {
		r, d := ask(t, lenient, "lg:10")
		if r.status != 200 || string(r.body) != `{"allowed":true}` || r.header.Get("X-Outpost-Stale") != "true" || r.header.Get("X-Outpost-Revision") != "3" {
			t.Errorf("%d %s stale=%q rev=%s", r.status, r.body, r.header.Get("X-Outpost-Stale"), r.header.Get("X-Outpost-Revision"))
		}
		if d < wait {
			t.Errorf("answered after %v, before the wait of %v", d, wait)
		}
	})
	t.Run("bare integer", func(t *testing.T) {
		if r, _ := ask(t, lenient, "10"); r.header.Get("X-Outpost-Stale") != "true" {
			t.Errorf("bare 10: stale=%q", r.header.Get("X-Outpost-Stale"))
		}
	})
	t.Run("strict: 503", func(t *testing.T) {
		r, d := ask(t, strict, "lg:10")
		if r.status != 503 || r.header.Get("Retry-After") != "1" || !strings.Contains(r.message(t), "applied revision 3, the request needs 10") {
			t.Errorf("%d %s", r.status, r.body)
		}
		if d < wait {
			t.Errorf("refused after %v, before the wait", d)
		}
		checkAPIHeaders(t, r, "3")
	})
	t.Run("caught up already", func(t *testing.T) {
		for _, off := range []string{"lg:3", "lg:1", "3"} {
			r, _ := ask(t, strict, off)
			if r.status != 200 || r.header.Get("X-Outpost-Stale") != "" {
				t.Errorf("%s: %d stale=%q", off, r.status, r.header.Get("X-Outpost-Stale"))
			}
		}
	})
	t.Run("foreign and unparsable tokens are ignored", func(t *testing.T) {
		// A long bound: answering well before it proves there was no wait.
		long := 5 * time.Second
		ts := startServer(t, loadedState(t), func(c *Config) { c.ConsistencyWait = long; c.LogID = "lg"; c.Strict = true })
		for _, off := range []string{"oso-cloud:99", "abc", "lg:", "lg:notanumber"} {
			r, d := ask(t, ts, off)
			if r.status != 200 || r.header.Get("X-Outpost-Stale") != "" || d >= long {
				t.Errorf("%q: %d stale=%q after %v", off, r.status, r.header.Get("X-Outpost-Stale"), d)
			}
		}
		if got := counterValue(t, ts.reg, "outpost_consistency_waits_total", map[string]string{"outcome": "ignored"}); got != 4 {
			t.Errorf("ignored = %v", got)
		}
	})
	t.Run("any log id when LogID is empty", func(t *testing.T) {
		ts := startServer(t, loadedState(t), func(c *Config) { c.ConsistencyWait = time.Millisecond })
		if r, _ := ask(t, ts, "whatever:10"); r.header.Get("X-Outpost-Stale") != "true" {
			t.Errorf("stale=%q", r.header.Get("X-Outpost-Stale"))
		}
	})
	t.Run("caught up during the wait", func(t *testing.T) {
		st := loadedState(t)
		ts := startServer(t, st, func(c *Config) { c.ConsistencyWait = 10 * time.Second; c.Strict = true })
		done := make(chan struct{})
		var r response
		var d time.Duration
		var err error
		go func() {
			defer close(done)
			start := time.Now()
			r, err = trySend(ts.Client(), "POST", ts.URL+"/api/authorize", body,
				map[string]string{"Authorization": "Bearer " + testKey, "OsoOffset": "lg:4"})
			d = time.Since(start)
		}()
		time.Sleep(50 * time.Millisecond)
		(&applier{t, st}).insert(fact("has_role", val("User", "alice"), val("String", "maintainer"), val("Repository", "anvil")))
		<-done
		if err != nil {
			t.Fatal(err)
		}
		if r.status != 200 || r.header.Get("X-Outpost-Revision") != "4" || r.header.Get("X-Outpost-Stale") != "" {
			t.Errorf("%d %s rev=%s stale=%q", r.status, r.body, r.header.Get("X-Outpost-Revision"), r.header.Get("X-Outpost-Stale"))
		}
		if d >= 10*time.Second {
			t.Errorf("waited the whole bound (%v)", d)
		}
		if got := counterValue(t, ts.reg, "outpost_consistency_waits_total", map[string]string{"outcome": "caught_up"}); got != 1 {
			t.Errorf("caught_up = %v", got)
		}
	})
	t.Run("page token from a node further ahead", func(t *testing.T) {
		tok := pageToken{revision: 50, size: 2, query: listHash(val("User", "bob"), "read", "Repository"), lastID: "anvil"}.encode()
		req := `{"actor_type":"User","actor_id":"bob","action":"read","resource_type":"Repository","page_token":"` + tok + `"}`
		r := lenient.post(t, "/api/list", req)
		if r.status != 200 || r.header.Get("X-Outpost-Stale") != "true" || string(r.body) == "" {
			t.Errorf("lenient: %d %s stale=%q", r.status, r.body, r.header.Get("X-Outpost-Stale"))
		}
		if got := r.object(t)["results"].([]any); len(got) != 2 || got[0] != "gizmo" {
			t.Errorf("page after anvil: %v", got)
		}
		if r := strict.post(t, "/api/list", req); r.status != http.StatusServiceUnavailable {
			t.Errorf("strict: %d %s", r.status, r.body)
		}
	})
}
