package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/httpapi"
	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("control plane closed")

// Server is the control plane of one environment: its event log, the state
// built from it, the HTTP API and the publishers.
type Server struct {
	cfg    Config
	logger *slog.Logger
	elog   *eventLog
	state  *replica.State
	engine *query.Engine
	// checkAPI serves the Check API reads over engine.
	checkAPI *httpapi.Server
	keys     map[string]string // SHA-256 hex of a key -> access
	tokens   []replica.Token   // the configured keys as a tokens event carries them
	m        *metrics
	pubs     []*publisher
	router   http.Handler

	// wmu serialises writes: validate, append, apply, commit.
	wmu sync.Mutex
	// Guarded by wmu: closed stops writes (after Close, or after a failed
	// rollback left the log in doubt); shut records that Close ran.
	closed, shut bool

	// lastCheckpoint is the seq of the newest checkpoint (0: none).
	lastCheckpoint atomic.Uint64

	dcache digestCache // the feed's digest of the current revision

	// notifyMu guards changed, closed after every committed event.
	notifyMu sync.Mutex
	changed  chan struct{}
}

// New opens (or creates) the environment's event log in cfg.DataDir,
// rebuilds the state by replaying it, records the configured API keys in a
// tokens event when they differ from the state's, and returns a Server ready
// to serve. Call Run for the publishers and Close when done.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	s := &Server{
		cfg:    cfg,
		logger: cfg.Logger.With("env", cfg.Env),
		m:      newMetrics(),
	}
	s.keys, s.tokens = hashKeys(cfg.Keys)

	start := time.Now()
	state, err := s.loadCheckpoint()
	if err != nil {
		return nil, err
	}
	s.state = state
	s.lastCheckpoint.Store(state.Revision())
	// Apply skips the records the checkpoint already holds (seq <= applied).
	elog, err := openLog(cfg.DataDir, cfg.Env, s.logger, s.state.Apply)
	if err != nil {
		return nil, err
	}
	s.elog = elog
	if cp, head := state.Revision(), elog.head(); cp > head {
		elog.close()
		return nil, fmt.Errorf("open control plane: the checkpoint at seq %d is ahead of the event log's head %d; the log lost acknowledged events", cp, head)
	}
	s.logger.Info("event log opened", "log_id", elog.ID(), "seq", elog.head(), "took", time.Since(start).Round(time.Millisecond))

	engine, err := query.New(s.state, query.Config{})
	if err != nil {
		elog.close()
		return nil, fmt.Errorf("create query engine: %w", err)
	}
	s.engine = engine
	// The control plane's state is always loaded, even a new environment's
	// at seq 0: reads answer as an empty policy does until a policy is set.
	engine.SetState(s.state)
	s.checkAPI, err = httpapi.New(httpapi.Config{Engine: engine, Registry: s.m.reg, Auth: httpapi.AuthTokens,
		LogID: elog.ID(), Logger: s.logger})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("create check API: %w", err)
	}
	if err := s.syncTokens(); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.Kafka != nil {
		s.pubs = append(s.pubs, newPublisher(s, newKafkaTransport(cfg.Env, *cfg.Kafka)))
	}
	if cfg.NATS != nil {
		s.pubs = append(s.pubs, newPublisher(s, newNATSTransport(cfg.Env, *cfg.NATS)))
	}
	s.m.register(s)
	s.router = s.routes()
	return s, nil
}

