package ingest

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Health is what a Source knows about its connection: whether it is
// failing now, since when, and its last error.
type Health struct {
	// Failing is true from the first failed attempt of a series until the
	// transport answers again.
	Failing bool
	// Since is when the current series of failures started (zero when not
	// failing).
	Since time.Time
	// LastError and LastErrorAt describe the most recent failure, kept after
	// recovery.
	LastError   string
	LastErrorAt time.Time
	// Failures counts every failed attempt since the Source was made.
	Failures uint64
}

// HealthReporter is implemented by Sources that retry transport failures
// inside Run, so that the Runner can show them in its status and metrics.
// It is optional: a Source without it is reported only through what it
// delivers. Health must be safe to call concurrently with Run.
type HealthReporter interface {
	Health() Health
}

// Retrier is the retry policy every Source shares: capped, jittered
// backoff for transport failures, reset when the transport answers again;
// a separate backoff for messages the Handler rejected, reset when one is
// accepted; one log line when failing starts and one when it recovers; and
// the Health it reports. The zero value is ready (100 ms to 10 s delays, no
// logging). Fail, Reject, Connected and Accepted belong to the goroutine
// running the Source; Health may be called from any goroutine.
type Retrier struct {
	// Source names the transport in log lines.
	Source string
	// Log receives the failing and recovered lines (nil: none).
	Log *slog.Logger
	// Backoff is the policy for both delay sequences.
	Backoff Backoff

	conn, reject Backoff
	inited       bool

	mu     sync.Mutex // guards health
	health Health
}

func (r *Retrier) init() {
	if !r.inited {
		r.conn, r.reject = r.Backoff, r.Backoff
		r.inited = true
	}
}

// Fail records a transport failure, logs the first one of a series, and
// waits for the next reconnect delay. It returns false if ctx ended first.
func (r *Retrier) Fail(ctx context.Context, err error) bool {
	r.init()
	now := time.Now()
	r.mu.Lock()
	first := !r.health.Failing
	r.health.Failures++
	r.health.LastError = err.Error()
	r.health.LastErrorAt = now
	if first {
		r.health.Failing = true
		r.health.Since = now
	}
	r.mu.Unlock()
	if first && r.Log != nil {
		r.Log.Warn("ingest source failing; retrying with backoff", "source", r.Source, "err", err)
	}
	return Sleep(ctx, r.conn.Next())
}

// Connected records that the transport answered: it resets the reconnect
// backoff and, if a series of failures was under way, logs the recovery.
func (r *Retrier) Connected() {
	r.init()
	r.conn.Reset()
	r.mu.Lock()
	was, since, n := r.health.Failing, r.health.Since, r.health.Failures
	r.health.Failing = false
	r.health.Since = time.Time{}
	r.mu.Unlock()
	if was && r.Log != nil {
		r.Log.Info("ingest source recovered", "source", r.Source,
			"failing_for", time.Since(since).Round(time.Millisecond), "failures_total", n)
	}
}

// Reject waits for the next redelivery delay after the Handler rejected a
// message. The Handler reports its own errors, so nothing is logged. It
// returns false if ctx ended first.
func (r *Retrier) Reject(ctx context.Context) bool {
	r.init()
	return Sleep(ctx, r.reject.Next())
}

// Accepted resets the redelivery backoff after the Handler accepted a
// message.
func (r *Retrier) Accepted() {
	r.init()
	r.reject.Reset()
}

// Health returns the current health.
func (r *Retrier) Health() Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.health
}

// Sleep waits for d or until ctx ends, and reports whether the full delay
// passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
