package snapshotter_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// TestForeignEnvironmentCheckpoints: a directory already holds checkpoints
// of environment demo whose names sort after this node's (higher seqs). A
// node for environment other must keep its own checkpoints (retention
// counts only its environment's), leave demo's alone, name only existing
// files in Status, and find its checkpoint again after a restart (#17
// item 4). Before the fix the node pruned its own checkpoint at once.
func TestForeignEnvironmentCheckpoints(t *testing.T) {
	dir := t.TempDir()
	demo, err := snapshotter.OpenStore(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	demoState := replica.New(replica.Config{Env: "demo"})
	var demoPaths []string
	for i := range 2 {
		// Revisions 20 and 21: the names sort after everything "other"
		// writes here.
		for demoState.Revision() < uint64(20+i) {
			ev := replica.Event{Env: "demo", Seq: demoState.Revision() + 1, Kind: replica.KindBatch,
				Inserts: []replica.Fact{{Predicate: "g", Args: []replica.Value{val("B", strings.Repeat("b", int(demoState.Revision())+1))}}}}
			if err := demoState.Apply(ev); err != nil {
				t.Fatal(err)
			}
		}
		h := testHeader()
		h.Env = "demo"
		h.Created = testCreated.Add(time.Duration(i) * time.Second)
		p, _, err := demo.Save(export(demoState), h)
		if err != nil {
			t.Fatal(err)
		}
		demoPaths = append(demoPaths, p)
	}

	st := replica.New(replica.Config{Env: "other"})
	apply := func() {
		t.Helper()
		ev := replica.Event{Env: "other", Seq: st.Revision() + 1, Kind: replica.KindBatch,
			Inserts: []replica.Fact{{Predicate: "f", Args: []replica.Value{val("A", "x")}}}}
		if st.Revision() > 0 {
			ev.Inserts[0].Args[0].ID = strings.Repeat("y", int(st.Revision()))
		}
		if err := st.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	capture := func() (*replica.Export, replica.Position) {
		ex := export(st)
		return ex, replica.Position{Seq: ex.Revision(), KafkaOffset: -1}
	}
	var logs bytes.Buffer
	open := func() *snapshotter.Snapshotter {
		t.Helper()
		s, err := snapshotter.New(snapshotter.Config{Dir: dir, Interval: time.Hour, Keep: 2, Env: "other"},
			capture, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	checkStatus := func(s *snapshotter.Snapshotter, want string) {
		t.Helper()
		status := s.Status()
		p, _ := status["last_path"].(string)
		if p != want {
			t.Fatalf("status names %q, want %q (status %v)", p, want, status)
		}
		if p != "" {
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("status names a file that is gone: %v", err)
			}
		}
	}

	s := open()
	if !strings.Contains(logs.String(), "other environments") {
		t.Errorf("no warning about the foreign checkpoints; log:\n%s", logs.String())
	}
	checkStatus(s, "") // demo's files are not this node's checkpoints
	var ours []string
	for range 3 {
		apply()
		p, err := s.Checkpoint(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ours = append(ours, p)
		checkStatus(s, p)
	}
	for _, p := range append(demoPaths, ours[1:]...) {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was pruned: %v", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(ours[0]); !os.IsNotExist(err) {
		t.Errorf("the oldest of this environment's 3 checkpoints was kept (keep 2): %v", err)
	}

	// A checkpoint removed behind the node's back is not named.
	if err := os.Remove(ours[2]); err != nil {
		t.Fatal(err)
	}
	checkStatus(s, ours[1])

	// Restart: the node's newest checkpoint is found, loads, and is named.
	s = open()
	checkStatus(s, ours[1])
	store, err := snapshotter.OpenStoreFor(dir, 2, "other")
	if err != nil {
		t.Fatal(err)
	}
	got, h, path, err := store.LoadLatest(replica.Config{Env: "other"}, nil)
	if err != nil || path != ours[1] || h.Env != "other" || got.Revision() != 2 {
		t.Fatalf("LoadLatest after restart: %v, %s, %+v", err, path, h)
	}
}
