package snapshotter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// syncBuffer is a log sink safe for concurrent writes.
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

// checkGoroutines fails the test if goroutines started during it are
// still running at its end.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}

type loopFixture struct {
	st   *replica.State
	reg  *prometheus.Registry
	logs *syncBuffer
	snap *snapshotter.Snapshotter
	dir  string

	mu       sync.Mutex
	captures int
}

func newLoop(t *testing.T, cfg snapshotter.Config) *loopFixture {
	t.Helper()
	f := &loopFixture{st: replica.New(replica.Config{Env: "test"}), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	f.dir = cfg.Dir
	cfg.Registerer, cfg.Env = f.reg, "test"
	capture := func() (*replica.Export, replica.Position) {
		f.mu.Lock()
		f.captures++
		f.mu.Unlock()
		ex := export(f.st)
		return ex, replica.Position{Seq: ex.Revision(), KafkaOffset: int64(ex.Revision()) + 100}
	}
	var err error
	f.snap, err = snapshotter.New(cfg, capture, slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *loopFixture) apply(t *testing.T, facts ...replica.Fact) {
	t.Helper()
	ev := replica.Event{Env: "test", Seq: f.st.Revision() + 1, Kind: replica.KindBatch, Inserts: facts}
	if err := f.st.Apply(ev); err != nil {
		t.Fatal(err)
	}
}

// writes returns the number of checkpoints written (the duration
// histogram's sample count) and failures, from the test's registry.
func (f *loopFixture) metrics(t *testing.T) (writes, failures uint64, age float64, size float64) {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		switch mf.GetName() {
		case "outpost_checkpoint_duration_seconds":
			writes = m.GetHistogram().GetSampleCount()
		case "outpost_checkpoint_failures_total":
			failures = uint64(m.GetCounter().GetValue())
		case "outpost_checkpoint_age_seconds":
			age = m.GetGauge().GetValue()
		case "outpost_checkpoint_bytes":
			size = m.GetGauge().GetValue()
		}
	}
	return
}

func (f *loopFixture) newest(t *testing.T) snapshotter.Entry {
	t.Helper()
	list, err := f.snap.Store().List()
	if err != nil || len(list) == 0 {
		return snapshotter.Entry{}
	}
	return list[len(list)-1]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunWritesOnlyWhenRevisionMoves(t *testing.T) {
	checkGoroutines(t)
	f := newLoop(t, snapshotter.Config{Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.snap.Run(ctx) }()

	// Revision 0 with no checkpoint: nothing worth writing.
	waitFor(t, "a few ticks", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.captures >= 3 })
	if w, _, _, _ := f.metrics(t); w != 0 {
		t.Fatalf("%d checkpoints of an empty revision-0 state", w)
	}

	f.apply(t, replica.Fact{Predicate: "member", Args: []replica.Value{val("User", "ana"), val("Org", "acme")}})
	waitFor(t, "checkpoint of revision 1", func() bool { return f.newest(t).Seq == 1 })
	// Many idle ticks write nothing more.
	f.mu.Lock()
	c0 := f.captures
	f.mu.Unlock()
	waitFor(t, "idle ticks", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.captures >= c0+5 })
	if w, _, _, _ := f.metrics(t); w != 1 {
		t.Fatalf("%d checkpoints; want 1 while the revision stays at 1", w)
	}

	f.apply(t, replica.Fact{Predicate: "member", Args: []replica.Value{val("User", "bob"), val("Org", "acme")}})
	waitFor(t, "checkpoint of revision 2", func() bool { return f.newest(t).Seq == 2 })

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	writes, failures, age, size := f.metrics(t)
	if writes != 2 || failures != 0 || age < 0 || age > 10 || size <= 0 {
		t.Errorf("metrics: writes %d, failures %d, age %v, bytes %v", writes, failures, age, size)
	}
	// The newest checkpoint loads to the current state.
	st, h, _, err := f.snap.Store().LoadLatest(replica.Config{Env: "test"}, nil)
	if err != nil || digestOf(st) != digestOf(f.st) || h.Position.KafkaOffset != 102 {
		t.Fatalf("LoadLatest: %v, header %+v", err, h)
	}
}

func TestRunWritesOnShutdown(t *testing.T) {
	checkGoroutines(t)
	f := newLoop(t, snapshotter.Config{Interval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.snap.Run(ctx) }()
	f.apply(t, replica.Fact{Predicate: "is_public", Args: []replica.Value{val("Repo", "x")}})
	f.apply(t, replica.Fact{Predicate: "is_public", Args: []replica.Value{val("Repo", "y")}})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if e := f.newest(t); e.Seq != 2 {
		t.Fatalf("newest checkpoint after shutdown: %+v; want revision 2", e)
	}

	// A restarted snapshotter knows the checkpoint and does not rewrite it
	// at shutdown when nothing changed.
	g := newLoop(t, snapshotter.Config{Dir: f.dir, Interval: time.Hour})
	g.st = f.st
	ctx, cancel = context.WithCancel(t.Context())
	go func() { done <- g.snap.Run(ctx) }()
	cancel()
	<-done
	if w, _, _, _ := g.metrics(t); w != 0 {
		t.Errorf("restarted snapshotter wrote %d checkpoints of an unchanged revision", w)
	}
	if st := g.snap.Status(); st["revision"] != uint64(2) {
		t.Errorf("status after restart: %v", st)
	}
}

func TestCheckpointAndStatus(t *testing.T) {
	f := newLoop(t, snapshotter.Config{Interval: time.Hour, Keep: 3})
	st := f.snap.Status()
	if _, ok := st["last_path"]; ok || st["last_error"] != nil || st["keep"] != 3 {
		t.Fatalf("status before any checkpoint: %v", st)
	}
	f.apply(t, replica.Fact{Predicate: "f", Args: []replica.Value{val("A", "1")}})
	var paths []string
	for range 4 { // forced: written even though the revision stays
		p, err := f.snap.Checkpoint(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	if list, _ := f.snap.Store().List(); len(list) != 3 {
		t.Errorf("kept %d checkpoints, want 3", len(list))
	}
	st = f.snap.Status()
	if st["last_path"] != paths[3] || st["revision"] != uint64(1) || st["bytes"].(int64) <= 0 ||
		st["age_seconds"].(float64) < 0 || st["duration_seconds"].(float64) <= 0 {
		t.Errorf("status: %v", st)
	}
	if _, err := json.Marshal(st); err != nil {
		t.Errorf("status does not marshal: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.snap.Checkpoint(ctx); err == nil {
		t.Error("Checkpoint with a cancelled context succeeded")
	}
}

// TestRunRecoversFromFailures breaks the checkpoint directory (replaces it
// with a file), then repairs it: one log line when failing starts, one when
// it recovers, retries with backoff in between.
func TestRunRecoversFromFailures(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir() + "/ckpt"
	f := newLoop(t, snapshotter.Config{Dir: dir, Interval: 20 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.snap.Run(ctx) }()
	f.apply(t, replica.Fact{Predicate: "f", Args: []replica.Value{val("A", "1")}})
	waitFor(t, "several failures", func() bool { _, n, _, _ := f.metrics(t); return n >= 5 })
	if st := f.snap.Status(); st["last_error"] == nil || st["consecutive_failures"].(int) < 5 {
		t.Errorf("status while failing: %v", st)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recovery", func() bool { return f.newest(t).Seq == 1 })
	cancel()
	<-done
	logs := f.logs.String()
	if n := strings.Count(logs, "checkpoints are failing"); n != 1 {
		t.Errorf("%d 'failing' lines, want 1:\n%s", n, logs)
	}
	if n := strings.Count(logs, "checkpoints recovered"); n != 1 {
		t.Errorf("%d 'recovered' lines, want 1:\n%s", n, logs)
	}
	if st := f.snap.Status(); st["last_error"] != nil || st["consecutive_failures"] != 0 {
		t.Errorf("status after recovery: %v", st)
	}
}

// TestCapturePanicIsAFailure: a panic while capturing becomes a failed
// checkpoint, not a crash.
func TestCapturePanicIsAFailure(t *testing.T) {
	s, err := snapshotter.New(snapshotter.Config{Dir: t.TempDir()}, func() (*replica.Export, replica.Position) {
		panic("boom")
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(t.Context()); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Checkpoint: %v", err)
	}
	if st := s.Status(); st["consecutive_failures"] != 1 {
		t.Errorf("status: %v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (snapshotter.Config{}).Validate(); err == nil {
		t.Error("empty Dir accepted")
	}
	if err := (snapshotter.Config{Dir: "x", Interval: -1}).Validate(); err == nil {
		t.Error("negative interval accepted")
	}
	reg := prometheus.NewRegistry()
	capture := func() (*replica.Export, replica.Position) { return nil, replica.Position{} }
	if _, err := snapshotter.New(snapshotter.Config{Dir: t.TempDir(), Registerer: reg}, capture, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := snapshotter.New(snapshotter.Config{Dir: t.TempDir(), Registerer: reg}, capture, nil); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
}
