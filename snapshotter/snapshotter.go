package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/replica"
)

// Config configures a Snapshotter.
type Config struct {
	// Dir is the checkpoint directory (required).
	Dir string
	// Interval between checkpoints; default 5m.
	Interval time.Duration
	// Keep is how many checkpoints to retain; default 2.
	Keep int
	// Env and Tenant are recorded in each checkpoint's header.
	Env, Tenant string
	// Registerer receives the checkpoint metrics; nil registers none.
	Registerer prometheus.Registerer
	// RetryMin and RetryMax bound the jittered backoff between attempts
	// after a failed checkpoint; defaults 1s and Interval.
	RetryMin, RetryMax time.Duration
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("snapshotter config: Dir is required")
	case c.Interval < 0, c.Keep < 0, c.RetryMin < 0, c.RetryMax < 0:
		return errors.New("snapshotter config: Interval, Keep, RetryMin and RetryMax must not be negative")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = 5 * time.Minute
	}
	if c.Keep == 0 {
		c.Keep = 2
	}
	if c.RetryMin == 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = c.Interval
	}
	c.RetryMax = max(c.RetryMax, c.RetryMin)
	return c
}

// Snapshotter writes periodic checkpoints of a replica to a Store.
type Snapshotter struct {
	cfg     Config
	store   *Store
	capture func() (*replica.Export, replica.Position)
	log     *slog.Logger
	started time.Time

	metrics

	writeMu sync.Mutex // serialises checkpoints (Run's and Checkpoint's)

	mu       sync.Mutex // guards the fields below
	last     Entry      // the newest checkpoint written or found at start
	hasLast  bool
	lastDur  time.Duration
	lastErr  error
	failing  int // consecutive failures
	attempts uint64
}

// New opens the checkpoint directory (see OpenStore) and returns a
// Snapshotter that checkpoints what capture returns: a detached export of
// the replica and the transport position that follows it.
func New(cfg Config, capture func() (*replica.Export, replica.Position), log *slog.Logger) (*Snapshotter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if capture == nil {
		return nil, errors.New("new snapshotter: capture is nil")
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store, err := OpenStoreFor(cfg.Dir, cfg.Keep, cfg.Env)
	if err != nil {
		return nil, err
	}
	s := &Snapshotter{cfg: cfg, store: store, capture: capture, log: log, started: time.Now()}
	s.last, s.hasLast = store.newestOwn()
	if foreign, envs, err := store.Foreign(); err == nil && len(foreign) > 0 {
		log.Warn("the checkpoint directory holds checkpoints of other environments; they are left alone and do not count toward retention",
			"dir", cfg.Dir, "env", cfg.Env, "foreign", len(foreign), "example", filepath.Base(foreign[0].Path),
			"example_env", envs[foreign[0].Path])
	}
	if err := s.initMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	return s, nil
}

// Store returns the Snapshotter's Store.
func (s *Snapshotter) Store() *Store { return s.store }

func (s *Snapshotter) age() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasLast {
		return time.Since(s.started)
	}
	return time.Since(s.last.Created)
}

// Run checkpoints every Interval when the revision moved since the last
// checkpoint, retrying failures sooner with capped, jittered backoff
// (logged once when failing starts and once when it recovers). When ctx
// ends it writes a final checkpoint if the revision moved, then returns
// nil.
func (s *Snapshotter) Run(ctx context.Context) error {
	t := time.NewTimer(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Graceful shutdown: the final checkpoint must not be cut short
			// by the cancellation that asked for it.
			s.tick(context.WithoutCancel(ctx), true)
			return nil
		case <-t.C:
			t.Reset(s.tick(ctx, false))
		}
	}
}

