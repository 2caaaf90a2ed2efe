package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/httpapi"
	"github.com/outpost-authz/outpost/replica"
)

// The node's HTTP limits, as documented in docs/operations.md and
// docs/reliability.md.
const (
	wantReadHeaderTimeout = 5 * time.Second
	wantReadTimeout       = 30 * time.Second
	wantWriteTimeout      = 30 * time.Second
	wantIdleTimeout       = 120 * time.Second
	wantMaxHeaderBytes    = 64 << 10
	wantMaxBody           = 10 << 20
	wantMaxConcurrent     = 1024
)

// hardeningNode starts a node from a policy file with a few facts.
func hardeningNode(t *testing.T, args ...string) *runningNode {
	t.Helper()
	dir := t.TempDir()
	policy, events := writeDevInputs(t, dir, 20)
	return startNode(t, append([]string{"--policy", policy, "--events", events, "--directory", filepath.Join(dir, "data")}, args...)...)
}

// TestHardeningHTTPServerSettings: the server serve runs is built by
// httpapi.NewHTTPServer with the documented timeouts and header limit, and
// serve does not change them afterwards. The read-header timeout, the
// header limit, the body limit and the concurrency limit are also observed
// on a running node below; the 30 s and 120 s timeouts are too long for a
// unit test and are checked here only.
func TestHardeningHTTPServerSettings(t *testing.T) {
	t.Parallel()
	srv := httpapi.NewHTTPServer("127.0.0.1:0", http.NotFoundHandler())
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout, wantReadHeaderTimeout},
		{"ReadTimeout", srv.ReadTimeout, wantReadTimeout},
		{"WriteTimeout", srv.WriteTimeout, wantWriteTimeout},
		{"IdleTimeout", srv.IdleTimeout, wantIdleTimeout},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if srv.MaxHeaderBytes != wantMaxHeaderBytes {
		t.Errorf("MaxHeaderBytes = %d, want %d", srv.MaxHeaderBytes, wantMaxHeaderBytes)
	}
	if httpapi.DefaultMaxBodyBytes != wantMaxBody || httpapi.DefaultMaxConcurrent != wantMaxConcurrent {
		t.Errorf("body limit %d, concurrency limit %d", httpapi.DefaultMaxBodyBytes, httpapi.DefaultMaxConcurrent)
	}

	// serve.go: the server comes from httpapi.NewHTTPServer, and no field
	// of it is assigned afterwards (a WriteTimeout = 0 would undo a limit).
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "serve.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var serveFn *ast.FuncDecl
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "serve" && fn.Recv == nil {
			serveFn = fn
		}
	}
	if serveFn == nil {
		t.Fatal("serve.go has no func serve")
	}
	var srvVar string
	ast.Inspect(serveFn, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Rhs) != 1 || len(as.Lhs) != 1 {
			return true
		}
		if call, ok := as.Rhs[0].(*ast.CallExpr); ok {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewHTTPServer" {
				if id, ok := as.Lhs[0].(*ast.Ident); ok {
					srvVar = id.Name
				}
			}
		}
		return true
	})
	if srvVar == "" {
		t.Fatal("serve does not build its server with httpapi.NewHTTPServer")
	}
	ast.Inspect(serveFn, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok {
			return true
		}
		for _, l := range as.Lhs {
			if sel, ok := l.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == srvVar {
					t.Errorf("%s: serve changes %s.%s after NewHTTPServer", fset.Position(as.Pos()), srvVar, sel.Sel.Name)
				}
			}
		}
		return true
	})
}

// TestHardeningSlowlorisHeaders: a client that opens a connection and
// sends header lines slowly, never finishing, is cut off by the node when
// the read-header timeout (5 s from the connection's first byte) expires,
// however steadily it drips.
func TestHardeningSlowlorisHeaders(t *testing.T) {
	t.Parallel()
	n := hardeningNode(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /api/authorize HTTP/1.1\r\nHost: outpost\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan time.Duration, 1)
	go func() {
		b := make([]byte, 1024)
		_, err := conn.Read(b) // the server never answers; it closes
		for err == nil {
			_, err = conn.Read(b)
		}
		closed <- time.Since(start)
	}()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(wantReadHeaderTimeout + 5*time.Second)
	for i := 0; ; i++ {
		select {
		case d := <-closed:
			if d < wantReadHeaderTimeout-100*time.Millisecond {
				t.Fatalf("connection closed after %v, before the read-header timeout", d)
			}
			t.Logf("slowloris connection closed after %v", d.Round(time.Millisecond))
			return
		case <-tick.C:
			fmt.Fprintf(conn, "X-Drip-%d: x\r\n", i) // errors once closed; the reader reports
		case <-deadline:
			t.Fatalf("a client dripping headers is still connected after %v", time.Since(start))
		}
	}
}

