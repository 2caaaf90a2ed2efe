package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
)

// FeedClient is the control plane's event feed and snapshot download as
// the Runner uses them: to fill gaps and to re-bootstrap. *poll.Client
// implements it.
type FeedClient interface {
	// Events returns up to limit events after seq after, in order, without
	// waiting for new ones, and the feed's head. The error wraps ErrResync
	// when the feed no longer retains the events after after.
	Events(ctx context.Context, after uint64, limit int) (events []json.RawMessage, head uint64, err error)
	// Snapshot starts downloading a snapshot in checkpoint format. The
	// caller closes it.
	Snapshot(ctx context.Context) (io.ReadCloser, error)
}

// Runner states reported by Status.
const (
	StateConnecting = "connecting" // the Source is (re)starting; nothing delivered yet
	StateFollowing  = "following"  // events flow; the transport has more
	StateCaughtUp   = "caught-up"  // the last delivery said nothing follows
	StateFailing    = "failing"    // the transport fails, or ingest is stopped at an event
	StateResyncing  = "resyncing"  // re-bootstrapping from a snapshot
	StateStopped    = "stopped"    // Run is not running
)

// Resync reasons (label of outpost_resyncs_total).
const (
	ReasonRetention = "retention" // the feed or transport no longer has the next events
	ReasonPoison    = "poison"    // an event could not be applied PoisonRetries times
	ReasonFork      = "fork"      // the control plane's log is not the one applied (runner_fork.go)
)

// Error kinds (label of outpost_ingest_errors_total).
const (
	KindTransport = "transport" // the Source failed to reach its transport (retried)
	KindPoison    = "poison"    // an event could not be decoded or applied
	KindGap       = "gap"       // events are missing and could not be fetched
	KindRetention = "retention" // the transport or feed no longer has the next events
	KindFeed      = "feed"      // a gap-fill request to the feed failed
	KindSnapshot  = "snapshot"  // a snapshot download or load failed
	KindFork      = "fork"      // the control plane's log forked from the applied one
)

const (
	defaultPoisonRetries = 5
	fillLimit            = 1000
	feedSource           = "feed" // source label of events and errors of the feed
)

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	// Source delivers the events. Required.
	Source Source
	// Engine holds the state events are applied to (Engine.State) and is
	// given the new state after a re-bootstrap (Engine.SetState). Required.
	Engine *query.Engine
	// Feed fills gaps and downloads snapshots. Nil for air-gapped nodes:
	// ingest then stops at a gap or a poison event until the transport
	// delivers what is missing.
	Feed FeedClient
	// LoadSnapshot reads a snapshot downloaded from Feed into a new state
	// and returns the position it holds (cmd wires snapshotter.Read).
	// Required when Feed is set.
	LoadSnapshot func(io.Reader) (*replica.State, replica.Position, error)
	// Registerer receives the ingest metrics. Nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives state changes. Nil discards them.
	Logger *slog.Logger
	// PoisonRetries is how many times in a row an event may fail before
	// the Runner re-bootstraps from a snapshot (when Feed is set).
	// Default 5.
	PoisonRetries int
	// StateTime is when the starting state was last known to be current,
	// e.g. a checkpoint's creation time; until ingest catches up,
	// oso_fallback_snapshot_age_ms counts from it. Default: when NewRunner
	// was called.
	StateTime time.Time
	// Backoff paces repeated re-bootstraps that make no progress. The zero
	// value uses 100 ms initial and 10 s maximum delays.
	Backoff Backoff
	// ForkCheckInterval is how often, while caught up, the Runner asks a
	// Feed that implements OriginReader for the control plane's log head
	// and digest, when the Source's messages do not carry them (Kafka,
	// NATS). Default 5s. See runner_fork.go.
	ForkCheckInterval time.Duration
}

