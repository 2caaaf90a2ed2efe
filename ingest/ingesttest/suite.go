package ingesttest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/replica"
)

// Harness gives the contract suite access to one transport.
type Harness struct {
	// Open returns an empty event log of environment env on the transport
	// (a fresh topic, stream or feed) and releases it in t.Cleanup.
	Open func(t *testing.T, env string) Transport
	// Dedupes says the transport drops a payload published again (NATS
	// JetStream, by Nats-Msg-Id), so duplicates never reach a Source.
	Dedupes bool
	// Backoff is the policy the Sources made by Transport.NewSource use;
	// the suite checks redelivery delays against it. Keep it short (tens of
	// milliseconds) so the suite runs fast.
	Backoff ingest.Backoff
}

// Transport is one event log on a real transport.
type Transport interface {
	// Publish appends payloads, in order. Payloads are event JSON with a
	// seq (see ingest.PeekSeq), possibly repeated, out of sequence or
	// poison.
	Publish(t testing.TB, payloads ...[]byte)
	// Stop takes the transport down (clients see refused connections) and
	// Restart brings it back with its contents.
	Stop(t testing.TB)
	Restart(t testing.TB)
	// NewSource returns a new Source reading this log with the Harness's
	// Backoff, logging to log.
	NewSource(t testing.TB, log *slog.Logger) ingest.Source
}

// waitTimeout bounds every wait of the suite.
const waitTimeout = 20 * time.Second

// outage is how long the suite keeps a transport down.
const outage = 2 * time.Second

var envCounter atomic.Int64

// Run runs the contract suite of ingest.Source (see its documentation)
// against the transport h gives access to.
func Run(t *testing.T, h Harness) {
	cases := []struct {
		name string
		run  func(t *testing.T, h Harness, env string, tr Transport)
	}{
		{"in order from the start", testInOrder},
		{"resume from a position", testResume},
		{"duplicates and gaps delivered in transport order", testDuplicatesAndGaps},
		{"rejected messages redelivered after backoff", testRedelivery},
		{"poison redelivered and never skipped", testPoison},
		{"heartbeats report caught up", testHeartbeats},
		{"transport outage", testOutage},
		{"cancel returns promptly without leaks", testCancel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := fmt.Sprintf("c%d", envCounter.Add(1))
			tc.run(t, h, env, h.Open(t, env))
		})
	}
}

