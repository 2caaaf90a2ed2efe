package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

// ErrNoCheckpoint is returned by LoadLatest when the directory holds no
// valid checkpoint.
var ErrNoCheckpoint = errors.New("no valid checkpoint")

// File names. A checkpoint is "checkpoint-<seq>-<created>.ckpt" with seq
// and created (Unix nanoseconds) as 16 lower-case hex digits, so names sort
// by revision, then by creation time. A write in progress is
// "<name>.<random>.tmp"; a checkpoint found corrupt is renamed
// "<name>.corrupt".
const (
	filePrefix    = "checkpoint-"
	fileSuffix    = ".ckpt"
	tempSuffix    = ".tmp"
	corruptSuffix = ".corrupt"
	nameLen       = len(filePrefix) + 16 + 1 + 16 + len(fileSuffix)
)

// Store keeps checkpoints in one directory: durable writes, retention of
// the newest Keep, and loading the newest valid one with fallback. Only one
// Store (in one process) may use a directory at a time. Its methods are
// safe for concurrent use; saves and prunes are serialised by mu.
type Store struct {
	dir  string
	keep int
	env  string // OpenStoreFor: retention counts only this environment's files

	mu sync.Mutex // serialises Save, prune and LoadLatest's renames

	envMu sync.Mutex        // guards envs
	envs  map[string]string // path -> environment in its header (fileEnv)
}

// Entry is one checkpoint file of a Store.
type Entry struct {
	Path    string
	Seq     uint64
	Created time.Time
	Size    int64
}

// OpenStore opens (creating it if needed) a checkpoint directory that
// keeps the newest keep checkpoints (keep <= 0 means 2). It deletes
// temporary files left by writes that crashed.
func OpenStore(dir string, keep int) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open checkpoint store: no directory")
	}
	if keep <= 0 {
		keep = 2
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open checkpoint store: %w", err)
	}
	s := &Store{dir: dir, keep: keep}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint store: %w", err)
	}
	for _, de := range des {
		if n := de.Name(); strings.HasPrefix(n, filePrefix) && strings.HasSuffix(n, tempSuffix) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("open checkpoint store: remove temporary file: %w", err)
			}
		}
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// fileName returns the name of a checkpoint of h.
func fileName(seq uint64, created time.Time) string {
	return fmt.Sprintf("%s%016x-%016x%s", filePrefix, seq, uint64(created.UnixNano()), fileSuffix)
}

// parseName parses a checkpoint file name.
func parseName(name string) (seq uint64, created time.Time, ok bool) {
	if len(name) != nameLen || !strings.HasPrefix(name, filePrefix) || !strings.HasSuffix(name, fileSuffix) {
		return 0, time.Time{}, false
	}
	rest := name[len(filePrefix) : len(name)-len(fileSuffix)]
	if rest[16] != '-' {
		return 0, time.Time{}, false
	}
	seq, err1 := strconv.ParseUint(rest[:16], 16, 64)
	ns, err2 := strconv.ParseUint(rest[17:], 16, 64)
	if err1 != nil || err2 != nil {
		return 0, time.Time{}, false
	}
	return seq, time.Unix(0, int64(ns)).UTC(), true
}

// List returns the store's checkpoints, oldest first (by seq, then
// creation time). Temporary and quarantined files are not listed.
func (s *Store) List() ([]Entry, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	var out []Entry
	for _, de := range des {
		seq, created, ok := parseName(de.Name())
		if !ok || !de.Type().IsRegular() {
			continue
		}
		e := Entry{Path: filepath.Join(s.dir, de.Name()), Seq: seq, Created: created}
		if fi, err := de.Info(); err == nil {
			e.Size = fi.Size()
		}
		out = append(out, e)
	}
	// ReadDir sorts by name, which is the order we want.
	return out, nil
}

// Save writes ex as a checkpoint durably: a temporary file, fsync, close,
// rename to its final name, fsync of the directory. Then it deletes all but
// the newest Keep checkpoints (and quarantined files older than those).
// On error the temporary file is removed and older checkpoints are kept.
func (s *Store) Save(ex *replica.Export, h Header) (string, Stats, error) {
	return s.save(context.Background(), ex, h)
}

func (s *Store) save(ctx context.Context, ex *replica.Export, h Header) (path string, st Stats, err error) {
	if h.Position.Seq == 0 {
		h.Position.Seq = ex.Revision()
	}
	if h.Created.IsZero() {
		h.Created = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	path = filepath.Join(s.dir, fileName(h.Position.Seq, h.Created))
	if st, err = writeDurable(ctx, path, ex, h); err != nil {
		return "", st, fmt.Errorf("save checkpoint: %w", err)
	}
	if err := s.prune(); err != nil {
		return path, st, err
	}
	return path, st, nil
}

// WriteFile writes a checkpoint to path durably (--export): a temporary
// file beside it, fsync, close, rename over path, fsync of the directory.
// On error path is untouched and the temporary file removed.
func WriteFile(path string, ex *replica.Export, h Header) (Stats, error) {
	st, err := writeDurable(context.Background(), path, ex, h)
	if err != nil {
		return st, fmt.Errorf("export checkpoint: %w", err)
	}
	return st, nil
}

// ReadFile reads and verifies the checkpoint at path (--import); see Read.
func ReadFile(path string, cfg replica.Config) (*replica.State, Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Header{}, fmt.Errorf("import checkpoint: %w", err)
	}
	defer f.Close()
	return Read(f, cfg)
}

