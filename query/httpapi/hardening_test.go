package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestStrictParserAgreesWithEncodingJSON: the strict parser gives the
// generic values encoding/json (UseNumber) gives, and refuses what it
// refuses.
func TestStrictParserAgreesWithEncodingJSON(t *testing.T) {
	bodies := []string{
		`{}`, ` {"a":1} `, `{"a":-0.5e+10,"b":[1,2,{"c":null}],"d":true,"e":false,"f":""}`,
		`{"s":"\u00e9\n\t\"\\\/\b\f\r","t":"caf\u00e9 ☕","u":"\ud83d\ude00"}`,
		`{"a":1,"a":2}`, `{"deep":[[[[[{"x":[]}]]]]]}`, `{"n":0,"m":1E5,"k":-12}`,
		`{"context_facts":null}`, `{"context_facts":{}}`, `{"context_facts":5,"x":1}`,
		`{"a":1} x`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":+1}`, `{"a":tru}`, `{"a":"x`,
		`{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":1,}`, `{,}`, `[1]`, `"s"`, ``, `{"a" 1}`,
		`{"a":[1,]}`, `{"a":[1 2]}`, `{"a":-}`, `{"a":1e}`, `{"a":nul}`, `{"context_facts":[1,}`,
	}
	for _, b := range bodies {
		checkAgainstEncodingJSON(t, []byte(b))
	}
}

// FuzzStrictParser: on any input the strict parser agrees with
// encoding/json (UseNumber) or refuses, and it refuses only what
// encoding/json refuses or what is not valid UTF-8.
//
//	go test -run '^$' -fuzz FuzzStrictParser -fuzztime 30s ./query/httpapi/
func FuzzStrictParser(f *testing.F) {
	for _, b := range []string{`{}`, `{"a":[1,{"b":null}],"c":"\u00e9"}`, `{"context_facts":[{"predicate":"p","args":[{"type":"T","id":"1"}]}]}`, `{"a":1e5}`} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkAgainstEncodingJSON(t, b) })
}

// checkAgainstEncodingJSON compares parseBody with encoding/json on b.
func checkAgainstEncodingJSON(t *testing.T, b []byte) {
	t.Helper()
	var want any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	werr := dec.Decode(&want)
	if werr == nil {
		if _, err := dec.Token(); err != io.EOF {
			werr = fmt.Errorf("trailing data")
		}
	}
	o, cf, fail := parseBody(b, factLimits{})
	var obj map[string]any
	if fail == nil {
		obj = o.toMap()
	}
	if cf != nil && obj != nil {
		obj["context_facts"] = "decoded"
		if m, ok := want.(map[string]any); ok {
			m["context_facts"] = "decoded"
		}
	}
	_, isObj := want.(map[string]any)
	switch {
	case werr != nil && fail == nil:
		t.Errorf("%q: strict parser accepted what encoding/json refuses (%v)", b, werr)
	case werr == nil && fail != nil && isObj && fail.utf8At < 0:
		t.Errorf("%q: strict parser refused what encoding/json accepts", b)
	case werr == nil && fail == nil && !reflect.DeepEqual(any(obj), want):
		t.Errorf("%q: strict parser gave %#v, encoding/json %#v", b, obj, want)
	}
}

// TestInvalidUTF8Refused: ids that encoding/json would turn into U+FFFD
// (so that two different ids collide) are answered 400 (#17).
func TestInvalidUTF8Refused(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	cases := []struct{ name, path, body string }{
		{"raw byte in actor_id", "/api/authorize", "{\"actor_type\":\"User\",\"actor_id\":\"al\xffice\",\"action\":\"read\",\"resource_type\":\"Repository\",\"resource_id\":\"anvil\"}"},
		{"truncated sequence in resource_id", "/api/authorize", "{\"actor_type\":\"User\",\"actor_id\":\"alice\",\"action\":\"read\",\"resource_type\":\"Repository\",\"resource_id\":\"an\xc3\"}"},
		{"lone high surrogate", "/api/authorize", `{"actor_type":"User","actor_id":"a\ud800","action":"read","resource_type":"Repository","resource_id":"anvil"}`},
		{"lone low surrogate", "/api/authorize", `{"actor_type":"User","actor_id":"a\udc00","action":"read","resource_type":"Repository","resource_id":"anvil"}`},
		{"in a context fact", "/api/authorize", "{\"actor_type\":\"User\",\"actor_id\":\"alice\",\"action\":\"read\",\"resource_type\":\"Repository\",\"resource_id\":\"anvil\",\"context_facts\":[{\"predicate\":\"is_public\",\"args\":[{\"type\":\"Repository\",\"id\":\"\xfe\"}]}]}"},
		{"list", "/api/list", "{\"actor_type\":\"User\",\"actor_id\":\"\xff\",\"action\":\"read\",\"resource_type\":\"Repository\"}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.post(t, c.path, c.body)
			if r.status != http.StatusBadRequest || !strings.Contains(r.message(t), "invalid UTF-8") {
				t.Fatalf("got %d %s, want 400 naming invalid UTF-8", r.status, r.body)
			}
		})
	}
	r := ts.get(t, "/api/facts?predicate=has_role&args.0.type=User&args.0.id=al%FFice")
	if r.status != http.StatusBadRequest || !strings.Contains(r.message(t), "UTF-8") {
		t.Fatalf("GET /api/facts with an invalid UTF-8 id: got %d %s, want 400", r.status, r.body)
	}
	// A valid surrogate pair and non-ASCII ids are fine.
	r = ts.post(t, "/api/authorize", `{"actor_type":"User","actor_id":"\ud83d\ude00é","action":"read","resource_type":"Repository","resource_id":"anvil"}`)
	if r.status != http.StatusOK {
		t.Fatalf("valid non-ASCII id: got %d %s", r.status, r.body)
	}
}