// Validate reports configuration errors.
func (c RunnerConfig) Validate() error {
	var errs []error
	if c.Source == nil {
		errs = append(errs, errors.New("ingest: Source is required"))
	}
	if c.Engine == nil {
		errs = append(errs, errors.New("ingest: Engine is required"))
	}
	if c.Feed != nil && c.LoadSnapshot == nil {
		errs = append(errs, errors.New("ingest: LoadSnapshot is required with a Feed"))
	}
	if c.ForkCheckInterval < 0 {
		errs = append(errs, fmt.Errorf("ingest: ForkCheckInterval %s is negative", c.ForkCheckInterval))
	}
	if c.PoisonRetries < 0 {
		errs = append(errs, fmt.Errorf("ingest: PoisonRetries %d is negative", c.PoisonRetries))
	}
	return errors.Join(errs...)
}

// Runner applies the events a Source delivers to the Engine's state,
// following DESIGN.md §3: duplicates are skipped, a gap is filled from the
// Feed before the event after it is applied (never past it), and when the
// Feed no longer has the missing events, or a poison event keeps failing,
// the Runner downloads a snapshot, swaps the Engine's state and restarts
// the Source from the snapshot's position.
//
// Run owns the Source: it runs Source.Run in its own goroutine, one Run at
// a time, and returns only after the Source's Run has returned. Status,
// Position and the metrics may be read from any goroutine.
type Runner struct {
	cfg    RunnerConfig
	log    *slog.Logger
	name   string
	health HealthReporter // nil when the Source does not report health

	mu           sync.Mutex // guards the fields below
	running      bool
	phase        string // connecting, following, caught-up, resyncing, stopped
	pos          replica.Position
	head         uint64
	lagFrom      time.Time // time of the oldest event known and not applied
	caughtUpAt   time.Time
	stuck        string // error kind while the Handler rejects the next event
	lastErr      string
	lastErrAt    time.Time
	poisonSeq    uint64
	poisonCount  int
	progress     bool   // an event was applied since the last re-bootstrap
	resync       string // reason of a re-bootstrap the Handler asked for
	cancelSource context.CancelFunc
	events       map[string]uint64
	errs         map[errKey]uint64
	resyncs      map[string]uint64
	fork         forkState
}

type errKey struct{ source, kind string }

// NewRunner returns a Runner for cfg and registers its metrics.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PoisonRetries == 0 {
		cfg.PoisonRetries = defaultPoisonRetries
	}
	if cfg.ForkCheckInterval == 0 {
		cfg.ForkCheckInterval = defaultForkCheckInterval
	}
	if cfg.StateTime.IsZero() {
		cfg.StateTime = time.Now()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		cfg:        cfg,
		name:       cfg.Source.Name(),
		phase:      StateStopped,
		caughtUpAt: cfg.StateTime,
		events:     map[string]uint64{},
		errs:       map[errKey]uint64{},
		resyncs:    map[string]uint64{ReasonRetention: 0, ReasonPoison: 0, ReasonFork: 0},
	}
	r.log = log.With("source", r.name)
	r.events[r.name] = 0
	if cfg.Feed != nil {
		r.events[feedSource] = 0
	}
	r.health, _ = cfg.Source.(HealthReporter)
	r.pos = replica.Position{Seq: cfg.Engine.State().Revision(), KafkaOffset: -1}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(&collector{r: r}); err != nil {
			return nil, fmt.Errorf("ingest: register metrics: %w", err)
		}
	}
	return r, nil
}

