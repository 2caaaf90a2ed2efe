package main

import (
	"bufio"
	"context"
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

func TestRunProxiesAndSwitchesModes(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream")
	}))
	defer up.Close()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-upstream", strings.TrimPrefix(up.URL, "http://")}, pw, &stderr)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	urls := map[string]string{}
	for len(urls) < 2 && lines.Scan() {
		f := strings.Fields(lines.Text())
		urls[f[0]] = f[1]
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Get(urls["proxy"] + "/")
	if err != nil {
		t.Fatalf("GET through proxy: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "upstream" {
		t.Fatalf("body %q", b)
	}

	req, _ := http.NewRequest("PUT", urls["control"]+"/mode", strings.NewReader(`{"mode":"refuse"}`))
	resp, err = c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT /mode: %v %v", resp, err)
	}
	resp.Body.Close()
	addr := strings.TrimPrefix(urls["proxy"], "http://")
	if _, err := net.DialTimeout("tcp", addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after refuse: %v", err)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit status %d, stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"no upstream", nil, 2},
		{"bad mode", []string{"-upstream", "127.0.0.1:1", "-mode", "drop"}, 2},
		{"delay without duration", []string{"-upstream", "127.0.0.1:1", "-mode", "delay"}, 2},
		{"bad flag", []string{"-nope"}, 2},
		{"extra args", []string{"-upstream", "127.0.0.1:1", "x"}, 2},
		{"bad listen", []string{"-upstream", "127.0.0.1:1", "-listen", "256.0.0.1:0"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			if got := run(t.Context(), tc.args, &out, &errOut); got != tc.want {
				t.Fatalf("run(%q) = %d, want %d; stderr:\n%s", tc.args, got, tc.want, errOut.String())
			}
		})
	}
}