// TestErrorMessagesTruncated: a 400 quoting a 1 MB input is not 1 MB (#17).
func TestErrorMessagesTruncated(t *testing.T) {
	ts := startServer(t, loadedState(t), nil)
	huge := strings.Repeat("R", 1<<20)
	cases := []struct{ name, body string }{
		{"actor_type", `{"actor_type":"` + huge + `","actor_id":"a","action":"read","resource_type":"Repository","resource_id":"anvil"}`},
		{"Integer id", `{"actor_type":"Integer","actor_id":"` + huge + `","action":"read","resource_type":"Repository","resource_id":"anvil"}`},
		{"action", `{"actor_type":"User","actor_id":"a","action":"` + huge + `","resource_type":"Repository","resource_id":"anvil"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.post(t, "/api/authorize", c.body)
			if r.status/100 != 4 && r.status != http.StatusOK {
				t.Fatalf("status %d", r.status)
			}
			if len(r.body) > 2*maxMessageBytes {
				t.Fatalf("status %d: %d-byte body, want at most %d", r.status, len(r.body), 2*maxMessageBytes)
			}
			if r.status == http.StatusBadRequest && len(huge) > maxMessageBytes && !strings.Contains(r.message(t), "truncated") &&
				strings.Contains(r.message(t), "RRRR") {
				t.Fatalf("echoing message not marked truncated: %s", r.body)
			}
		})
	}
}

// TestContextFactLimits: the count and byte limits answer 400 naming the
// flag; at the limit the request is served.
func TestContextFactLimits(t *testing.T) {
	ts := startServer(t, loadedState(t), func(c *Config) { c.MaxContextFacts, c.MaxContextBytes = 3, 400 })
	body := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"actor_type":"User","actor_id":"zed","action":"read","resource_type":"Repository","resource_id":"r0","context_facts":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"predicate":"is_public","args":[{"type":"Repository","id":"r%d"}]}`, i)
		}
		b.WriteString(`]}`)
		return b.String()
	}
	if r := ts.post(t, "/api/authorize", body(3)); r.status != http.StatusOK || !strings.Contains(string(r.body), "true") {
		t.Fatalf("3 facts: got %d %s, want allowed", r.status, r.body)
	}
	if r := ts.post(t, "/api/authorize", body(4)); r.status != http.StatusBadRequest || !strings.Contains(r.message(t), "--max-context-facts") {
		t.Fatalf("4 facts: got %d %s, want 400 naming --max-context-facts", r.status, r.body)
	}
	ts2 := startServer(t, loadedState(t), func(c *Config) { c.MaxContextBytes = 150 })
	if r := ts2.post(t, "/api/authorize", body(3)); r.status != http.StatusBadRequest || !strings.Contains(r.message(t), "--max-context-bytes") {
		t.Fatalf("3 facts over 150 bytes: got %d %s, want 400 naming --max-context-bytes", r.status, r.body)
	}
}