func writeDurable(ctx context.Context, path string, ex *replica.Export, h Header) (st Stats, err error) {
	start := time.Now()
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, name+".*"+tempSuffix)
	if err != nil {
		return st, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if st, err = Write(ctxWriter{ctx, f}, ex, h); err != nil {
		return st, fmt.Errorf("%s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		return st, fmt.Errorf("%s: sync: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return st, fmt.Errorf("%s: close: %w", name, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return st, err
	}
	if err = syncDir(dir); err != nil {
		return st, fmt.Errorf("%s: %w", name, err)
	}
	st.Duration = time.Since(start)
	return st, nil
}

// ctxWriter stops a write when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// prune deletes all but the newest keep checkpoints of the store's
// environment (Own), and quarantined files that sort before the oldest
// kept one. The caller holds mu.
func (s *Store) prune() error {
	list, err := s.Own()
	if err != nil {
		return fmt.Errorf("prune checkpoints: %w", err)
	}
	if len(list) <= s.keep {
		return nil
	}
	oldestKept := filepath.Base(list[len(list)-s.keep].Path)
	var errs []error
	for _, e := range list[:len(list)-s.keep] {
		if err := os.Remove(e.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	des, err := os.ReadDir(s.dir)
	if err != nil {
		errs = append(errs, err)
	}
	for _, de := range des {
		if n := de.Name(); strings.HasSuffix(n, corruptSuffix) && strings.HasPrefix(n, filePrefix) && n < oldestKept {
			if err := os.Remove(filepath.Join(s.dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prune checkpoints: %w", err)
	}
	return nil
}

// LoadLatest loads the newest valid checkpoint and returns its state,
// header and path. A checkpoint that fails to load is logged (which file,
// why) and skipped for the one before it; one that is corrupt, truncated or
// not a checkpoint at all is renamed to "<name>.corrupt" so that it no
// longer counts as one of the Keep newest (a file of an unsupported version
// or another environment is left alone). With no valid checkpoint it
// returns an error wrapping ErrNoCheckpoint that lists every failure.
func (s *Store) LoadLatest(cfg replica.Config, log *slog.Logger) (*replica.State, Header, string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	list, err := s.List()
	if err != nil {
		return nil, Header{}, "", err
	}
	var fails []error
	foreign := 0 // checkpoints of other environments among fails
	for i, e := range slices.Backward(list) {
		st, h, err := s.load(e.Path, cfg)
		if err == nil {
			if len(fails) > foreign {
				log.Warn("loaded an older checkpoint", "path", e.Path, "seq", h.Position.Seq, "skipped", len(fails)-foreign)
			}
			return st, h, e.Path, nil
		}
		fails = append(fails, err)
		if errors.Is(err, ErrWrongEnv) {
			// Another environment's checkpoint in a shared directory: not
			// this node's, and not a problem (see OpenStoreFor).
			log.Info("skipping a checkpoint of another environment", "path", e.Path, "err", err)
			foreign++
			continue
		}
		bad := errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrNotCheckpoint)
		next := "trying the previous one"
		if i == 0 {
			next = "there is no older one"
		}
		log.Error("checkpoint is not usable; "+next, "path", e.Path, "seq", e.Seq, "err", err, "quarantined", bad)
		if bad {
			s.quarantine(e.Path, log)
		}
	}
	if len(fails) == 0 {
		return nil, Header{}, "", fmt.Errorf("load checkpoint from %s: %w: the directory has none", s.dir, ErrNoCheckpoint)
	}
	return nil, Header{}, "", fmt.Errorf("load checkpoint from %s: %w: %w", s.dir, ErrNoCheckpoint, errors.Join(fails...))
}

func (s *Store) load(path string, cfg replica.Config) (*replica.State, Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Header{}, fmt.Errorf("load checkpoint: %w", err)
	}
	defer f.Close()
	st, h, err := Read(f, cfg)
	if err != nil {
		return nil, h, fmt.Errorf("load checkpoint %s: %w", filepath.Base(path), err)
	}
	return st, h, nil
}

func (s *Store) quarantine(path string, log *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Rename(path, path+corruptSuffix); err != nil {
		log.Warn("cannot quarantine corrupt checkpoint", "path", path, "err", err)
		return
	}
	if err := syncDir(s.dir); err != nil {
		log.Warn("cannot quarantine corrupt checkpoint", "path", path, "err", err)
	}
}
