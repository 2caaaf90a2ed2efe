package brokers

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkGoroutines fails t when goroutines started during the test are
// still running a few seconds after all its other cleanups have run. Call
// it first in a test (so its cleanup runs last) and do not use t.Parallel.
func checkGoroutines(t testing.TB) {
	t.Helper()
	before := goroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			var leaked []string
			for id, stack := range goroutines() {
				if _, ok := before[id]; !ok && ours(stack) {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// ours reports goroutines running code of the brokers, their clients or
// this package; runtime and test-framework goroutines are ignored.
func ours(stack string) bool {
	for _, s := range []string{
		"github.com/nats-io/",
		"github.com/twmb/franz-go/",
		"github.com/segmentio/kafka-go",
		"testenv/brokers.",
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}

// goroutines returns the stacks of all goroutines by goroutine header line
// ("goroutine 12").
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
