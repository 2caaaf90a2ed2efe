package osoapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/replica"
)

// Name is the Source's name (the source label of the ingest metrics).
const Name = "oso-api"

// Source follows an Oso API upstream by periodic refresh (see the package
// documentation).
type Source struct {
	cfg    Config
	client *client
	log    *slog.Logger
	retry  ingest.Retrier

	mu   sync.Mutex // guards the fields below
	next time.Time  // when the next refresh is due
	stat status
}

// status is what Status reports.
type status struct {
	lastOK       time.Time
	lastDuration time.Duration
	lastFacts    int
	lastRequests int
	lastChange   time.Time
	refreshes    uint64
	changes      uint64
	inserts      uint64
	deletes      uint64
	policies     uint64
}

var (
	_ ingest.Source         = (*Source)(nil)
	_ ingest.HealthReporter = (*Source)(nil)
)

// New returns a Source for cfg.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Source{
		cfg:    cfg,
		client: newClient(cfg),
		log:    cfg.Logger.With("source", Name),
		retry:  ingest.Retrier{Source: Name, Log: cfg.Logger, Backoff: cfg.Backoff},
	}, nil
}

// Name returns "oso-api".
func (s *Source) Name() string { return Name }

// Health reports the upstream's health.
func (s *Source) Health() ingest.Health { return s.retry.Health() }

// Bootstrap fetches the upstream's whole state once and returns it at
// revision 1, holding Config.Tokens. The next refresh of Run is then due
// one Interval later.
func (s *Source) Bootstrap(ctx context.Context) (*replica.State, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	st, stats, err := s.fetch(ctx, 1, s.cfg.Tokens)
	if err != nil {
		return nil, fmt.Errorf("oso-api bootstrap: %w", err)
	}
	s.mu.Lock()
	s.next = time.Now().Add(s.cfg.Interval)
	s.noteRefresh(stats)
	s.mu.Unlock()
	s.log.Info("bootstrapped from the upstream's API", "facts", stats.Facts, "requests", stats.Requests,
		"took", stats.Took.Round(time.Millisecond))
	return st, nil
}

// Run refreshes until ctx ends: the first refresh at once (or when the
// one after Bootstrap is due), then every Interval. It returns nil when
// ctx ends; failures are retried inside.
func (s *Source) Run(ctx context.Context, from replica.Position, h ingest.Handler) error {
	if s.cfg.State == nil {
		return fmt.Errorf("oso-api: Config.State is required to run: %w", ingest.ErrTerminal)
	}
	for ctx.Err() == nil {
		s.mu.Lock()
		wait := time.Until(s.next)
		s.mu.Unlock()
		if !ingest.Sleep(ctx, wait) {
			return nil
		}
		err := s.refresh(ctx, h)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errRejected) {
			continue // the Runner reported it; deliver waited
		}
		if err != nil {
			var se *StatusError
			var ra time.Duration
			if errors.As(err, &se) {
				ra = se.RetryAfter
			}
			if !s.retry.Fail(ctx, err) {
				return nil
			}
			if ra > 0 && !ingest.Sleep(ctx, ra) {
				return nil
			}
			continue
		}
		s.retry.Connected()
		s.mu.Lock()
		s.next = time.Now().Add(s.cfg.Interval)
		s.mu.Unlock()
	}
	return nil
}

// errRejected marks an event the Handler rejected (it has reported why).
var errRejected = errors.New("the replica rejected the refresh's event")

// refresh fetches, diffs and delivers one event, or a heartbeat.
func (s *Source) refresh(ctx context.Context, h ingest.Handler) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	cur := s.cfg.State()
	if s.cfg.Tokens != nil {
		v := cur.Acquire()
		have := v.Tokens()
		v.Release()
		if !slices.Equal(have, s.cfg.Tokens) {
			ev := replica.Event{Env: s.cfg.Replica.Env, Seq: cur.Revision() + 1, Time: time.Now().UTC(),
				Kind: replica.KindTokens, Tokens: s.cfg.Tokens}
			if err := s.deliver(ctx, h, ev); err != nil {
				return err
			}
		}
	}
	fetched, stats, err := s.fetch(ctx, 0, nil)
	if err != nil {
		return err
	}
	change := Diff(cur, fetched)
	fetched = nil
	s.mu.Lock()
	s.noteRefresh(stats)
	s.mu.Unlock()
	applied := cur.Revision()
	if change.Empty() {
		_ = h(ctx, ingest.Message{After: position(applied), Behind: 0})
		s.log.Debug("refresh: no change", "facts", stats.Facts, "took", stats.Took.Round(time.Millisecond))
		return nil
	}
	ev := replica.Event{Env: s.cfg.Replica.Env, Seq: applied + 1, Time: time.Now().UTC(), Kind: replica.KindBatch,
		Policy: change.Policy, Inserts: change.Inserts, Deletes: change.Deletes}
	if err := s.deliver(ctx, h, ev); err != nil {
		return err
	}
	s.mu.Lock()
	s.stat.changes++
	s.stat.inserts += uint64(len(change.Inserts))
	s.stat.deletes += uint64(len(change.Deletes))
	if change.Policy != nil {
		s.stat.policies++
	}
	s.stat.lastChange = time.Now()
	s.mu.Unlock()
	s.log.Info("refresh applied", "seq", ev.Seq, "inserts", len(change.Inserts), "deletes", len(change.Deletes),
		"policy_changed", change.Policy != nil, "facts", stats.Facts, "took", stats.Took.Round(time.Millisecond))
	return nil
}

// deliver hands ev to the Handler as the next event.
func (s *Source) deliver(ctx context.Context, h ingest.Handler, ev replica.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event %d: %w", ev.Seq, err)
	}
	if err := h(ctx, ingest.Message{Data: data, After: position(ev.Seq), Behind: 0}); err != nil {
		if ctx.Err() == nil {
			s.retry.Reject(ctx)
		}
		return fmt.Errorf("%w: %w", errRejected, err)
	}
	s.retry.Accepted()
	return nil
}

// noteRefresh records a successful fetch; s.mu is held.
func (s *Source) noteRefresh(stats FetchStats) {
	s.stat.lastOK = time.Now()
	s.stat.lastDuration = stats.Took
	s.stat.lastFacts = stats.Facts
	s.stat.lastRequests = stats.Requests
	s.stat.refreshes++
}

// Status describes the refreshes for /status, with the served state's
// revision and ContentDigest (the digest its upstream would have).
func (s *Source) Status() map[string]any {
	var rev uint64
	var digest string
	if s.cfg.State != nil {
		v := s.cfg.State().Acquire()
		rev, digest = v.Revision(), ContentDigest(v)
		v.Release()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stat
	m := map[string]any{
		"upstream":          s.client.base,
		"refresh_interval":  s.cfg.Interval.String(),
		"refreshes":         st.refreshes,
		"changes_applied":   st.changes,
		"inserts_applied":   st.inserts,
		"deletes_applied":   st.deletes,
		"policies_applied":  st.policies,
		"last_facts":        st.lastFacts,
		"last_requests":     st.lastRequests,
		"last_duration_ms":  st.lastDuration.Milliseconds(),
		"next_refresh_time": s.next.UTC(),
		"revision":          rev,
		"content_digest":    digest,
	}
	if !st.lastOK.IsZero() {
		m["last_refresh_time"] = st.lastOK.UTC()
	}
	if !st.lastChange.IsZero() {
		m["last_change_time"] = st.lastChange.UTC()
	}
	return m
}

func position(seq uint64) replica.Position {
	return replica.Position{Seq: seq, KafkaOffset: -1}
}
