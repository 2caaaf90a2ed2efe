package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestHelpListsEveryCommand: -h, --help, help and serve -h print the
// usage with every subcommand and every flag on stdout, and exit 0.
func TestHelpListsEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}, {"serve", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(t.Context(), args, env(nil), &out, &errb)
			if code != 0 || errb.Len() != 0 {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
			for _, want := range []string{"outpost [serve]", "outpost test", "outpost inspect", "outpost verify",
				"outpost healthcheck", "outpost version", "outpost help", "--export", "--import", "-control-plane-url", "OSO_PORT"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("usage lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestErrorsNameTheirSource: a bad value names the flag or the variable
// it came from, with the valid range; a missing one names both.
func TestErrorsNameTheirSource(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string
		notWant string
	}{
		{"port from env", nil, map[string]string{"OSO_PORT": "70000"}, []string{"OSO_PORT 70000", "1 to 65535"}, "--port"},
		{"port from flag", []string{"--port", "70000"}, nil, []string{"--port 70000", "1 to 65535"}, "OSO_PORT"},
		{"flag wins over env", []string{"--port", "0"}, map[string]string{"OSO_PORT": "8080"}, []string{"--port 0"}, "OSO_PORT"},
		{"log level from env", nil, map[string]string{"OSO_LOG_LEVEL": "loud"}, []string{`OSO_LOG_LEVEL "loud"`, "error, warn, info or debug"}, ""},
		{"api key missing", nil, map[string]string{"OUTPOST_CONTROL_PLANE_URL": "http://127.0.0.1:1"}, []string{"OUTPOST_CONTROL_PLANE_URL needs an API key", "--api-token (OSO_API_TOKEN)"}, ""},
		{"api key missing, flags", []string{"--control-plane-url", "http://127.0.0.1:1"}, nil, []string{"--control-plane-url needs an API key", "--api-token (OSO_API_TOKEN)"}, ""},
		{"missing broker names both", []string{"--source", "kafka"}, nil, []string{"--source kafka needs --kafka-brokers (OUTPOST_KAFKA_BROKERS)"}, ""},
		{"source from env", nil, map[string]string{"OUTPOST_SOURCE": "nats"}, []string{"OUTPOST_SOURCE nats needs --nats-url (OUTPOST_NATS_URL)"}, ""},
		{"prefix is not confused", []string{"--consistency", "eventual"}, map[string]string{"OUTPOST_CONSISTENCY_WAIT": "1s"}, []string{`--consistency "eventual"`}, "OUTPOST_CONSISTENCY_WAIT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(t.Context(), tc.args, env(tc.env), &out, &errb)
			msg := errb.String()
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("stderr %q lacks %q", msg, w)
				}
			}
			if tc.notWant != "" && strings.Contains(msg, tc.notWant) {
				t.Errorf("stderr %q names %q", msg, tc.notWant)
			}
			if strings.Count(msg, "\n") > 3 {
				t.Errorf("stderr is more than the error: %q", msg)
			}
		})
	}
	// log levels in any case are accepted
	for _, lv := range []string{"ERROR", "Warn", " info ", "DEBUG"} {
		if _, err := parseConfig(nil, env(map[string]string{"OSO_LOG_LEVEL": lv}), &bytes.Buffer{}); err != nil {
			t.Errorf("OSO_LOG_LEVEL=%q: %v", lv, err)
		}
	}
}

