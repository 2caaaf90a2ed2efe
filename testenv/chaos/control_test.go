package chaos

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

func control(t testing.TB, srv *httptest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, path, b, err)
	}
	return resp.StatusCode, m
}

func TestControlAPI(t *testing.T) {
	checkGoroutines(t)
	u := startUpstream(t)
	p := startProxy(t, u, Setting{})
	srv := httptest.NewServer(p.ControlHandler())
	defer srv.Close()

	status, m := control(t, srv, "GET", "/mode", "")
	if status != 200 || m["mode"] != "pass" || m["listen"] != p.Addr() || m["upstream"] != u.addr() {
		t.Fatalf("GET /mode: %d %v", status, m)
	}

	for _, tc := range []struct {
		name, method, body string
		want               Setting
	}{
		{"refuse", "PUT", `{"mode":"refuse"}`, Setting{Mode: ModeRefuse}},
		{"delay string", "POST", `{"mode":"delay","delay":"1.5s"}`, Setting{Mode: ModeDelay, Delay: 1500 * time.Millisecond}},
		{"delay ms", "PUT", `{"mode":"delay","delay_ms":250}`, Setting{Mode: ModeDelay, Delay: 250 * time.Millisecond}},
		{"5xx", "PUT", `{"mode":"http5xx","status":500}`, Setting{Mode: ModeHTTP5xx, Status: 500}},
		{"5xx default", "PUT", `{"mode":"http5xx"}`, Setting{Mode: ModeHTTP5xx, Status: 503}},
		{"hang", "PUT", `{"mode":"hang"}`, Setting{Mode: ModeHang}},
		{"reset", "PUT", `{"mode":"reset"}`, Setting{Mode: ModeReset}},
		{"echo of GET", "PUT", `{"mode":"pass","listen":"x","upstream":"y"}`, Setting{Mode: ModePass}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, m := control(t, srv, tc.method, "/mode", tc.body)
			if status != 200 {
				t.Fatalf("status %d: %v", status, m)
			}
			if got := p.Setting(); got != tc.want {
				t.Errorf("setting %+v, want %+v", got, tc.want)
			}
			if m["mode"] != string(tc.want.Mode) {
				t.Errorf("answer %v", m)
			}
		})
	}

	for _, tc := range []struct{ name, body string }{
		{"unknown mode", `{"mode":"drop"}`},
		{"delay without duration", `{"mode":"delay"}`},
		{"bad duration", `{"mode":"delay","delay":"soon"}`},
		{"4xx status", `{"mode":"http5xx","status":404}`},
		{"unknown field", `{"mode":"pass","color":"red"}`},
		{"not json", `pass`},
	} {
		t.Run("bad "+tc.name, func(t *testing.T) {
			before := p.Setting()
			status, m := control(t, srv, "PUT", "/mode", tc.body)
			if status != 400 || m["message"] == "" {
				t.Errorf("status %d body %v, want 400 with a message", status, m)
			}
			if p.Setting() != before {
				t.Errorf("setting changed to %+v", p.Setting())
			}
		})
	}

	if status, m := control(t, srv, "PUT", "/mode", `{"mode":"refuse"}`); status != 200 {
		t.Fatalf("refuse: %d %v", status, m)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after PUT refuse: %v", err)
	}

	status, m = control(t, srv, "GET", "/stats", "")
	if status != 200 || m["reopened"] == nil || m["dropped"] == nil {
		t.Errorf("GET /stats: %d %v", status, m)
	}
	if status, _ := control(t, srv, "GET", "/healthcheck", ""); status != 200 {
		t.Errorf("healthcheck: %d", status)
	}
	if status, m := control(t, srv, "GET", "/nope", ""); status != 404 || m["message"] == "" {
		t.Errorf("unknown path: %d %v", status, m)
	}
	if status, m := control(t, srv, "DELETE", "/mode", ""); status != 405 || m["message"] == "" {
		t.Errorf("DELETE /mode: %d %v", status, m)
	}
}
