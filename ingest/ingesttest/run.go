package ingesttest

import (
	"bytes"
	"context"
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