// TestImportChoosesTheNewestState: --import with a local checkpoint
// starts from whichever has the higher seq, and logs one line saying
// which and why; an unusable import file does not stop a node that has a
// local checkpoint.
func TestImportChoosesTheNewestState(t *testing.T) {
	dir := t.TempDir()
	small, big := filepath.Join(dir, "small"), filepath.Join(dir, "big")
	policy, events := writeDevInputs(t, filepath.Join(mkdir(t, dir, "in-small")), 5)
	n := startNode(t, "--policy", policy, "--events", events, "--directory", small)
	smallDigest, smallRev := n.status(t)
	n.stop(t)
	policy, events = writeDevInputs(t, filepath.Join(mkdir(t, dir, "in-big")), 30)
	n = startNode(t, "--policy", policy, "--events", events, "--directory", big)
	bigDigest, bigRev := n.status(t)
	n.stop(t)
	if bigRev <= smallRev {
		t.Fatalf("setup: revisions %d and %d", smallRev, bigRev)
	}
	export := func(data, file string) {
		var errb bytes.Buffer
		if code := run(t.Context(), []string{"--directory", data, "--export", file}, env(nil), &bytes.Buffer{}, &errb); code != 0 {
			t.Fatalf("export: %s", errb.String())
		}
	}
	smallFile, bigFile := filepath.Join(dir, "small.ckpt"), filepath.Join(dir, "big.ckpt")
	export(small, smallFile)
	export(big, bigFile)
	garbage := filepath.Join(dir, "garbage.ckpt")
	os.WriteFile(garbage, []byte("not a checkpoint"), 0o644)

	cases := []struct {
		name       string
		data, file string // data is copied so each case starts alike
		wantDigest string
		wantFrom   string
		wantWhy    string
	}{
		{"newer import wins", small, bigFile, bigDigest, "import", "newer than the local checkpoint's"},
		{"older import is not used", big, smallFile, bigDigest, "checkpoint", "the import file is not used"},
		{"equal seq keeps local", small, smallFile, smallDigest, "checkpoint", "the import file is not used"},
		{"no local checkpoint", "", smallFile, smallDigest, "import", "no checkpoint"},
		{"damaged import, local used", small, garbage, smallDigest, "checkpoint", "cannot be used"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			if tc.data != "" {
				copyDir(t, tc.data, data)
			}
			var logs syncBuffer
			n := startNodeLog(t, newLogger(&logs, "info"), "--directory", data, "--import", tc.file)
			if d, _ := n.status(t); d != tc.wantDigest {
				t.Errorf("digest %s, want %s", d, tc.wantDigest)
			}
			var lines []map[string]any
			for _, l := range strings.Split(logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && strings.HasPrefix(m["msg"].(string), "starting from the") {
					lines = append(lines, m)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("want one 'starting from' line, logs:\n%s", logs.String())
			}
			if why, _ := lines[0]["why"].(string); !strings.Contains(why, tc.wantWhy) {
				t.Errorf("why %q lacks %q", why, tc.wantWhy)
			}
			wantMsg := map[string]string{"import": "--import file", "checkpoint": "local checkpoint"}[tc.wantFrom]
			if !strings.Contains(lines[0]["msg"].(string), wantMsg) {
				t.Errorf("line %v does not name the %s", lines[0], wantMsg)
			}
		})
	}
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	p := filepath.Join(parent, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInspectDamagedFileShowsHeader: a truncated checkpoint still shows
// the header inspect could read, then where decoding stopped; exit 1.
func TestInspectDamagedFileShowsHeader(t *testing.T) {
	dir := t.TempDir()
	policy, events := writeDevInputs(t, dir, 20)
	data := filepath.Join(dir, "data")
	n := startNode(t, "--policy", policy, "--events", events, "--directory", data)
	_, rev := n.status(t)
	n.stop(t)
	files, _ := filepath.Glob(filepath.Join(data, "*.ckpt"))
	if len(files) == 0 {
		t.Fatal("no checkpoint")
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.ckpt")
	os.WriteFile(cut, b[:len(b)*2/3], 0o644)
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"inspect", cut}, env(nil), &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"environment:   default", "revision:      " + strconv.FormatUint(rev, 10), "damaged:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestLifecycleLinesAtDefaultLevel: at the default log level (error) a
// node still says it is listening (with its version), serving (with fact
// count and load time) and stopped, one line each, tagged with the node's
// address; a fatal error is printed once.
func TestLifecycleLinesAtDefaultLevel(t *testing.T) {
	dir := t.TempDir()
	policy, events := writeDevInputs(t, dir, 5)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--listen", addr, "--auth", "none", "--policy", policy, "--events", events,
			"--directory", filepath.Join(dir, "data")}, env(nil), io.Discard, &logs)
	}()
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(logs.String(), `"msg":"serving"`) })
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, logs.String())
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	want := []string{"listening", "serving", "stopped"}
	if len(lines) != len(want) {
		t.Fatalf("want %d lines, got:\n%s", len(want), logs.String())
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["msg"] != want[i] || m["level"] != "NOTICE" || m["node"] != addr {
			t.Errorf("line %d: %s", i, l)
		}
	}
	for _, w := range []string{`"version":"dev"`, `"facts":5`, `"load_duration":"`} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("logs lack %s:\n%s", w, logs.String())
		}
	}

	// a fatal error: printed once, no "listening" line
	var errb syncBuffer
	bad := filepath.Join(dir, "file")
	os.WriteFile(bad, nil, 0o644)
	code := run(t.Context(), []string{"--listen", "127.0.0.1:0", "--directory", filepath.Join(bad, "sub")}, env(nil), io.Discard, &errb)
	if code != 1 || strings.Count(errb.String(), "\n") != 1 || strings.Contains(errb.String(), "listening") {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	// nothing to start from: the same, without a "listening" line
	errb = syncBuffer{}
	code = run(t.Context(), []string{"--listen", "127.0.0.1:0", "--directory", filepath.Join(dir, "empty")}, env(nil), io.Discard, &errb)
	if code != 1 || strings.Count(errb.String(), "\n") != 1 || !strings.Contains(errb.String(), "no state to serve") {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
}

// TestHealthcheckFindsTheNode: `outpost healthcheck` in a container asks
// the address PID 1 serves on, from its flags and environment.
func TestHealthcheckFindsTheNode(t *testing.T) {
	cases := []struct {
		name    string
		cmdline []string // nil: no such process
		environ []string
		ownEnv  map[string]string
		want    string
	}{
		{"default", nil, nil, nil, "http://127.0.0.1:8080/healthcheck"},
		{"own OSO_PORT", nil, nil, map[string]string{"OSO_PORT": "9999"}, "http://127.0.0.1:9999/healthcheck"},
		{"node's OSO_PORT", []string{"/usr/local/bin/outpost"}, []string{"OSO_PORT=7070"}, map[string]string{"OSO_PORT": "9999"}, "http://127.0.0.1:7070/healthcheck"},
		{"--port wins", []string{"outpost", "--port", "9090"}, []string{"OSO_PORT=7070"}, nil, "http://127.0.0.1:9090/healthcheck"},
		{"OUTPOST_LISTEN", []string{"/usr/local/bin/outpost"}, []string{"OSO_PORT=7070", "OUTPOST_LISTEN=0.0.0.0:8181"}, nil, "http://127.0.0.1:8181/healthcheck"},
		{"serve --listen host", []string{"outpost", "serve", "--listen", "10.1.2.3:8282"}, nil, nil, "http://10.1.2.3:8282/healthcheck"},
		{"--listen :port", []string{"outpost", "-listen=:8383"}, nil, nil, "http://127.0.0.1:8383/healthcheck"},
		{"--listen [::]", []string{"outpost", "--listen", "[::]:8585"}, nil, nil, "http://127.0.0.1:8585/healthcheck"},
		{"PID 1 is not outpost", []string{"/bin/sh", "-c", "outpost --port 1"}, []string{"OSO_PORT=1"}, map[string]string{"OUTPOST_LISTEN": ":8484"}, "http://127.0.0.1:8484/healthcheck"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proc := filepath.Join(t.TempDir(), "1")
			if tc.cmdline != nil {
				mkdir(t, proc, ".")
				os.WriteFile(filepath.Join(proc, "cmdline"), []byte(strings.Join(tc.cmdline, "\x00")+"\x00"), 0o644)
				os.WriteFile(filepath.Join(proc, "environ"), []byte(strings.Join(tc.environ, "\x00")), 0o644)
			}
			if got := healthURL(proc, env(tc.ownEnv)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
