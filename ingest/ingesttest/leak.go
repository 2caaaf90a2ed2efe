package ingesttest

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// CheckGoroutines fails t when goroutines of the transport clients or of
// Outpost's ingest code, started during the test, are still running a few
// seconds after all its other cleanups have run. Call it first in a test
// (so its cleanup runs last) and do not use t.Parallel. Brokers and test
// servers are not counted: their lifecycles belong to the test.
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := goroutines()
	t.Cleanup(func() {
		if leaked := waitGoroutines(before, 5*time.Second); len(leaked) > 0 {
			t.Errorf("%d goroutines leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

// waitGoroutines waits up to d for the client goroutines not in before to
// end and returns the stacks of those still running.
func waitGoroutines(before map[string]string, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		var leaked []string
		for id, stack := range goroutines() {
			if _, ok := before[id]; !ok && ours(stack) {
				leaked = append(leaked, stack)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ours reports goroutines running client or ingest code. Broker servers
// (nats-server, kfake) and HTTP servers are left out.
func ours(stack string) bool {
	if strings.Contains(stack, "nats-server/") || strings.Contains(stack, "franz-go/pkg/kfake") {
		return false
	}
	for _, s := range []string{
		"github.com/nats-io/nats.go",
		"github.com/segmentio/kafka-go",
		"net/http.(*persistConn)",
		"outpost/ingest.",
		"outpost/ingest/poll.",
		"outpost/ingest/kafka.",
		"outpost/ingest/nats.",
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}

// goroutines returns the stacks of all goroutines by header ("goroutine 12").
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	m := make(map[string]string)
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		head, _, _ := bytes.Cut(g, []byte(" ["))
		m[string(head)] = string(g)
	}
	return m
}
