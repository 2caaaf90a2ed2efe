package ingesttest

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/replica"
)

// LogBuffer collects a source's log lines; it is safe for concurrent
// writes.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// HealthSource is a source that reports its health (kafka, nats).
type HealthSource interface {
	Run(ctx context.Context, from replica.Position, h ingest.Handler) error
	Health() ingest.Health
}

// RunResult is what RunUntil saw: events delivered, the source's health
// when it stopped, and its log.
type RunResult struct {
	Delivered int64
	Health    ingest.Health
	Log       string
}

// RunUntil runs src from the start until done holds or wait passes, then
// stops it; logs is where src logs. A Run error fails the test.
func RunUntil(t *testing.T, src HealthSource, logs *LogBuffer, wait time.Duration, done func(int64, ingest.Health) bool) RunResult {
	t.Helper()
	var n atomic.Int64
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		errc <- src.Run(ctx, replica.StartPosition(), func(_ context.Context, m ingest.Message) error {
			if m.Data != nil {
				n.Add(1)
			}
			return nil
		})
	}()
	deadline := time.Now().Add(wait)
	for !done(n.Load(), src.Health()) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	return RunResult{Delivered: n.Load(), Health: src.Health(), Log: logs.String()}
}

// CheckRefused checks what RunUntil saw of a source given wrong
// credentials: nothing delivered, the source failing with an error, the
// secret neither in the error nor in the log, and the failure logged once
// however often it repeated.
func CheckRefused(t *testing.T, got RunResult, secret string) {
	t.Helper()
	if got.Delivered != 0 || !got.Health.Failing || got.Health.LastError == "" {
		t.Fatalf("delivered %d, health %+v; want a failing source", got.Delivered, got.Health)
	}
	if strings.Contains(got.Health.LastError, secret) || strings.Contains(got.Log, secret) {
		t.Fatalf("secret %q leaked: error %q, log %s", secret, got.Health.LastError, got.Log)
	}
	if n := strings.Count(got.Log, "ingest source failing"); n != 1 {
		t.Fatalf("logged the failure %d times over %d failures, want once:\n%s", n, got.Health.Failures, got.Log)
	}
	t.Logf("reported: %s", got.Health.LastError)
}