// TestSlowBodyHoldsNoSlot: a client that sends headers and then trickles
// its body holds no evaluation slot (#17: a slot was taken before the
// body was read, so MaxConcurrent slow clients shut everyone out).
func TestSlowBodyHoldsNoSlot(t *testing.T) {
	ts := startServer(t, loadedState(t), func(c *Config) { c.MaxConcurrent = 1 })
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/authorize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"actor_type\":", testKey)
	// Wait until the server is inside the slow request: it holds either
	// the slot (before the fix) or a memory reservation (after).
	deadline := time.Now().Add(30 * time.Second)
	for len(ts.srv.slots) == 0 && ts.srv.mem.TryAcquire(ts.srv.cfg.RequestMemory) {
		ts.srv.mem.Release(ts.srv.cfg.RequestMemory)
		if time.Now().After(deadline) {
			t.Fatal("the slow request never reached the handler")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := ts.post(t, "/api/authorize", authzBody("User:alice", "read", "Repository:anvil"))
	if r.status != http.StatusOK {
		t.Fatalf("with one slow body in progress and MaxConcurrent 1: got %d %s, want 200", r.status, r.body)
	}
}

// TestMemoryBudgetAdmission: a request whose body does not fit the memory
// budget waits for it, and is answered 503 with Retry-After when it does
// not free up in time.
func TestMemoryBudgetAdmission(t *testing.T) {
	ts := startServer(t, loadedState(t), func(c *Config) { c.RequestMemory = 1 << 20 })
	ts.srv.memWait = 200 * time.Millisecond
	body := authzBody("User:alice", "read", "Repository:anvil")
	if !ts.srv.mem.TryAcquire(1 << 20) {
		t.Fatal("budget not free at start")
	}
	r := ts.post(t, "/api/authorize", body)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" || !strings.Contains(r.message(t), "--request-memory") {
		t.Fatalf("budget exhausted: got %d %s, want 503 naming --request-memory with Retry-After", r.status, r.body)
	}
	ts.srv.memWait = time.Minute
	done := make(chan response, 1)
	go func() {
		r, err := trySend(ts.Client(), http.MethodPost, ts.URL+"/api/authorize", body, nil)
		if err != nil {
			r.status = -1
		}
		done <- r
	}()
	select {
	case r := <-done:
		t.Fatalf("answered %d while the budget was held", r.status)
	case <-time.After(100 * time.Millisecond):
	}
	ts.srv.mem.Release(1 << 20)
	if r := <-done; r.status != http.StatusOK {
		t.Fatalf("after the budget was freed: got %d %s", r.status, r.body)
	}
	if got := counterValue(t, ts.reg, "outpost_http_memory_rejected_total", nil); got != 1 {
		t.Fatalf("outpost_http_memory_rejected_total = %v, want 1", got)
	}
}

// contextFactsBody is an authorize request with n has_role context facts
// (about 137 bytes each, as in the #17 report: 68k facts, 9.3 MB).
func contextFactsBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"actor_type":"User","actor_id":"nobody","action":"read","resource_type":"Repository","resource_id":"anvil","context_facts":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"predicate":"has_role","args":[{"type":"User","id":"user-%06d"},{"type":"String","id":"reader"},{"type":"Repository","id":"repo-%06d"}]}`, i, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// TestLargeContextMemory: 30 concurrent authorize requests with 68k
// context facts each (9.3 MB bodies) keep the process's peak RSS under
// the documented ceiling: the request memory budget (256 MiB) times
// GOGC's 2 plus 400 MiB for the runtime, the client and the rest of the
// test binary, 912 MiB (docs/configuration.md, --request-memory). Before
// the fix they took 6.5 GB.
func TestLargeContextMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 280 MB of requests")
	}
	ts := startServer(t, loadedState(t), nil)
	body := contextFactsBody(68_000)
	t.Logf("body: %d bytes", len(body))
	conc := 30
	if raceEnabled {
		conc = 4 // the race detector makes each evaluation ten times slower
	}
	if v, err := strconv.Atoi(os.Getenv("OUTPOST_TEST_CONC")); err == nil {
		conc = v
	}
	var wg sync.WaitGroup
	statuses := make([]int, conc)
	errs := make([]error, conc)
	for i := range conc {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPost, ts.URL+"/api/authorize", bytes.NewReader(body))
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := ts.Client().Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			statuses[i] = resp.StatusCode
			bufio.NewReader(resp.Body).WriteTo(new(bytes.Buffer))
		})
	}
	wg.Wait()
	var ok, busy int
	for i := range conc {
		switch {
		case errs[i] != nil:
			t.Errorf("request %d: %v", i, errs[i])
		case statuses[i] == http.StatusOK:
			ok++
		case statuses[i] == http.StatusServiceUnavailable:
			busy++
		default:
			t.Errorf("request %d: status %d", i, statuses[i])
		}
	}
	if ok == 0 {
		t.Fatalf("no request answered 200 (%d busy)", busy)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	peak := ru.Maxrss << 10 // KiB on Linux
	const ceiling = 2*DefaultRequestMemory + 400<<20
	t.Logf("%d answered, %d refused busy; peak RSS %d MiB (ceiling %d MiB)", ok, busy, peak>>20, ceiling>>20)
	if raceEnabled {
		t.Logf("not asserting the ceiling under the race detector, whose shadow memory multiplies RSS")
		return
	}
	if peak > ceiling {
		t.Fatalf("peak RSS %d MiB over the ceiling of %d MiB", peak>>20, ceiling>>20)
	}
}
