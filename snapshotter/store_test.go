package snapshotter_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// saveStates saves checkpoints of states first..first+n-1 at revisions
// 10, 20, 30, ... and returns their digests by revision.
func saveStates(t *testing.T, s *snapshotter.Store, first, n int) map[uint64]string {
	t.Helper()
	digests := map[uint64]string{}
	for i := first; i < first+n; i++ {
		st := buildState(t, stateSpec{seed: uint64(i), facts: 20 + i, arities: []int{2}, policy: i%2 == 0})
		advance(t, st, uint64(10*(i+1)))
		h := testHeader()
		h.Created = testCreated.Add(time.Duration(i) * time.Minute)
		if _, _, err := s.Save(export(st), h); err != nil {
			t.Fatal(err)
		}
		digests[st.Revision()] = digestOf(st)
	}
	return digests
}

// advance applies empty batches until st is at revision rev.
func advance(t *testing.T, st *replica.State, rev uint64) {
	t.Helper()
	for st.Revision() < rev {
		if err := st.Apply(replica.Event{Env: "test", Seq: st.Revision() + 1, Kind: replica.KindBatch}); err != nil {
			t.Fatal(err)
		}
	}
}

func names(t *testing.T, s *snapshotter.Store) []string {
	t.Helper()
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list {
		out = append(out, filepath.Base(e.Path))
	}
	return out
}

func TestStoreRetention(t *testing.T) {
	dir := t.TempDir()
	s, err := snapshotter.OpenStore(dir, 0) // default keep 2
	if err != nil {
		t.Fatal(err)
	}
	st := buildState(t, stateSpec{seed: 1, facts: 10, arities: []int{1}})
	var paths []string
	for i := range 5 {
		h := testHeader()
		h.Created = testCreated.Add(time.Duration(i) * time.Second)
		p, stats, err := s.Save(export(st), h)
		if err != nil {
			t.Fatal(err)
		}
		if stats.Bytes <= 0 || stats.Duration <= 0 {
			t.Errorf("stats %+v", stats)
		}
		paths = append(paths, p)
	}
	got := names(t, s)
	want := []string{filepath.Base(paths[3]), filepath.Base(paths[4])}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("kept %v, want %v", got, want)
	}
	list, _ := s.List()
	if list[1].Seq != st.Revision() || !list[1].Created.Equal(testCreated.Add(4*time.Second)) || list[1].Size == 0 {
		t.Errorf("entry %+v", list[1])
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 2 {
		t.Errorf("directory holds %d files, want 2", len(des))
	}
}

func TestStoreNamesSortByRevision(t *testing.T) {
	s, err := snapshotter.OpenStore(t.TempDir(), 10)
	if err != nil {
		t.Fatal(err)
	}
	// Revisions 9, 10, 300 (hex 9, a, 12c) saved in an order that a plain
	// decimal or creation-time sort would get wrong.
	var st []*replica.State
	for _, n := range []int{300, 9, 10} {
		s := replica.New(replica.Config{})
		for i := range n {
			ev := replica.Event{Seq: uint64(i + 1), Kind: replica.KindClear}
			if err := s.Apply(ev); err != nil {
				t.Fatal(err)
			}
		}
		st = append(st, s)
	}
	for i, x := range st {
		h := testHeader()
		h.Created = testCreated.Add(-time.Duration(i) * time.Hour)
		if _, _, err := s.Save(export(x), h); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := s.List()
	var seqs []uint64
	for _, e := range list {
		seqs = append(seqs, e.Seq)
	}
	if len(seqs) != 3 || seqs[0] != 9 || seqs[1] != 10 || seqs[2] != 300 {
		t.Fatalf("order %v", seqs)
	}
	_, h, _, err := s.LoadLatest(replica.Config{}, nil)
	if err != nil || h.Position.Seq != 300 {
		t.Fatalf("LoadLatest: seq %d, %v", h.Position.Seq, err)
	}
}

func TestLoadLatestFallsBack(t *testing.T) {
	corruptions := []struct {
		name   string
		damage func(path string) error
		reason string
	}{
		{"flipped byte", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x40
			return os.WriteFile(p, b, 0o644)
		}, "checksum mismatch"},
		{"truncated", func(p string) error {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, fi.Size()/3)
		}, "truncated"},
		{"zeroed", func(p string) error {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.WriteFile(p, make([]byte, fi.Size()), 0o644)
		}, "not a checkpoint"},
		{"empty", func(p string) error { return os.Truncate(p, 0) }, "file is empty"},
	}
	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := snapshotter.OpenStore(dir, 2)
			if err != nil {
				t.Fatal(err)
			}
			digests := saveStates(t, s, 0, 3)
			list, _ := s.List()
			newest, prev := list[1], list[0]
			if err := c.damage(newest.Path); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			st, h, path, err := s.LoadLatest(replica.Config{Env: "test"}, log)
			if err != nil {
				t.Fatal(err)
			}
			if path != prev.Path || h.Position.Seq != prev.Seq || digestOf(st) != digests[prev.Seq] {
				t.Fatalf("loaded %s seq %d; want the previous checkpoint %s", path, h.Position.Seq, prev.Path)
			}
			out := logs.String()
			if !strings.Contains(out, filepath.Base(newest.Path)) || !strings.Contains(out, c.reason) {
				t.Errorf("log does not say which checkpoint was skipped and why (%q):\n%s", c.reason, out)
			}
			// The corrupt file is quarantined, not listed, and pruned once
			// two newer good checkpoints exist.
			if got := names(t, s); len(got) != 1 {
				t.Errorf("listed %v after quarantine", got)
			}
			if _, err := os.Stat(newest.Path + ".corrupt"); err != nil {
				t.Errorf("not quarantined: %v", err)
			}
			saveStates(t, s, 3, 2)
			if _, err := os.Stat(newest.Path + ".corrupt"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("quarantined file not pruned: %v", err)
			}
		})
	}
}

