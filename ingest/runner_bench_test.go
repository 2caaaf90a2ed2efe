package ingest_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// sliceSource delivers pre-encoded events from memory, then stops.
type sliceSource struct {
	events [][]byte
	done   chan struct{}
}

func (s *sliceSource) Name() string { return "kafka" }

func (s *sliceSource) Run(ctx context.Context, from replica.Position, h ingest.Handler) error {
	for i, data := range s.events {
		m := ingest.Message{Data: data, After: replica.Position{KafkaOffset: int64(i + 1)}, Behind: int64(len(s.events) - i - 1)}
		if err := h(ctx, m); err != nil {
			return err
		}
	}
	close(s.done)
	<-ctx.Done()
	return nil
}

// BenchmarkRunnerIngest measures a Runner applying the 100k-fact gitclub
// backlog (events of 100 facts, as the control plane encodes them) from a
// Source with no transport: decode, apply and the Runner's bookkeeping.
func BenchmarkRunnerIngest(b *testing.B) {
	const facts = 100_000
	const env = "bench"
	var events [][]byte
	err := datasets.Events(datasets.Config{Facts: facts}, env, 100, func(ev replica.Event) error {
		data, err := json.Marshal(ev)
		events = append(events, data)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		engine, err := query.New(replica.New(replicaConfig(env)), query.Config{CacheMaxBytes: -1})
		if err != nil {
			b.Fatal(err)
		}
		src := &sliceSource{events: events, done: make(chan struct{})}
		r, err := ingest.NewRunner(ingest.RunnerConfig{Source: src, Engine: engine})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- r.Run(ctx, replica.Position{}) }()
		<-src.done
		cancel()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		if got := engine.State().Revision(); got != uint64(len(events)) {
			b.Fatalf("revision %d, want %d", got, len(events))
		}
	}
	b.ReportMetric(float64(facts)*float64(b.N)/b.Elapsed().Seconds(), "facts/s")
}