// tick writes a checkpoint if the revision moved and returns the delay to
// the next attempt.
func (s *Snapshotter) tick(ctx context.Context, final bool) time.Duration {
	_, err := s.checkpoint(ctx, false)
	if err != nil && final {
		s.log.Error("final checkpoint failed", "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing == 0 {
		return s.cfg.Interval
	}
	d := s.cfg.RetryMin << min(s.failing-1, 30)
	if d <= 0 || d > s.cfg.RetryMax {
		d = s.cfg.RetryMax
	}
	return d/2 + rand.N(d/2+1) // jitter in [d/2, d]
}

// Checkpoint writes a checkpoint now, whether or not the revision moved,
// and returns its path.
func (s *Snapshotter) Checkpoint(ctx context.Context) (string, error) {
	return s.checkpoint(ctx, true)
}

func (s *Snapshotter) checkpoint(ctx context.Context, force bool) (path string, err error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	start := time.Now()
	defer func() {
		// A background job must not take the node down: a panic in capture
		// or encoding becomes a failed checkpoint.
		if r := recover(); r != nil {
			err = fmt.Errorf("checkpoint: panic: %v", r)
		}
		if path != "" || err != nil {
			s.record(path, err, time.Since(start))
		}
	}()
	ex, pos := s.capture()
	if ex == nil {
		return "", errors.New("checkpoint: capture returned no export")
	}
	s.mu.Lock()
	moved := !s.hasLast || s.last.Seq != ex.Revision()
	if !s.hasLast && ex.Revision() == 0 {
		moved = false // nothing loaded yet: nothing worth keeping
	}
	s.mu.Unlock()
	if !force && !moved {
		return "", nil
	}
	pos.Seq = ex.Revision()
	h := Header{Env: s.cfg.Env, Tenant: s.cfg.Tenant, Position: pos, Created: time.Now()}
	path, st, err := s.store.save(ctx, ex, h)
	if err != nil && path == "" {
		return "", err
	}
	if err != nil {
		// Saved, but pruning failed: the checkpoint counts; report the
		// problem once.
		s.log.Warn("checkpoint saved but old checkpoints were not pruned", "path", path, "err", err)
	}
	s.duration.Observe(st.Duration.Seconds())
	s.bytes.Set(float64(st.Bytes))
	s.mu.Lock()
	s.last = Entry{Path: path, Seq: h.Position.Seq, Created: h.Created, Size: st.Bytes}
	s.hasLast = true
	s.lastDur = st.Duration
	s.mu.Unlock()
	s.log.Info("checkpoint written", "path", path, "seq", h.Position.Seq, "bytes", st.Bytes, "duration", st.Duration)
	return path, nil
}

// record updates the failure state and logs transitions.
func (s *Snapshotter) record(path string, err error, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if err != nil {
		s.failures.Inc()
		s.lastErr = err
		s.failing++
		if s.failing == 1 {
			s.log.Error("checkpoints are failing", "dir", s.cfg.Dir, "err", err)
		}
		return
	}
	if s.failing > 0 {
		s.log.Info("checkpoints recovered", "path", path, "failures", s.failing, "took", took)
	}
	s.failing = 0
	s.lastErr = nil
}

// Status describes the newest checkpoint and the writer's health, for
// /status.
func (s *Snapshotter) Status() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := map[string]any{
		"dir":                  s.cfg.Dir,
		"interval_seconds":     s.cfg.Interval.Seconds(),
		"keep":                 s.cfg.Keep,
		"consecutive_failures": s.failing,
		"last_error":           nil,
	}
	if s.lastErr != nil {
		st["last_error"] = s.lastErr.Error()
	}
	if s.hasLast && !fileExists(s.last.Path) {
		// Removed behind our back (an operator, another process): never
		// name a file that is gone.
		s.last, s.hasLast = s.store.newestOwn()
	}
	if s.hasLast {
		st["last_path"] = s.last.Path
		st["revision"] = s.last.Seq
		st["bytes"] = s.last.Size
		st["created"] = s.last.Created
		st["age_seconds"] = time.Since(s.last.Created).Seconds()
		st["duration_seconds"] = s.lastDur.Seconds()
	}
	return st
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// LastRevision returns the revision of the newest checkpoint written or
// found at start, and whether there is one.
func (s *Snapshotter) LastRevision() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.Seq, s.hasLast
}