// Run applies events from the Source, starting just past from (the
// position of the Engine's current state), until ctx ends; it then returns
// nil. It returns an error only when the Source cannot continue
// (ErrTerminal) or Run is already running. A poison event or a gap that
// cannot be filled does not end Run: the node keeps serving its last good
// state and keeps retrying.
func (r *Runner) Run(ctx context.Context, from replica.Position) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("ingest: Runner.Run is already running")
	}
	r.running = true
	r.pos = from
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running, r.phase, r.cancelSource = false, StateStopped, nil
		r.mu.Unlock()
	}()

	backoff := r.cfg.Backoff
	pos := from
	for {
		srcCtx, cancel := context.WithCancel(ctx)
		r.mu.Lock()
		r.phase, r.resync, r.cancelSource = StateConnecting, "", cancel
		r.fork.needCheck = true // check for a fork on each (re)start
		r.mu.Unlock()
		err := r.cfg.Source.Run(srcCtx, pos, r.handle)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		r.mu.Lock()
		reason := r.resync
		r.cancelSource = nil
		r.mu.Unlock()

		switch {
		case reason != "":
		case errors.Is(err, ErrResync):
			r.noteError(r.name, KindRetention, err)
			if pos.KafkaOffset >= 0 || pos.JetStreamSeq > 0 {
				// The transport lost its own position; look for the next
				// event by seq (once) before giving up on the transport.
				seq := r.cfg.Engine.State().Revision()
				r.log.Warn("transport position no longer retained; resuming by event seq",
					"seq", seq, "err", err)
				pos = replica.Position{Seq: seq, KafkaOffset: -1}
				continue
			}
			reason = ReasonRetention
		case errors.Is(err, ErrTerminal):
			r.noteError(r.name, KindTransport, err)
			r.log.Error("ingest source cannot continue", "err", err)
			return fmt.Errorf("ingest %s: %w", r.name, err)
		default:
			// Run returned before ctx ended without saying why: the
			// contract allows only ErrTerminal and ErrResync. Restart it.
			if err == nil {
				err = errors.New("source stopped without an error")
			}
			r.noteError(r.name, KindTransport, err)
			r.log.Warn("ingest source stopped; restarting", "err", err)
			if !Sleep(ctx, backoff.Next()) {
				return nil
			}
			pos = r.Position()
			continue
		}

		if r.cfg.Feed == nil && reason == ReasonFork {
			// Following the transport further would apply the new log's
			// events on top of the lost one's. Keep serving the last state,
			// report it, and wait for an operator.
			r.reject(KindFork, r.cfg.Engine.State().Revision()+1, time.Time{},
				errors.New("the control plane's event log forked and this node has no control-plane URL to re-bootstrap from: ingest is stopped; restart the node with --control-plane-url or from a fresh snapshot (--import)"))
			r.mu.Lock()
			r.phase = StateFailing
			r.mu.Unlock()
			<-ctx.Done()
			return nil
		}
		if r.cfg.Feed == nil {
			r.reject(KindRetention, r.cfg.Engine.State().Revision()+1, time.Time{},
				fmt.Errorf("cannot re-bootstrap (%s) without a feed", reason))
			if !Sleep(ctx, backoff.Next()) {
				return nil
			}
			pos = replica.Position{Seq: r.cfg.Engine.State().Revision(), KafkaOffset: -1}
			continue
		}
		p, ok := r.bootstrap(ctx, reason, &backoff)
		if !ok {
			return nil
		}
		pos = p
	}
}

// bootstrap downloads and loads a snapshot and swaps it in, retrying with
// backoff until it succeeds or ctx ends. Re-bootstraps that follow one
// another without an event applied in between are spaced by the backoff.
func (r *Runner) bootstrap(ctx context.Context, reason string, backoff *Backoff) (replica.Position, bool) {
	r.mu.Lock()
	r.phase = StateResyncing
	if r.progress {
		backoff.Reset()
		r.progress = false
	}
	r.mu.Unlock()
	r.log.Warn("re-bootstrapping from a snapshot", "reason", reason, "applied", r.cfg.Engine.State().Revision())
	start := time.Now()
	for attempt := 1; ; attempt++ {
		if d := backoff.Next(); backoff.Attempts() > 1 && !Sleep(ctx, d) {
			return replica.Position{}, false
		}
		applied := r.cfg.Engine.State().Revision()
		st, pos, err := r.download(ctx)
		// After a fork the control plane's log may be shorter than what was
		// applied: going back is the point.
		if err == nil && st.Revision() < applied && reason != ReasonFork {
			err = fmt.Errorf("snapshot at revision %d is behind the applied revision %d", st.Revision(), applied)
		}
		if err != nil {
			if ctx.Err() != nil {
				return replica.Position{}, false
			}
			r.noteError(feedSource, KindSnapshot, err)
			if attempt == 1 {
				r.log.Warn("re-bootstrap failed; retrying with backoff", "reason", reason, "err", err)
			}
			continue
		}
		pos.Seq = st.Revision()
		r.cfg.Engine.SetState(st)
		r.mu.Lock()
		r.resyncs[reason]++
		r.pos = pos
		r.head = max(r.head, pos.Seq)
		if reason == ReasonFork {
			r.head = pos.Seq // the old head belonged to the lost branch
		}
		r.forkReset()
		r.poisonCount = 0
		if r.poisonSeq != 0 && pos.Seq >= r.poisonSeq {
			r.poisonSeq, r.stuck, r.lagFrom = 0, "", time.Time{}
		}
		r.phase = StateConnecting
		r.mu.Unlock()
		r.log.Info("re-bootstrapped from a snapshot", "reason", reason, "revision", pos.Seq,
			"previous", applied, "attempts", attempt, "took", time.Since(start).Round(time.Millisecond))
		return pos, true
	}
}

