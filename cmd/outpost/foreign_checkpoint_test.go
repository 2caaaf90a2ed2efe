package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/snapshotter"
)

// TestForeignCheckpointDirectory (#17 item 4): a data directory already
// holds two checkpoints of environment demo whose names sort after
// anything environment other writes (higher seqs). A node for other must
// keep its own checkpoint, leave demo's alone, name an existing file in
// /status, and start again from its checkpoint after a restart. Before the
// fix it pruned its own checkpoint at once, and the restart found no state.
func TestForeignCheckpointDirectory(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	policy, events50 := writeDevInputs(t, dir, 50)
	events60 := filepath.Join(dir, "events60.jsonl")
	{
		_, e := writeDevInputs(t, t.TempDir(), 60)
		b, err := os.ReadFile(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(events60, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []string{events50, events60} {
		n := startNode(t, "--environment", "demo", "--policy", policy, "--events", ev, "--directory", data)
		n.stop(t) // a final checkpoint at revision 51, then 61
	}
	demo, _ := filepath.Glob(filepath.Join(data, "*.ckpt"))
	if len(demo) != 2 {
		t.Fatalf("%d demo checkpoints, want 2: %v", len(demo), demo)
	}

	n := startNode(t, "--environment", "other", "--policy", policy, "--directory", data)
	digest, rev := n.status(t)
	lastPath := func(n *runningNode) string {
		t.Helper()
		resp, err := http.Get(n.url + "/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s struct {
			Checkpoint struct {
				LastPath string `json:"last_path"`
			} `json:"checkpoint"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return s.Checkpoint.LastPath
	}
	var written string
	waitFor(t, 30*time.Second, func() bool { written = lastPath(n); return written != "" })
	n.stop(t)
	for _, p := range append(demo, written) {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("checkpoint %s is gone: %v", filepath.Base(p), err)
		}
	}

	n2 := startNode(t, "--environment", "other", "--directory", data)
	if d, r := n2.status(t); d != digest || r != rev {
		t.Fatalf("after restart: digest %s revision %d, want %s %d", d, r, digest, rev)
	}
	p := lastPath(n2)
	if p == "" {
		t.Fatal("/status names no checkpoint after the restart")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("/status names %s, which is gone: %v", p, err)
	}
	store, err := snapshotter.OpenStoreFor(data, 2, "other")
	if err != nil {
		t.Fatal(err)
	}
	if own, _ := store.Own(); len(own) == 0 {
		t.Error("no checkpoint of environment other in the directory")
	}
}
