package kafka_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/ingesttest"
	"github.com/outpost-authz/outpost/ingest/kafka"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/brokers"
)

var testBackoff = ingest.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}

func startKafka(t testing.TB) *brokers.Kafka {
	t.Helper()
	k, err := brokers.StartKafka(brokers.KafkaConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("StartKafka: %v", err)
	}
	t.Cleanup(k.Close)
	return k
}

// topicTransport is one topic of a shared kfake broker.
type topicTransport struct {
	k     *brokers.Kafka
	env   string
	topic string
	w     *kafkago.Writer
}

func openTopic(t *testing.T, k *brokers.Kafka, env string) *topicTransport {
	t.Helper()
	topic := "outpost." + env + ".events"
	if err := k.CreateTopic(topic, 1); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	tr := &kafkago.Transport{}
	w := &kafkago.Writer{
		Addr: kafkago.TCP(k.Addr()), Topic: topic, Balancer: &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 1000,
		MaxAttempts: 3, WriteBackoffMin: 10 * time.Millisecond, WriteBackoffMax: 50 * time.Millisecond,
		Transport: tr,
	}
	t.Cleanup(func() {
		_ = w.Close()
		tr.CloseIdleConnections()
	})
	return &topicTransport{k: k, env: env, topic: topic, w: w}
}

// Publish writes payloads as one batch, retrying until the writer has
// reconnected after a restart.
func (p *topicTransport) Publish(t testing.TB, payloads ...[]byte) {
	t.Helper()
	msgs := make([]kafkago.Message, len(payloads))
	for i, v := range payloads {
		msgs[i] = kafkago.Message{Key: []byte(p.env), Value: v}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := p.w.WriteMessages(ctx, msgs...)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *topicTransport) Stop(t testing.TB) { p.k.Stop() }
func (p *topicTransport) Restart(t testing.TB) {
	t.Helper()
	if err := p.k.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
}

func (p *topicTransport) NewSource(t testing.TB, log *slog.Logger) ingest.Source {
	t.Helper()
	src, err := kafka.New(kafka.Config{Brokers: []string{p.k.Addr()}, Env: p.env, MaxWait: 200 * time.Millisecond, Backoff: testBackoff}, log)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestContract(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	k := startKafka(t)
	ingesttest.Run(t, ingesttest.Harness{
		Open:    func(t *testing.T, env string) ingesttest.Transport { return openTopic(t, k, env) },
		Backoff: testBackoff,
	})
}

func TestRunErrors(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	k := startKafka(t)
	tp := openTopic(t, k, "prod")
	tp.Publish(t, ingesttest.Events("prod", 1, 3)...)
	accept := func(context.Context, ingest.Message) error { return nil }

	t.Run("unknown topic is ErrTerminal", func(t *testing.T) {
		src, err := kafka.New(kafka.Config{Brokers: []string{k.Addr()}, Topic: "no.such.topic", Backoff: testBackoff}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := src.Run(ctx, replica.StartPosition(), accept); !errors.Is(err, ingest.ErrTerminal) {
			t.Fatalf("Run = %v, want ErrTerminal", err)
		}
	})
	t.Run("offset past the end is ErrResync", func(t *testing.T) {
		src := tp.NewSource(t, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		err := src.Run(ctx, replica.Position{Seq: 50, KafkaOffset: 50}, accept)
		if !errors.Is(err, ingest.ErrResync) {
			t.Fatalf("Run = %v, want ErrResync", err)
		}
	})
	t.Run("record without a value is poison, not a heartbeat", func(t *testing.T) {
		tp.Publish(t, nil)
		src := tp.NewSource(t, nil)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		got := make(chan ingest.Message, 1)
		err := src.Run(ctx, replica.Position{Seq: 3, KafkaOffset: 3}, func(_ context.Context, m ingest.Message) error {
			got <- m
			cancel()
			return nil
		})
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
		if m := <-got; m.Data == nil || len(m.Data) != 0 || m.After.KafkaOffset != 4 {
			t.Fatalf("got %+v, want an empty non-nil payload at offset 3", m)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  kafka.Config
		ok   bool
	}{
		{"env", kafka.Config{Brokers: []string{"k:9092"}, Env: "prod"}, true},
		{"topic", kafka.Config{Brokers: []string{"k:9092"}, Topic: "t"}, true},
		{"no brokers", kafka.Config{Env: "prod"}, false},
		{"bad broker", kafka.Config{Brokers: []string{"k"}, Env: "prod"}, false},
		{"no topic or env", kafka.Config{Brokers: []string{"k:9092"}}, false},
		{"negative partition", kafka.Config{Brokers: []string{"k:9092"}, Env: "p", Partition: -1}, false},
		{"negative wait", kafka.Config{Brokers: []string{"k:9092"}, Env: "p", MaxWait: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