func (r *Runner) download(ctx context.Context) (*replica.State, replica.Position, error) {
	rc, err := r.cfg.Feed.Snapshot(ctx)
	if err != nil {
		return nil, replica.Position{}, err
	}
	defer rc.Close()
	st, pos, err := r.cfg.LoadSnapshot(rc)
	if err != nil {
		return nil, replica.Position{}, fmt.Errorf("load snapshot: %w", err)
	}
	return st, pos, nil
}

// handle is the Source's Handler.
func (r *Runner) handle(ctx context.Context, m Message) error {
	now := time.Now()
	st := r.cfg.Engine.State()
	if err := r.originBefore(m, st.Revision()); err != nil {
		return err
	}
	if m.Data == nil {
		// Check before the heartbeat can report caught-up.
		if err := r.originAfter(ctx, m); err != nil {
			return err
		}
		r.heartbeat(m, st.Revision(), now)
		return nil
	}
	before := st.Revision()
	ev, err := replica.DecodeEvent(m.Data)
	if err != nil {
		seq, ok := PeekSeq(m.Data)
		if ok && seq <= before {
			// Apply's rule: seq <= applied is a duplicate, not looked at.
			r.accepted(m, seq, time.Time{}, before, before, now)
			return nil
		}
		if !ok {
			seq = before + 1
		}
		return r.poison(seq, time.Time{}, fmt.Errorf("%w: %w", replica.ErrPoison, err))
	}
	err = st.Apply(ev)
	if errors.Is(err, replica.ErrGap) {
		if err = r.fill(ctx, st, ev); err == nil {
			err = st.Apply(ev)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		if errors.Is(err, replica.ErrPoison) {
			return r.poison(st.Revision()+1, ev.Time, err)
		}
		return err // fill has reported it
	}
	r.accepted(m, ev.Seq, ev.Time, before, st.Revision(), now)
	return r.originAfter(ctx, m)
}

// fill applies the events between the state's revision and ev from the
// Feed, or reports why it cannot.
func (r *Runner) fill(ctx context.Context, st *replica.State, ev replica.Event) error {
	if r.cfg.Feed == nil {
		err := fmt.Errorf("events %d to %d are missing and there is no feed to fetch them: %w",
			st.Revision()+1, ev.Seq-1, replica.ErrGap)
		r.reject(KindGap, st.Revision()+1, ev.Time, err)
		return err
	}
	for {
		rev := st.Revision()
		if rev+1 >= ev.Seq {
			return nil
		}
		events, head, err := r.cfg.Feed.Events(ctx, rev, int(min(ev.Seq-1-rev, fillLimit)))
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			err = fmt.Errorf("fill gap after %d: %w", rev, err)
			if errors.Is(err, ErrResync) {
				r.reject(KindRetention, rev+1, ev.Time, err)
				r.requestResync(ReasonRetention)
				return err
			}
			r.reject(KindFeed, rev+1, ev.Time, err)
			return err
		}
		for _, raw := range events {
			fev, err := replica.DecodeEvent(raw)
			if err != nil {
				return fmt.Errorf("feed event after %d: %w: %w", st.Revision(), replica.ErrPoison, err)
			}
			if fev.Seq >= ev.Seq {
				break
			}
			before := st.Revision()
			if err := st.Apply(fev); err != nil {
				if !errors.Is(err, replica.ErrPoison) {
					r.reject(KindFeed, before+1, ev.Time, fmt.Errorf("feed event %d: %w", fev.Seq, err))
				}
				return err
			}
			if st.Revision() > before {
				r.mu.Lock()
				r.events[feedSource]++
				r.progress = true
				r.mu.Unlock()
			}
		}
		if st.Revision() == rev {
			err := fmt.Errorf("fill gap after %d: the feed returned no new events (head %d): %w", rev, head, replica.ErrGap)
			r.reject(KindGap, rev+1, ev.Time, err)
			return err
		}
	}
}

