package chaos

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// upstream is a real HTTP server on 127.0.0.1 that counts its requests and
// answers 200 "hello from upstream".
type upstream struct {
	srv      *httptest.Server
	requests atomic.Int64
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "hello from upstream")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

// startProxy starts a proxy in front of u and closes it in t.Cleanup.
func startProxy(t testing.TB, u *upstream, initial Setting) *Proxy {
	t.Helper()
	p, err := New(Config{Upstream: u.addr(), Initial: initial})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// client returns an HTTP client with its own transport (so tests do not
// share pooled connections) and a timeout.
func client(t testing.TB, timeout time.Duration) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

func mustSet(t testing.TB, p *Proxy, s Setting) {
	t.Helper()
	if err := p.Set(s); err != nil {
		t.Fatalf("Set(%v): %v", s, err)
	}
}

// get fetches path through the proxy and returns status and body.
func get(t testing.TB, c *http.Client, p *Proxy) (int, string, error) {
	t.Helper()
	resp, err := c.Get(p.URL() + "/x")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// checkGoroutines fails t when goroutines of this package are still
// running a few seconds after the test's other cleanups. Call it first.
func checkGoroutines(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			var ours []string
			for _, g := range strings.Split(stacks, "\n\n") {
				if strings.Contains(g, "testenv/chaos.(*Proxy)") || strings.Contains(g, "testenv/chaos.hang") {
					ours = append(ours, g)
				}
			}
			if len(ours) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d proxy goroutines leaked:\n\n%s", len(ours), strings.Join(ours, "\n\n"))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestPass(t *testing.T) {
	checkGoroutines(t)
	u := startUpstream(t)
	p := startProxy(t, u, Setting{})
	c := client(t, 5*time.Second)
	for i := range 3 {
		status, body, err := get(t, c, p)
		if err != nil || status != 200 || body != "hello from upstream" {
			t.Fatalf("request %d: status %d body %q err %v", i, status, body, err)
		}
	}
	if n := u.requests.Load(); n != 3 {
		t.Errorf("upstream saw %d requests, want 3", n)
	}
	if st := p.Stats(); st.Forwarded == 0 || st.Accepted != st.Forwarded {
		t.Errorf("stats %+v: want every accepted connection forwarded", st)
	}
}

func TestRefuseReopensOnSamePort(t *testing.T) {
	checkGoroutines(t)
	u := startUpstream(t)
	p := startProxy(t, u, Setting{})
	addr := p.Addr()
	c := client(t, 5*time.Second)
	if _, _, err := get(t, c, p); err != nil {
		t.Fatalf("before refuse: %v", err)
	}

	mustSet(t, p, Setting{Mode: ModeRefuse})
	_, err := net.DialTimeout("tcp", addr, time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial while refusing: %v, want ECONNREFUSED", err)
	}
	// The pooled connection from before was dropped too: the HTTP client
	// sees a refused connection, not a reply.
	if _, _, err := get(t, c, p); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("GET while refusing: %v, want ECONNREFUSED", err)
	}

	mustSet(t, p, Setting{Mode: ModePass})
	if p.Addr() != addr {
		t.Fatalf("address changed from %s to %s", addr, p.Addr())
	}
	if status, _, err := get(t, c, p); err != nil || status != 200 {
		t.Fatalf("after refuse: status %d err %v", status, err)
	}
	if st := p.Stats(); st.Reopened != 1 {
		t.Errorf("Reopened = %d, want 1", st.Reopened)
	}
}

func TestRefuseAtStart(t *testing.T) {
	checkGoroutines(t)
	u := startUpstream(t)
	p := startProxy(t, u, Setting{Mode: ModeRefuse})
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial: %v, want ECONNREFUSED", err)
	}
	mustSet(t, p, Setting{Mode: ModePass})
	if status, _, err := get(t, client(t, 5*time.Second), p); err != nil || status != 200 {
		t.Fatalf("after pass: status %d err %v", status, err)
	}
}

func TestReset(t *testing.T) {
	checkGoroutines(t)
	u := startUpstream(t)
	p := startProxy(t, u, Setting{Mode: ModeReset})
	if err := dialAndRead(p.Addr()); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("dial and read: %v, want ECONNRESET", err)
	}
	if _, _, err := get(t, client(t, 5*time.Second), p); err == nil {
		t.Fatal("GET through a resetting proxy succeeded")
	}
	if n := u.requests.Load(); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}
	if st := p.Stats(); st.Reset < 2 {
		t.Errorf("Reset = %d, want >= 2", st.Reset)
	}
}

func TestDelay(t *testing.T) {
	checkGoroutines(t)
	u := startUpstream(t)
	const d = 300 * time.Millisecond
	p := startProxy(t, u, Setting{Mode: ModeDelay, Delay: d})
	c := client(t, 5*time.Second)
	start := time.Now()
	status, body, err := get(t, c, p)
	if err != nil || status != 200 || body != "hello from upstream" {
		t.Fatalf("status %d body %q err %v", status, body, err)
	}
	if el := time.Since(start); el < d {
		t.Errorf("answered after %v, want at least %v", el, d)
	}

	// A client that gives up before the delay ends never reaches the
	// upstream once the mode changes.
	short := client(t, 50*time.Millisecond)
	if _, _, err := get(t, short, p); err == nil {
		t.Fatal("request with a 50ms timeout succeeded through a 300ms delay")
	}
	mustSet(t, p, Setting{Mode: ModePass})
	if n := u.requests.Load(); n != 1 {
		t.Errorf("upstream saw %d requests, want 1", n)
	}
}