// TestHardeningHeaderLimit: headers over the 64 KiB limit get 431; a
// request just under it is served (Go's default limit is 1 MiB, so this
// also shows the node's own limit is in force).
func TestHardeningHeaderLimit(t *testing.T) {
	t.Parallel()
	n := hardeningNode(t)
	get := func(pad int) int {
		req, _ := http.NewRequest("GET", n.url+"/healthcheck", nil)
		req.Header.Set("X-Pad", strings.Repeat("p", pad))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%d-byte header: %v", pad, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(wantMaxHeaderBytes - 2048); s != 200 {
		t.Errorf("header just under the limit: %d", s)
	}
	if s := get(wantMaxHeaderBytes + 8192); s != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("header over the limit: %d, want 431", s)
	}
	if s := get(1 << 20); s != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("1 MiB header: %d, want 431", s)
	}
}

// TestHardeningBodyLimit: a body over 10 MiB gets 413 with a message that
// names the limit, from the running node.
func TestHardeningBodyLimit(t *testing.T) {
	t.Parallel()
	n := hardeningNode(t)
	prefix := `{"actor_type":"User","actor_id":"u1","action":"read","resource_type":"Repo","resource_id":"r1","pad":"`
	body := prefix + strings.Repeat("x", wantMaxBody-len(prefix)) + `"}`
	resp, err := http.Post(n.url+"/api/authorize", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "limit of 10485760 bytes") {
		t.Errorf("over the body limit: %d %s", resp.StatusCode, b)
	}
	if !n.allowed(t, "u0", "read", "r0") { // the node still answers
		t.Error("u0 may not read r0 after the oversized request")
	}
}

// TestHardeningConcurrencyLimit: with 1024 Check API requests in progress
// (clients that sent headers and hold back their bodies), checks are
// still answered: a slow body holds memory budget, not an evaluation slot
// (#17; the 503 at MaxConcurrent evaluations is httpapi's
// TestConcurrencyLimit); once the clients go away, checks are served.
func TestHardeningConcurrencyLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 3*wantMaxConcurrent {
		t.Skipf("needs %d open files (limit %d, %v)", 3*wantMaxConcurrent, lim.Cur, err)
	}
	t.Parallel()
	n := hardeningNode(t)
	addr := strings.TrimPrefix(n.url, "http://")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range wantMaxConcurrent {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if _, err := io.WriteString(c, "POST /api/authorize HTTP/1.1\r\nHost: outpost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	body := `{"actor_type":"User","actor_id":"u0","action":"read","resource_type":"Repo","resource_id":"r0"}`
	// #17: the held bodies take no evaluation slot (a slot is taken once
	// the body is read), so checks are still answered.
	r, err := http.Post(n.url+"/api/authorize", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("with %d requests holding back their bodies, a check answers %d", len(held), r.StatusCode)
	}
	if r, err := http.Get(n.url + "/healthcheck"); err != nil || r.StatusCode != 200 {
		t.Errorf("healthcheck with held requests: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	if v := hardeningMetric(t, n.url, "outpost_http_rejected_total"); v != 0 {
		t.Errorf("outpost_http_rejected_total = %v, want 0", v)
	}
	for _, c := range held {
		c.Close()
	}
	held = nil
	waitFor(t, 10*time.Second, func() bool {
		r, err := http.Post(n.url+"/api/authorize", "application/json", strings.NewReader(body))
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
}

// hardeningMetric reads one unlabelled sample from a node's /metrics.
func hardeningMetric(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	t.Fatalf("%s not in /metrics", name)
	return 0
}

// TestHardeningHandlersBuildConcurrently builds the Check API handler of
// several servers at once, as a process running more than one node (the
// tests, an embedding application) does. Under -race it caught mux's
// Methods upper-casing the shared writeRoutes method lists in place.
func TestHardeningHandlersBuildConcurrently(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			e, err := query.New(replica.New(replica.Config{Env: "default", Compiler: query.Compile}), query.Config{CacheMaxBytes: -1})
			if err != nil {
				t.Error(err)
				return
			}
			defer e.Close()
			s, err := httpapi.New(httpapi.Config{Engine: e, Registry: prometheus.NewRegistry()})
			if err != nil {
				t.Error(err)
				return
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest("DELETE", "/api/facts", nil))
			if rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("DELETE /api/facts: %d", rec.Code)
			}
		})
	}
	wg.Wait()
}