func testInOrder(t *testing.T, h Harness, env string, tr Transport) {
	tr.Publish(t, Events(env, 1, 30)...)
	rec := &recorder{}
	run := start(t, tr.NewSource(t, nil), replica.StartPosition(), rec)
	rec.waitApplied(t, run, 30)
	if got, want := rec.seqs(), seqRange(1, 30); !slices.Equal(got, want) {
		t.Fatalf("delivered seqs %v, want %v", got, want)
	}
	if m := rec.lastData(); m.Behind != 0 {
		t.Errorf("last message Behind = %d, want 0", m.Behind)
	}
	if err := run.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func testResume(t *testing.T, h Harness, env string, tr Transport) {
	tr.Publish(t, Events(env, 1, 20)...)
	rec := &recorder{}
	run := start(t, tr.NewSource(t, nil), replica.StartPosition(), rec)
	rec.waitApplied(t, run, 20)
	if err := run.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	at10, ok := rec.message(10)
	if !ok {
		t.Fatal("event 10 not recorded")
	}
	tr.Publish(t, Events(env, 21, 25)...)

	for _, tc := range []struct {
		name string
		from replica.Position
	}{
		{"transport position", func() replica.Position { p := at10.After; p.Seq = 10; return p }()},
		{"event seq only", replica.Position{Seq: 10, KafkaOffset: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{applied: 10}
			run := start(t, tr.NewSource(t, nil), tc.from, rec)
			rec.waitApplied(t, run, 25)
			if got, want := rec.seqs(), seqRange(11, 25); !slices.Equal(got, want) {
				t.Fatalf("resumed from %+v: delivered %v, want %v", tc.from, got, want)
			}
			if err := run.stop(t); err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
		})
	}
}

func testDuplicatesAndGaps(t *testing.T, h Harness, env string, tr Transport) {
	published := [][]byte{}
	published = append(published, Events(env, 1, 5)...)
	published = append(published, Event(env, 3), Event(env, 4)) // duplicates
	published = append(published, Event(env, 6), Event(env, 9), Event(env, 10))
	tr.Publish(t, published...)
	want := []uint64{1, 2, 3, 4, 5, 3, 4, 6, 9, 10}
	if h.Dedupes {
		want = []uint64{1, 2, 3, 4, 5, 6, 9, 10}
	}
	rec := &recorder{}
	run := start(t, tr.NewSource(t, nil), replica.StartPosition(), rec)
	waitFor(t, run, "event 10 delivered", func() bool { _, ok := rec.message(10); return ok })
	if got := rec.seqs(); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v (transport order, nothing invented or dropped)", got, want)
	}
	// The replica rule on top: duplicates skipped, nothing applied past the gap.
	if applied, dups := rec.state(); applied != 6 || (!h.Dedupes && dups != 2) {
		t.Fatalf("applied %d with %d duplicates, want 6 and 2", applied, dups)
	}
	if err := run.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func testRedelivery(t *testing.T, h Harness, env string, tr Transport) {
	tr.Publish(t, Events(env, 1, 6)...)
	rec := &recorder{reject: func(seq uint64, n int) error {
		if seq == 3 && n <= 2 {
			return errors.New("not now")
		}
		return nil
	}}
	run := start(t, tr.NewSource(t, nil), replica.StartPosition(), rec)
	rec.waitApplied(t, run, 6)
	if got, want := rec.seqs(), []uint64{1, 2, 3, 3, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v: the rejected message again, nothing before it", got, want)
	}
	times := rec.deliveryTimes(3)
	minDelay := h.Backoff.Initial / 2
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d < minDelay {
			t.Errorf("redelivery %d came %v after the rejection, want a backoff of at least %v", i, d, minDelay)
		}
	}
	if err := run.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func testPoison(t *testing.T, h Harness, env string, tr Transport) {
	tr.Publish(t, Event(env, 1), Event(env, 2), UndecodableEvent(env, 3), Event(env, 4))
	rec := &recorder{}
	run := start(t, tr.NewSource(t, nil), replica.StartPosition(), rec)
	waitFor(t, run, "poison delivered 4 times", func() bool { return rec.deliveries(3) >= 4 })
	if err := run.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	for _, seq := range rec.seqs() {
		if seq > 3 {
			t.Fatalf("delivered %v: got past the rejected poison event", rec.seqs())
		}
	}
	if applied, _ := rec.state(); applied != 2 {
		t.Fatalf("applied %d, want 2", applied)
	}
}

func testHeartbeats(t *testing.T, h Harness, env string, tr Transport) {
	t.Run("empty log", func(t *testing.T) {
		rec := &recorder{}
		run := start(t, tr.NewSource(t, nil), replica.StartPosition(), rec)
		waitFor(t, run, "a heartbeat with Behind 0", rec.caughtUpBeat)
		if err := run.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
	t.Run("after a backlog", func(t *testing.T) {
		tr.Publish(t, Events(env, 1, 10)...)
		rec := &recorder{}
		run := start(t, tr.NewSource(t, nil), replica.StartPosition(), rec)
		rec.waitApplied(t, run, 10)
		if m, _ := rec.message(1); m.Behind == 0 {
			t.Errorf("first of 10 messages has Behind 0, want > 0 or -1 (unknown)")
		}
		if m, _ := rec.message(10); m.Behind != 0 {
			t.Errorf("last message Behind = %d, want 0", m.Behind)
		}
		rec.clearBeats()
		waitFor(t, run, "a heartbeat with Behind 0 while idle", rec.caughtUpBeat)
		// Heartbeats come about once a second, not in a busy loop.
		time.Sleep(1500 * time.Millisecond)
		if n := rec.beats(); n > 4 {
			t.Errorf("%d heartbeats in 1.5 s while idle, want about one a second", n)
		}
		// New events still flow after heartbeats.
		tr.Publish(t, Event(env, 11))
		rec.waitApplied(t, run, 11)
		if err := run.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
}

func testOutage(t *testing.T, h Harness, env string, tr Transport) {
	tr.Publish(t, Events(env, 1, 10)...)
	logs := &logCapture{}
	src := tr.NewSource(t, slog.New(logs))
	rec := &recorder{}
	run := start(t, src, replica.StartPosition(), rec)
	rec.waitApplied(t, run, 10)

	tr.Stop(t)
	time.Sleep(outage)
	hr, reports := src.(ingest.HealthReporter)
	if reports && !hr.Health().Failing {
		t.Errorf("Health().Failing = false after a %v outage", outage)
	}
	tr.Restart(t)
	tr.Publish(t, Events(env, 11, 20)...)
	rec.waitApplied(t, run, 20)
	if err := run.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if applied, _ := rec.state(); applied != 20 {
		t.Fatalf("applied %d after the outage, want 20", applied)
	}
	if reports {
		hl := hr.Health()
		if hl.Failing || hl.Failures == 0 || hl.LastError == "" {
			t.Errorf("Health after recovery = %+v, want not failing, with failures counted", hl)
		}
		if f, r := logs.count("source failing"), logs.count("source recovered"); f != 1 || r != 1 {
			t.Errorf("logged %d failing and %d recovered lines for one outage, want 1 and 1:\n%s", f, r, logs)
		}
	}
}

func testCancel(t *testing.T, h Harness, env string, tr Transport) {
	tr.Publish(t, Events(env, 1, 3)...)
	for _, down := range []bool{false, true} {
		before := goroutines() // after Publish: the harness's own clients are not the Source's
		rec := &recorder{}
		run := start(t, tr.NewSource(t, nil), replica.StartPosition(), rec)
		rec.waitApplied(t, run, 3)
		if down {
			tr.Stop(t)
			time.Sleep(300 * time.Millisecond) // in its retry loop now
		}
		begin := time.Now()
		if err := run.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Errorf("Run took %v to return after cancel (transport down: %v)", d, down)
		}
		if down {
			// The harness's own clients reconnect in goroutines of their
			// own while the transport is down, so leaks of this run are
			// left to the caller's CheckGoroutines.
			tr.Restart(t)
			continue
		}
		if leaked := waitGoroutines(before, 5*time.Second); len(leaked) > 0 {
			t.Errorf("%d goroutines still running after Run returned:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	}
}

// running is a Source's Run in a goroutine of the test.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func start(t testing.TB, src ingest.Source, from replica.Position, rec *recorder) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, from, rec.handle) }()
	t.Cleanup(func() { _ = r.stop(t) })
	return r
}

// stop cancels Run and returns its error; Run must return within 5 s.
func (r *running) stop(t testing.TB) error {
	r.once.Do(func() {
		r.cancel()
		timer := time.NewTimer(5 * time.Second)
		defer timer.Stop()
		select {
		case r.err = <-r.done:
		case <-timer.C:
			r.err = errors.New("Run did not return within 5 s of cancel")
		}
	})
	return r.err
}

// waitFor polls cond until it holds; it fails the test when Run returns
// first or waitTimeout passes.
func waitFor(t testing.TB, r *running, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("waiting for %s: Run returned %v", what, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out after %v", what, waitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recorder is a Handler that records deliveries and keeps a replica's
// seq bookkeeping: duplicates skipped, nothing applied past a gap (gap
// events are accepted, to observe what the transport delivers).
type recorder struct {
	reject func(seq uint64, delivery int) error // nil: accept all

	mu       sync.Mutex
	msgs     []ingest.Message // data messages, in delivery order
	at       []time.Time
	applied  uint64
	dups     int
	hbs      []ingest.Message
	delivers map[uint64]int
}

var errPoison = errors.New("poison")

func (r *recorder) handle(ctx context.Context, m ingest.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.Data == nil {
		r.hbs = append(r.hbs, m)
		return nil
	}
	m.Data = slices.Clone(m.Data)
	r.msgs = append(r.msgs, m)
	r.at = append(r.at, time.Now())
	seq, ok := ingest.PeekSeq(m.Data)
	if !ok {
		return errPoison
	}
	if r.delivers == nil {
		r.delivers = map[uint64]int{}
	}
	r.delivers[seq]++
	if _, err := replica.DecodeEvent(m.Data); err != nil {
		return fmt.Errorf("%w: %w", errPoison, err)
	}
	if r.reject != nil {
		if err := r.reject(seq, r.delivers[seq]); err != nil {
			return err
		}
	}
	switch {
	case seq <= r.applied:
		r.dups++
	case seq == r.applied+1:
		r.applied = seq
	}
	return nil
}

func (r *recorder) seqs() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint64, 0, len(r.msgs))
	for _, m := range r.msgs {
		seq, _ := ingest.PeekSeq(m.Data)
		out = append(out, seq)
	}
	return out
}

// message returns the last delivery of event seq.
func (r *recorder) message(seq uint64) (ingest.Message, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.msgs) - 1; i >= 0; i-- {
		if s, _ := ingest.PeekSeq(r.msgs[i].Data); s == seq {
			return r.msgs[i], true
		}
	}
	return ingest.Message{}, false
}

func (r *recorder) lastData() ingest.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) == 0 {
		return ingest.Message{Behind: -2}
	}
	return r.msgs[len(r.msgs)-1]
}

func (r *recorder) deliveryTimes(seq uint64) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Time
	for i, m := range r.msgs {
		if s, _ := ingest.PeekSeq(m.Data); s == seq {
			out = append(out, r.at[i])
		}
	}
	return out
}

func (r *recorder) deliveries(seq uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delivers[seq]
}

func (r *recorder) state() (applied uint64, dups int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied, r.dups
}

func (r *recorder) waitApplied(t testing.TB, run *running, seq uint64) {
	t.Helper()
	waitFor(t, run, fmt.Sprintf("event %d applied", seq), func() bool {
		applied, _ := r.state()
		return applied >= seq
	})
}

func (r *recorder) caughtUpBeat() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.hbs {
		if m.Behind == 0 {
			return true
		}
	}
	return false
}

func (r *recorder) beats() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.hbs)
}

func (r *recorder) clearBeats() {
	r.mu.Lock()
	r.hbs = nil
	r.mu.Unlock()
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// logCapture is a slog.Handler that keeps the messages of Warn and Info
// records.
type logCapture struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCapture) WithGroup(string) slog.Handler            { return l }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	return nil
}

func (l *logCapture) count(word string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, word) {
			n++
		}
	}
	return n
}

func (l *logCapture) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.msgs, "\n")
}