func TestLoadLatestNone(t *testing.T) {
	dir := t.TempDir()
	s, err := snapshotter.OpenStore(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.LoadLatest(replica.Config{}, nil); !errors.Is(err, snapshotter.ErrNoCheckpoint) {
		t.Fatalf("empty store: %v", err)
	}
	saveStates(t, s, 0, 2)
	list, _ := s.List()
	for _, e := range list {
		if err := os.Truncate(e.Path, 100); err != nil {
			t.Fatal(err)
		}
	}
	_, _, _, err = s.LoadLatest(replica.Config{}, nil)
	if !errors.Is(err, snapshotter.ErrNoCheckpoint) || !errors.Is(err, snapshotter.ErrTruncated) {
		t.Fatalf("all truncated: %v", err)
	}
	t.Log(err)
}

func TestStoreIgnoresAndCleansTempFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := snapshotter.OpenStore(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	digests := saveStates(t, s, 0, 1)
	// A crashed write of a newer revision: a partial temporary file.
	good, _ := s.List()
	tmp := filepath.Join(dir, "checkpoint-00000000000000ff-0000000000000001.ckpt.123456.tmp")
	data, err := os.ReadFile(good[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "notes.txt") // not ours: left alone
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := names(t, s); len(got) != 1 {
		t.Fatalf("List shows temporary files: %v", got)
	}
	st, h, _, err := s.LoadLatest(replica.Config{}, nil)
	if err != nil || digestOf(st) != digests[h.Position.Seq] {
		t.Fatalf("LoadLatest: %v", err)
	}
	if _, err := snapshotter.OpenStore(dir, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenStore left the temporary file: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("OpenStore removed a file that is not its own: %v", err)
	}
}

func TestSaveFailureKeepsOldCheckpoints(t *testing.T) {
	dir := t.TempDir()
	s, err := snapshotter.OpenStore(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	saveStates(t, s, 0, 2)
	st := buildState(t, stateSpec{seed: 1, facts: 10, arities: []int{1}})
	h := testHeader()
	h.Position.Seq = st.Revision() + 5 // Write rejects it
	if _, _, err := s.Save(export(st), h); err == nil {
		t.Fatal("Save accepted a bad header")
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 2 {
		t.Errorf("directory holds %d files after a failed save, want the 2 old checkpoints", len(des))
	}
}

func TestExportImportFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "prod.ckpt")
	for i, spec := range []stateSpec{{seed: 1, facts: 30, arities: []int{2}}, {seed: 2, facts: 50, arities: []int{3}, policy: true}} {
		src := buildState(t, spec)
		st, err := snapshotter.WriteFile(path, export(src), testHeader())
		if err != nil {
			t.Fatal(err)
		}
		got, h, err := snapshotter.ReadFile(path, replica.Config{Env: "test"})
		if err != nil || digestOf(got) != digestOf(src) || h.Position.Seq != src.Revision() {
			t.Fatalf("export %d: %v", i, err)
		}
		if fi, _ := os.Stat(path); fi.Size() != st.Bytes {
			t.Errorf("export %d: file has %d bytes, Stats says %d", i, fi.Size(), st.Bytes)
		}
	}
	if des, _ := os.ReadDir(dir); len(des) != 1 {
		t.Errorf("export left %d files", len(des))
	}
	if _, _, err := snapshotter.ReadFile(filepath.Join(dir, "missing"), replica.Config{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
