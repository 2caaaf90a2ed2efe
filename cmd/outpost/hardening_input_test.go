package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHardeningHostileRequests sends requests a fuzzer or an attacker
// would to a running node: each gets a 4xx with a JSON message (never a
// 500, a hang or a crash), and the node keeps answering correctly.
func TestHardeningHostileRequests(t *testing.T) {
	t.Parallel()
	n := hardeningNode(t)
	deep := strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)
	deepArray := `{"actor_type":"User","actor_id":"u0","action":"read","resource_type":"Repo","resource_id":"r0","context_facts":` +
		strings.Repeat("[", 50_000) + strings.Repeat("]", 50_000) + "}"
	manyFacts := `{"actor_type":"User","actor_id":"u0","action":"read","resource_type":"Repo","resource_id":"r0","context_facts":[` +
		strings.TrimSuffix(strings.Repeat(`{"predicate":"has_role","args":[{"type":"User","id":"u0"},{"type":"String","id":"admin"},{"type":"Repo","id":"r0"}]},`, 20_000), ",") + "]}"
	for _, c := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"deeply nested object", "POST", "/api/authorize", deep, 400},
		{"deeply nested context facts", "POST", "/api/authorize", deepArray, 400},
		{"invalid UTF-8 in an id", "POST", "/api/authorize", "{\"actor_type\":\"User\",\"actor_id\":\"\xff\xfe\",\"action\":\"read\",\"resource_type\":\"Repo\",\"resource_id\":\"r0\"}", 400}, // #17: 400, not a U+FFFD id that collides with others
		{"NUL in a type", "POST", "/api/authorize", `{"actor_type":"Us\u0000er","actor_id":"u0","action":"read","resource_type":"Repo","resource_id":"r0"}`, 400},
		{"NUL in an id", "POST", "/api/authorize", `{"actor_type":"User","actor_id":"u\u00000","action":"read","resource_type":"Repo","resource_id":"r0"}`, 200},
		{"numbers where strings go", "POST", "/api/authorize", `{"actor_type":1e999,"actor_id":[],"action":{},"resource_type":null,"resource_id":true}`, 400},
		{"huge integer id", "POST", "/api/authorize", `{"actor_type":"User","actor_id":"u0","action":"read","resource_type":"Repo","resource_id":"r0","context_facts":[{"predicate":"p","args":[{"type":"Integer","id":"99999999999999999999999999"}]}]}`, 400},
		{"page_size absurd", "POST", "/api/list", `{"actor_type":"User","actor_id":"u0","action":"read","resource_type":"Repo","page_size":-9223372036854775808}`, 400},
		{"page_token garbage", "POST", "/api/list", `{"actor_type":"User","actor_id":"u0","action":"read","resource_type":"Repo","page_token":"../../../../etc/passwd"}`, 400},
		{"20,000 context facts", "POST", "/api/authorize", manyFacts, 200},
		{"path traversal", "GET", "/../../etc/passwd", "", 404},
		{"encoded traversal", "GET", "/api/%2e%2e/%2e%2e/etc/passwd", "", 404},
		{"write on a replica", "POST", "/api/batch", "[]", 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, n.url+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var m struct{ Message *string }
			jerr := json.Unmarshal(b, &m)
			if resp.StatusCode != c.want {
				t.Errorf("%d %.300s, want %d", resp.StatusCode, b, c.want)
			}
			if resp.StatusCode >= 400 && (jerr != nil || m.Message == nil || *m.Message == "") {
				t.Errorf("error answer without a JSON message: %.300s", b)
			}
		})
	}

	// Malformed HTTP: the server answers 400 itself and closes.
	for _, c := range []struct{ name, raw string }{
		{"both Content-Length and Transfer-Encoding", "POST /api/authorize HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"two different Content-Lengths", "POST /api/authorize HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
		{"garbage request line", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n"},
		{"header without colon", "GET /healthcheck HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", strings.TrimPrefix(n.url, "http://"), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(conn, c.raw)
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "HTTP/1.1 400") {
				t.Errorf("status line %q, %v; want 400", line, err)
			}
		})
	}

	if !n.allowed(t, "u0", "delete", "r0") {
		t.Error("after the hostile requests, u0 (admin of r0) may not delete r0")
	}
	if n.allowed(t, "u1", "delete", "r1") {
		t.Error("after the hostile requests, u1 (reader of r1) may delete r1")
	}
}