func TestHang(t *testing.T) {
	checkGoroutines(t)
	u := startUpstream(t)
	p := startProxy(t, u, Setting{Mode: ModeHang})
	c := client(t, 200*time.Millisecond)
	_, _, err := get(t, c, p)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("GET while hanging: %v, want a client timeout", err)
	}

	// A held connection is released by a mode change.
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	waitFor(t, func() bool { return p.Stats().Held >= 2 })
	mustSet(t, p, Setting{Mode: ModePass})
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read on a dropped held connection: %v, want EOF", err)
	}
	if n := u.requests.Load(); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}
}

func TestHTTP5xx(t *testing.T) {
	for _, status := range []int{0, 500, 503, 504} {
		want := status
		if want == 0 {
			want = DefaultStatus
		}
		t.Run(fmt.Sprint(want), func(t *testing.T) {
			checkGoroutines(t)
			u := startUpstream(t)
			p := startProxy(t, u, Setting{Mode: ModeHTTP5xx, Status: status})
			c := client(t, 5*time.Second)
			for range 2 {
				req, _ := http.NewRequest("POST", p.URL()+"/api/authorize", strings.NewReader(`{"actor_type":"User"}`))
				req.Header.Set("X-Request-ID", "req-1")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("POST: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("status %d, want %d", resp.StatusCode, want)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				if id := resp.Header.Get("X-Request-ID"); id != "req-1" {
					t.Errorf("X-Request-ID %q, want the request's", id)
				}
				if wantBody := fmt.Sprintf(`{"message":"chaos proxy: injected %d %s"}`, want, http.StatusText(want)); string(b) != wantBody {
					t.Errorf("body %s, want %s", b, wantBody)
				}
			}
			if n := u.requests.Load(); n != 0 {
				t.Errorf("upstream saw %d requests, want 0", n)
			}
			// Both answers came over one kept-alive connection.
			if st := p.Stats(); st.Answered != 2 || st.Accepted != 1 {
				t.Errorf("stats %+v: want 2 answers on 1 connection", st)
			}
		})
	}
}

func TestHTTP5xxConnectionClose(t *testing.T) {
	checkGoroutines(t)
	u := startUpstream(t)
	p := startProxy(t, u, Setting{Mode: ModeHTTP5xx})
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "POST /api/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
	all, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(all))), nil)
	if err != nil {
		t.Fatalf("parse answer %q: %v", all, err)
	}
	if resp.StatusCode != 503 || !resp.Close {
		t.Errorf("status %d close %v, want 503 and Connection: close", resp.StatusCode, resp.Close)
	}
}

// A mode change drops pooled keep-alive connections, so the next request
// on the same client sees the new mode.
func TestModeChangeDropsKeptAliveConnections(t *testing.T) {
	checkGoroutines(t)
	u := startUpstream(t)
	p := startProxy(t, u, Setting{})
	c := client(t, 5*time.Second)
	if status, _, err := get(t, c, p); err != nil || status != 200 {
		t.Fatalf("pass: status %d err %v", status, err)
	}
	mustSet(t, p, Setting{Mode: ModeHTTP5xx, Status: 500})
	waitFor(t, func() bool { return p.Stats().Dropped >= 1 })
	// The transport may still try its pooled connection once, find it
	// closed and retry the idempotent GET on a new one.
	status, _, err := get(t, c, p)
	if err != nil || status != 500 {
		t.Fatalf("after switch: status %d err %v, want 500", status, err)
	}
	mustSet(t, p, Setting{})
	if status, _, err := get(t, c, p); err != nil || status != 200 {
		t.Fatalf("back to pass: status %d err %v", status, err)
	}
	if n := u.requests.Load(); n != 2 {
		t.Errorf("upstream saw %d requests, want 2", n)
	}
}

// deadAddr returns a 127.0.0.1 address that refuses connections for the
// rest of the test: a socket bound to it but not listening holds the port,
// so no other test can start listening there (a listener closed at once,
// as this test used, freed its port for whoever asked next).
func deadAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

func TestUpstreamDownInPassIsReset(t *testing.T) {
	checkGoroutines(t)
	p, err := New(Config{Upstream: deadAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := dialAndRead(p.Addr()); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("dial and read: %v, want ECONNRESET", err)
	}
	if st := p.Stats(); st.DialErrors != 1 {
		t.Errorf("DialErrors = %d, want 1", st.DialErrors)
	}
}

func TestSettingValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Setting
		ok   bool
	}{
		{"pass", Setting{Mode: ModePass}, true},
		{"delay", Setting{Mode: ModeDelay, Delay: time.Second}, true},
		{"delay without duration", Setting{Mode: ModeDelay}, false},
		{"5xx default", Setting{Mode: ModeHTTP5xx}, true},
		{"5xx 599", Setting{Mode: ModeHTTP5xx, Status: 599}, true},
		{"5xx 404", Setting{Mode: ModeHTTP5xx, Status: 404}, false},
		{"unknown", Setting{Mode: "drop"}, false},
		{"empty is pass", Setting{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.s.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestSetAfterClose(t *testing.T) {
	u := startUpstream(t)
	p := startProxy(t, u, Setting{})
	p.Close()
	if err := p.Set(Setting{Mode: ModeReset}); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Close: %v, want ErrClosed", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Error("dial after Close succeeded")
	}
}

// dialAndRead connects to addr, sends an HTTP request and reads one
// byte. A reset can surface at connect (when the RST arrives before the
// connect completes) or at the read; both are returned.
// dialAndRead sends a request on a new connection and reads one byte. A
// reset that arrives before the request is written is reported by the
// write (and a read after it sees EOF), so the write's error counts too.
func dialAndRead(addr string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	_, err = conn.Read(make([]byte, 1))
	return err
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
