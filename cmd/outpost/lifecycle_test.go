package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const lifecyclePolicy = `actor User {}
resource Repo {
  roles = ["reader", "admin"];
  permissions = ["read", "delete"];
  "reader" if "admin";
  "read" if "reader";
  "delete" if "admin";
}`

// runningNode is a node started in-process with serve.
type runningNode struct {
	url    string
	cancel context.CancelFunc
	done   chan error
}

func startNode(t *testing.T, args ...string) *runningNode {
	t.Helper()
	return startNodeLog(t, slog.New(slog.DiscardHandler), args...)
}

func startNodeLog(t *testing.T, log *slog.Logger, args ...string) *runningNode {
	t.Helper()
	c, err := parseConfig(append([]string{"--listen", "127.0.0.1:0", "--auth", "none", "--checkpoint-interval", "1s"}, args...), env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	n := &runningNode{cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- serve(ctx, c, log, func(a string) { addr <- a }) }()
	select {
	case a := <-addr:
		n.url = "http://" + a
	case err := <-n.done:
		cancel()
		t.Fatalf("node did not start: %v", err)
	}
	t.Cleanup(func() { n.stop(t) })
	waitFor(t, 10*time.Second, func() bool {
		resp, err := http.Get(n.url + "/healthcheck")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return n
}

// stop shuts the node down gracefully (a final checkpoint is written).
func (n *runningNode) stop(t *testing.T) {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("node stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("node did not stop within 15 s")
	}
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *runningNode) status(t *testing.T) (digest string, revision uint64) {
	t.Helper()
	resp, err := http.Get(n.url + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Digest   string `json:"digest"`
		Revision uint64 `json:"revision"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s.Digest, s.Revision
}

func (n *runningNode) allowed(t *testing.T, user, action, repo string) bool {
	t.Helper()
	body := fmt.Sprintf(`{"actor_type":"User","actor_id":%q,"action":%q,"resource_type":"Repo","resource_id":%q}`, user, action, repo)
	resp, err := http.Post(n.url+"/api/authorize", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct{ Allowed bool }
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&a) != nil {
		t.Fatalf("authorize answered %d", resp.StatusCode)
	}
	return a.Allowed
}

// writeDevInputs writes a policy and an events file granting users roles.
func writeDevInputs(t *testing.T, dir string, users int) (policy, events string) {
	t.Helper()
	policy = filepath.Join(dir, "main.polar")
	events = filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(policy, []byte(lifecyclePolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for i := 0; i < users; i++ {
		role := "reader"
		if i%3 == 0 {
			role = "admin"
		}
		fmt.Fprintf(&b, `{"env":"default","seq":1,"kind":"batch","inserts":[{"predicate":"has_role","args":[{"type":"User","id":"u%d"},{"type":"String","id":%q},{"type":"Repo","id":"r%d"}]}]}`+"\n", i, role, i%7)
	}
	if err := os.WriteFile(events, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return policy, events
}

// TestRestartFromCheckpointWithoutNetwork: a node restarted with its data
// directory answers exactly as before, with the same digest, with no
// control plane configured at all.
func TestRestartFromCheckpointWithoutNetwork(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	policy, events := writeDevInputs(t, dir, 50)
	n := startNode(t, "--policy", policy, "--events", events, "--directory", data)
	digest, rev := n.status(t)
	want := map[string]bool{}
	for i := 0; i < 50; i++ {
		key := fmt.Sprintf("u%d delete r%d", i, i%7)
		want[key] = n.allowed(t, fmt.Sprintf("u%d", i), "delete", fmt.Sprintf("r%d", i%7))
	}
	n.stop(t)
	if files, _ := filepath.Glob(filepath.Join(data, "*.ckpt")); len(files) == 0 {
		t.Fatal("no checkpoint written on graceful shutdown")
	}

	n2 := startNode(t, "--directory", data)
	d2, r2 := n2.status(t)
	if d2 != digest || r2 != rev {
		t.Fatalf("after restart: digest %s rev %d, want %s rev %d", d2, r2, digest, rev)
	}
	for key, w := range want {
		var u, a, r string
		fmt.Sscan(key, &u, &a, &r)
		if got := n2.allowed(t, u, a, r); got != w {
			t.Errorf("%s: %v after restart, %v before", key, got, w)
		}
	}
}

// TestExportImportInspect: --export from a data directory with no network,
// inspect the file, and start a fresh node from it with --import.
func TestExportImportInspect(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	policy, events := writeDevInputs(t, dir, 20)
	n := startNode(t, "--policy", policy, "--events", events, "--directory", data)
	digest, _ := n.status(t)
	n.stop(t)

	file := filepath.Join(dir, "site.ckpt")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--directory", data, "--export", file}, env(nil), &out, &errb); code != 0 {
		t.Fatalf("export exited %d: %s", code, errb.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"inspect", file}, env(nil), &out, &errb); code != 0 {
		t.Fatalf("inspect exited %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), digest) || !strings.Contains(out.String(), "verified: true") {
		t.Errorf("inspect output lacks the digest or verification:\n%s", out.String())
	}

	cold := startNode(t, "--directory", filepath.Join(dir, "cold"), "--import", file)
	if d, _ := cold.status(t); d != digest {
		t.Fatalf("imported node digest %s, want %s", d, digest)
	}

	bad := filepath.Join(dir, "bad.ckpt")
	os.WriteFile(bad, []byte("not a checkpoint"), 0o644)
	errb.Reset()
	if code := run(context.Background(), []string{"inspect", bad}, env(nil), &out, &errb); code == 0 || !strings.Contains(errb.String(), "not a checkpoint file") {
		t.Errorf("inspect of a bad file: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"--directory", filepath.Join(dir, "none"), "--export", filepath.Join(dir, "x.ckpt")}, env(nil), &out, &errb); code == 0 || !strings.Contains(errb.String(), "no valid checkpoint") {
		t.Errorf("export without state: exit %d, %q", code, errb.String())
	}
}

// TestFallsBackToPreviousCheckpoint: a corrupt newest checkpoint is skipped.
func TestFallsBackToPreviousCheckpoint(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	policy, events := writeDevInputs(t, dir, 10)
	n := startNode(t, "--policy", policy, "--events", events, "--directory", data)
	digest, _ := n.status(t)
	n.stop(t)
	files, _ := filepath.Glob(filepath.Join(data, "*.ckpt"))
	if len(files) != 1 {
		t.Fatalf("want one checkpoint, have %v", files)
	}
	// a newer checkpoint name holding garbage
	newer := filepath.Join(data, "checkpoint-ffffffffffffffff-0000000000000000.ckpt")
	os.WriteFile(newer, bytes.Repeat([]byte{0}, 4096), 0o644)
	n2 := startNode(t, "--directory", data)
	if d, _ := n2.status(t); d != digest {
		t.Fatalf("digest %s, want %s from the previous checkpoint", d, digest)
	}
}

// TestNoStateNamesAllThreeOptions: with nothing to start from, the node
// exits with one message naming the control plane, the data directory and
// --import.
func TestNoStateNamesAllThreeOptions(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--directory", t.TempDir()}, env(nil), &out, &errb)
	msg := errb.String()
	if code == 0 || !strings.Contains(msg, "control plane") || !strings.Contains(msg, "no valid checkpoint") || !strings.Contains(msg, "--import") {
		t.Fatalf("exit %d, stderr %q", code, msg)
	}
}

func TestHealthcheckCommand(t *testing.T) {
	dir := t.TempDir()
	policy, events := writeDevInputs(t, dir, 3)
	n := startNode(t, "--policy", policy, "--events", events, "--directory", filepath.Join(dir, "data"))
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"healthcheck", "--url", n.url + "/healthcheck"}, env(nil), &out, &errb); code != 0 {
		t.Fatalf("healthy node: exit %d, %s", code, errb.String())
	}
	n.stop(t)
	if code := run(context.Background(), []string{"healthcheck", "--url", n.url + "/healthcheck", "--timeout", "500ms"}, env(nil), &out, &errb); code != 1 {
		t.Fatalf("stopped node: exit %d", code)
	}
}

func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"version"}, env(nil), &out, io.Discard); code != 0 || !strings.Contains(out.String(), "outpost dev (commit unknown, go1.") {
		t.Fatalf("version: exit %d, %q", code, out.String())
	}
}