// hashKeys returns the keys' SHA-256 hashes with their access and the
// matching token set, sorted by hash. A token's id is "key-" and the first 12
// hex digits of its hash: enough to tell keys apart in logs, never the key.
func hashKeys(keys map[string]string) (map[string]string, []replica.Token) {
	byHash := make(map[string]string, len(keys))
	tokens := make([]replica.Token, 0, len(keys))
	for k, access := range keys {
		sum := sha256.Sum256([]byte(k))
		h := hex.EncodeToString(sum[:])
		byHash[h] = access
		tokens = append(tokens, replica.Token{ID: "key-" + h[:12], SHA256: h, Access: access})
	}
	slices.SortFunc(tokens, func(a, b replica.Token) int { return compareStrings(a.SHA256, b.SHA256) })
	return byHash, tokens
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// syncTokens appends a tokens event when the configured keys differ from
// the state's token set.
func (s *Server) syncTokens() error {
	v := s.state.Acquire()
	have := v.Tokens()
	v.Release()
	slices.SortFunc(have, func(a, b replica.Token) int { return compareStrings(a.SHA256, b.SHA256) })
	if slices.Equal(have, s.tokens) {
		return nil
	}
	seq, err := s.commit(func(*polar.Policy, replica.PolicySource) (*replica.Event, error) {
		return &replica.Event{Kind: replica.KindTokens, Tokens: slices.Clone(s.tokens)}, nil
	})
	if err != nil {
		return fmt.Errorf("record API keys: %w", err)
	}
	s.logger.Info("API keys changed; tokens event appended", "seq", seq, "keys", len(s.tokens))
	return nil
}

// buildFunc validates a write against the current policy and returns the
// event to append (Env, Seq and Time are filled in by commit), or nil for a
// no-op. Errors of type *badRequest become 400s.
type buildFunc func(pol *polar.Policy, src replica.PolicySource) (*replica.Event, error)

// commit runs one write: build the event under the write lock, append and
// fsync it to the log, apply it to the state, then make it visible to the
// feed and the publishers. It returns the event's seq, or the current head
// for a no-op.
func (s *Server) commit(build buildFunc) (uint64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	head := s.elog.head()
	v := s.state.Acquire()
	src, compiled := v.Policy()
	v.Release()
	pol, _ := compiled.(*polar.Policy)
	ev, err := build(pol, src)
	if err != nil || ev == nil {
		return head, err
	}
	ev.Env = s.cfg.Env
	ev.Seq = head + 1
	ev.Time = time.Now().UTC().Truncate(time.Millisecond)
	raw, err := json.Marshal(ev)
	if err != nil {
		return head, fmt.Errorf("encode event %d: %w", ev.Seq, err)
	}
	if err := s.elog.write(raw); err != nil {
		// The record may be partly on disk; make sure it is gone.
		if rerr := s.elog.rollback(); rerr != nil {
			s.closed = true
			return head, fmt.Errorf("%w (and %v; the control plane stops accepting writes)", err, rerr)
		}
		return head, err
	}
	if err := s.state.Apply(*ev); err != nil {
		if rerr := s.elog.rollback(); rerr != nil {
			s.closed = true
			return head, fmt.Errorf("apply event %d: %w (and %v; the control plane stops accepting writes)", ev.Seq, err, rerr)
		}
		if errors.Is(err, replica.ErrPoison) {
			return head, badf("%v", err)
		}
		return head, fmt.Errorf("apply event %d: %w", ev.Seq, err)
	}
	s.elog.commit(len(raw))
	s.m.events.WithLabelValues(ev.Kind).Inc()
	s.notify()
	return ev.Seq, nil
}

// changedCh returns a channel closed at the next committed event. Take it,
// check the head, then wait, to miss nothing.
func (s *Server) changedCh() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

func (s *Server) notify() {
	s.notifyMu.Lock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	s.notifyMu.Unlock()
}

// Handler returns the HTTP API: writes, the Check API, the node feeds and
// the operational endpoints.
func (s *Server) Handler() http.Handler { return s.router }

// Run runs the publishers and the checkpoint writer until ctx ends. It
// returns nil then; the jobs retry failures themselves and never end Run
// early.
func (s *Server) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	if s.cfg.CheckpointEvery > 0 {
		g.Go(func() error { return s.runCheckpoints(ctx) })
	}
	for _, p := range s.pubs {
		g.Go(func() error { return p.Run(ctx) })
	}
	return g.Wait()
}

// Close stops accepting writes and closes the event log and the query
// engine. Call it after Run has returned and the HTTP server has shut down.
func (s *Server) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.shut {
		return nil
	}
	s.closed, s.shut = true, true
	s.engine.Close()
	return s.elog.close()
}

// Env returns the environment's name.
func (s *Server) Env() string { return s.cfg.Env }

// LogID returns the event log's id, the first part of OsoOffset tokens.
func (s *Server) LogID() string { return s.elog.ID() }

// Seq returns the seq of the last committed event.
func (s *Server) Seq() uint64 { return s.state.Revision() }

// Digest returns the state digest (View.Digest) and the seq it is at.
func (s *Server) Digest() (string, uint64) {
	v := s.state.Acquire()
	defer v.Release()
	return v.Digest(), v.Revision()
}

// State returns the control plane's state (for reads in tests; never
// Apply to it).
func (s *Server) State() *replica.State { return s.state }

// Registry returns the Prometheus registry of this server's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.m.reg }

// Published returns the seq of the last event the named transport ("kafka"
// or "nats") has had acknowledged, and false when it is not configured.
func (s *Server) Published(transport string) (uint64, bool) {
	for _, p := range s.pubs {
		if p.t.name() == transport {
			return p.acked(), true
		}
	}
	return 0, false
}

// offset renders an OsoOffset token.
func (s *Server) offset(seq uint64) string { return fmt.Sprintf("%s:%d", s.elog.ID(), seq) }