// accepted records a message the state has applied (applied > before) or
// skipped as a duplicate.
func (r *Runner) accepted(m Message, seq uint64, evTime time.Time, before, applied uint64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if applied > before {
		r.events[r.name]++
		r.progress = true
		r.fork.fresh = false
	}
	r.pos.Seq = applied
	if m.After.KafkaOffset >= 0 {
		r.pos.KafkaOffset = m.After.KafkaOffset
	}
	if m.After.JetStreamSeq > 0 {
		r.pos.JetStreamSeq = m.After.JetStreamSeq
	}
	if r.stuck != "" && (r.poisonSeq == 0 || applied >= r.poisonSeq) && applied > before {
		r.log.Info("ingest recovered", "applied", applied, "was", r.stuck)
		r.stuck, r.poisonSeq, r.poisonCount = "", 0, 0
	}
	if m.Behind >= 0 {
		r.head = max(seq+uint64(m.Behind), applied)
	} else {
		r.head = max(r.head, applied)
	}
	switch {
	case m.Behind == 0 && r.stuck == "":
		r.phase, r.caughtUpAt, r.lagFrom = StateCaughtUp, now, time.Time{}
	case r.stuck == "":
		r.phase = StateFollowing
		r.lagFrom = evTime
	}
}

func (r *Runner) heartbeat(m Message, applied uint64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	base := m.After.Seq
	if base == 0 {
		base = applied
	}
	if m.Behind >= 0 {
		r.head = max(base+uint64(m.Behind), applied)
	}
	if r.stuck != "" {
		return
	}
	switch {
	case m.Behind == 0 && applied >= base:
		r.phase, r.caughtUpAt, r.lagFrom = StateCaughtUp, now, time.Time{}
	case m.Behind != 0 || applied < base:
		r.phase = StateFollowing
	}
}

// poison records an event that cannot be applied and asks for a
// re-bootstrap once it has failed PoisonRetries times in a row.
func (r *Runner) poison(seq uint64, evTime time.Time, err error) error {
	err = fmt.Errorf("event %d: %w", seq, err)
	r.mu.Lock()
	if r.poisonSeq != seq {
		r.poisonSeq, r.poisonCount = seq, 0
	}
	r.poisonCount++
	n := r.poisonCount
	r.mu.Unlock()
	r.reject(KindPoison, seq, evTime, err)
	if r.cfg.Feed != nil && n >= r.cfg.PoisonRetries {
		r.log.Warn("poison event keeps failing; re-bootstrapping", "seq", seq, "attempts", n)
		r.requestResync(ReasonPoison)
	}
	return err
}

// reject records that the Handler rejects the event at seq: ingest is
// stuck there until it is applied. The first rejection of a kind logs.
func (r *Runner) reject(kind string, seq uint64, evTime time.Time, err error) {
	source := r.name
	if kind == KindFeed {
		source = feedSource
	}
	r.mu.Lock()
	first := r.stuck != kind
	r.stuck = kind
	r.errs[errKey{source, kind}]++
	r.lastErr, r.lastErrAt = err.Error(), time.Now()
	if r.lagFrom.IsZero() && !evTime.IsZero() {
		r.lagFrom = evTime
	}
	r.head = max(r.head, seq)
	applied := r.pos.Seq
	r.mu.Unlock()
	if first {
		r.log.Error("ingest stopped at an event; serving the last good state",
			"kind", kind, "seq", seq, "applied", applied, "err", err)
	}
}

func (r *Runner) requestResync(reason string) {
	r.mu.Lock()
	cancel := r.cancelSource
	if r.resync == "" {
		r.resync = reason
	}
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (r *Runner) noteError(source, kind string, err error) {
	r.mu.Lock()
	r.errs[errKey{source, kind}]++
	r.lastErr, r.lastErrAt = err.Error(), time.Now()
	r.mu.Unlock()
}
