package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeSome(t *testing.T, cp *Running, n int) {
	t.Helper()
	for i := range n {
		must(t).Seq(cp.Client.Insert(role(fmt.Sprintf("user-%d", i), "member", "acme")))
	}
}

func TestRestartRebuildsState(t *testing.T) {
	cp := startWithPolicy(t, Config{CheckpointEvery: -1})
	writeSome(t, cp, 5)
	must(t).Seq(cp.Client.Delete(exact(role("user-2", "member", "acme"))))
	digest, seq, logID := cp.Digest(), cp.Seq(), cp.LogID()

	cp.Restart()
	if cp.Digest() != digest || cp.Seq() != seq || cp.LogID() != logID {
		t.Fatalf("after restart: digest %s seq %d log %s, want %s %d %s", cp.Digest(), cp.Seq(), cp.LogID(), digest, seq, logID)
	}
	// The configured keys did not change, so no new tokens event.
	if next := must(t).Seq(cp.Client.Insert(role("zed", "member", "acme"))); next != seq+1 {
		t.Fatalf("first write after restart got seq %d, want %d", next, seq+1)
	}
}

func TestTornTailIsTruncated(t *testing.T) {
	cases := []struct {
		name string
		tail []byte
	}{
		{"partial record header", []byte{0, 0, 0}},
		{"payload cut short", append([]byte{0, 0, 0, 100, 1, 2, 3, 4}, []byte(`{"env":"test"`)...)},
		{"last record checksum", append([]byte{0, 0, 0, 4, 1, 2, 3, 4}, []byte(`{}{}`)...)},
		{"zero fill", make([]byte, 4096)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cp := startWithPolicy(t, Config{CheckpointEvery: -1})
			writeSome(t, cp, 3)
			digest, seq := cp.Digest(), cp.Seq()
			cp.Stop()
			path := filepath.Join(cp.DataDir(), logFileName)
			before := fileSize(t, path)
			appendFile(t, path, tc.tail)

			cp.Restart()
			if cp.Digest() != digest || cp.Seq() != seq {
				t.Fatalf("after torn tail: seq %d digest %s, want %d %s", cp.Seq(), cp.Digest(), seq, digest)
			}
			if after := fileSize(t, path); after != before {
				t.Fatalf("log is %d bytes after recovery, want %d", after, before)
			}
			if next := must(t).Seq(cp.Client.Insert(role("zed", "member", "acme"))); next != seq+1 {
				t.Fatalf("next seq %d, want %d", next, seq+1)
			}
			cp.Restart()
			if cp.Seq() != seq+1 {
				t.Fatalf("seq %d after second restart, want %d", cp.Seq(), seq+1)
			}
		})
	}
}

func TestCorruptionInTheMiddleRefusesToStart(t *testing.T) {
	cp := startWithPolicy(t, Config{CheckpointEvery: -1})
	writeSome(t, cp, 3)
	cp.Stop()
	path := filepath.Join(cp.DataDir(), logFileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[logHeaderLen+recHeaderLen+5] ^= 0xff // inside the first record's payload
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	err = cp.TryRestart()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("restart over a corrupt log: %v", err)
	}
	if got := fileSize(t, path); got != int64(len(data)) {
		t.Fatalf("a corrupt log was modified: %d bytes, want %d", got, len(data))
	}
}

func TestCheckpointsShortenRestart(t *testing.T) {
	cp := startWithPolicy(t, Config{CheckpointEvery: 3})
	writeSome(t, cp, 10)
	waitFor(t, "checkpoint", func() bool { return cp.Server().lastCheckpoint.Load() >= 9 })
	digest, seq := cp.Digest(), cp.Seq()
	cp.Restart()
	if cp.Digest() != digest || cp.Seq() != seq {
		t.Fatalf("after restart from checkpoint: seq %d, want %d", cp.Seq(), seq)
	}
	if cp.Server().lastCheckpoint.Load() < 9 {
		t.Fatalf("restart did not load the checkpoint (at %d)", cp.Server().lastCheckpoint.Load())
	}
	names, err := cp.Server().checkpoints()
	if err != nil || len(names) > keepCheckpoints || len(names) == 0 {
		t.Fatalf("checkpoints %v, %v", names, err)
	}
	// A corrupt newest checkpoint falls back to an older one or the log.
	cp.Stop()
	newest := filepath.Join(cp.DataDir(), checkpointDir, names[len(names)-1])
	if err := os.WriteFile(newest, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	cp.Restart()
	if cp.Digest() != digest || cp.Seq() != seq {
		t.Fatalf("after a corrupt checkpoint: seq %d, want %d", cp.Seq(), seq)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func appendFile(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
