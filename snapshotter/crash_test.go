package snapshotter_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

const crashDirEnv = "OUTPOST_SNAPSHOTTER_CRASH_DIR"

// crashExport returns the deterministic state the crash helper checkpoints
// at revision seq: 500 to 40,000 facts over three relations, a policy and
// tokens that depend on seq.
func crashExport(tb testing.TB, seq uint64) *replica.Export {
	tb.Helper()
	l := replica.NewLoader(replica.Config{Env: "crash"})
	if err := l.SetPolicy(replica.PolicySource{Src: fmt.Sprintf("# revision %d\n%s", seq, testPolicy), Filename: "crash.polar"}); err != nil {
		tb.Fatal(err)
	}
	var toks []replica.Token
	for i := range seq % 4 {
		toks = append(toks, tokenFor(fmt.Sprintf("k%d-%d", seq, i), "read"))
	}
	if err := l.SetTokens(toks); err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seq, 99))
	n := 500 + rng.IntN(40_000)
	users := max(n/8, 1)
	repos := max(n/40, 1)
	user := make([]uint32, users)
	for i := range user {
		user[i] = l.AddValue("User", fmt.Sprintf("u%d-%d", seq%7, i))
	}
	repo := make([]uint32, repos)
	for i := range repo {
		repo[i] = l.AddValue("Repo", fmt.Sprintf("r%d", i))
	}
	roles := []uint32{l.AddValue("String", "reader"), l.AddValue("String", "admin")}
	seen := map[[4]uint32]bool{} // (relation, args) already added
	for range n {
		u, r, p := user[rng.IntN(users)], roles[rng.IntN(2)], repo[rng.IntN(repos)]
		var pred string
		var args []uint32
		switch k := rng.IntN(3); k {
		case 0:
			pred, args = "has_role", []uint32{u, r, p}
		case 1:
			pred, args = "member", []uint32{u, p}
		default:
			pred, args = "public", []uint32{p}
		}
		var key [4]uint32
		key[0] = uint32(len(args))
		copy(key[1:], args)
		if seen[key] {
			continue
		}
		seen[key] = true
		if err := l.AddFact(pred, args); err != nil {
			tb.Fatal(err)
		}
	}
	st, err := l.Finish(seq)
	if err != nil {
		tb.Fatal(err)
	}
	return export(st)
}

// TestHelperProcess is the crash test's child: it writes checkpoints of
// crashExport states in a loop, continuing from the newest revision in the
// directory, until it is killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestCrashDuringCheckpoint")
	}
	s, err := snapshotter.OpenStore(dir, 2)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	seq := uint64(1)
	if list, err := s.List(); err == nil && len(list) > 0 {
		seq = list[len(list)-1].Seq + 1
	}
	for ; ; seq++ {
		h := snapshotter.Header{Env: "crash", Position: replica.Position{Seq: seq, KafkaOffset: int64(seq) * 3, JetStreamSeq: seq * 5}}
		if _, _, err := s.Save(crashExport(t, seq), h); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

// TestCrashDuringCheckpoint kills a checkpoint-writing process with SIGKILL
// at random moments and checks after each kill that LoadLatest returns the
// state of the newest completed checkpoint, with no corrupt file ever
// listed and the revision never going back.
func TestCrashDuringCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped with -short")
	}
	dir := t.TempDir()
	const wantKills = 60
	budget := time.Now().Add(35 * time.Second)
	var last uint64
	kills, midWrite, advanced := 0, 0, 0
	for kills < wantKills && time.Now().Before(budget) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rand.IntN(180)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != -1 {
			t.Fatalf("child was not killed (%v): %s", err, stderr.String())
		}
		kills++

		des, _ := os.ReadDir(dir)
		ckpts := 0
		for _, de := range des {
			switch {
			case strings.HasSuffix(de.Name(), ".tmp"):
				midWrite++
			case strings.HasSuffix(de.Name(), ".ckpt"):
				ckpts++
			case strings.HasSuffix(de.Name(), ".corrupt"):
				t.Fatalf("a corrupt checkpoint was quarantined: %s", de.Name())
			}
		}
		if ckpts > 3 { // keep 2, plus one renamed before its prune
			t.Fatalf("%d checkpoints in the directory", ckpts)
		}

		var logs bytes.Buffer
		s, err := snapshotter.OpenStore(dir, 2)
		if err != nil {
			t.Fatal(err)
		}
		st, h, path, err := s.LoadLatest(replica.Config{Env: "crash"}, slog.New(slog.NewTextHandler(&logs, nil)))
		if errors.Is(err, snapshotter.ErrNoCheckpoint) && last == 0 && logs.Len() == 0 {
			continue // killed before the first checkpoint completed
		}
		if err != nil {
			t.Fatalf("kill %d: %v", kills, err)
		}
		if logs.Len() > 0 {
			t.Fatalf("kill %d: LoadLatest skipped a checkpoint:\n%s", kills, logs.String())
		}
		seq := h.Position.Seq
		if seq < last {
			t.Fatalf("kill %d: revision went back from %d to %d", kills, last, seq)
		}
		if seq > last {
			advanced++
		}
		want := crashExport(t, seq)
		if d := digestOf(st); d != want.Digest() || h.Digest != d {
			t.Fatalf("kill %d: %s: digest %s, header %s; state %d has %s", kills, filepath.Base(path), d, h.Digest, seq, want.Digest())
		}
		if h.Position.KafkaOffset != int64(seq)*3 || h.Position.JetStreamSeq != seq*5 || st.Revision() != seq {
			t.Fatalf("kill %d: position %+v, revision %d", kills, h.Position, st.Revision())
		}
		last = seq
	}
	t.Logf("%d kills, %d during a write (temporary file left), %d advanced the revision, newest revision %d", kills, midWrite, advanced, last)
	if kills < 50 {
		t.Errorf("only %d kills within the time budget; want at least 50", kills)
	}
	if last == 0 {
		t.Error("no checkpoint ever completed")
	}
}
