package nats_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/ingesttest"
	"github.com/outpost-authz/outpost/ingest/nats"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/brokers"
)

var testBackoff = ingest.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}

func startNATS(t testing.TB) *brokers.NATS {
	t.Helper()
	n, err := brokers.StartNATS(brokers.NATSConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("StartNATS: %v", err)
	}
	t.Cleanup(n.Close)
	return n
}

// streamTransport is one stream of a shared NATS server, published to as
// the control plane does: subject outpost.<env>.events, Nats-Msg-Id
// <env>:<seq>.
type streamTransport struct {
	n       *brokers.NATS
	env     string
	subject string
	js      jetstream.JetStream
}

func openStream(t *testing.T, n *brokers.NATS, env string) *streamTransport {
	t.Helper()
	subject := "outpost." + env + ".events"
	if err := n.EnsureStream("OUTPOST_"+strings.ToUpper(env), []string{subject}); err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	nc, err := natsgo.Connect(n.URL(), natsgo.MaxReconnects(-1), natsgo.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &streamTransport{n: n, env: env, subject: subject, js: js}
}

// Publish publishes each payload, retrying until the client has
// reconnected after a restart.
func (s *streamTransport) Publish(t testing.TB, payloads ...[]byte) {
	t.Helper()
	for _, p := range payloads {
		seq, _ := ingest.PeekSeq(p)
		id := fmt.Sprintf("%s:%d", s.env, seq)
		deadline := time.Now().Add(15 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := s.js.Publish(ctx, s.subject, p, jetstream.WithMsgID(id))
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: %v", id, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (s *streamTransport) Stop(t testing.TB) { s.n.Stop() }
func (s *streamTransport) Restart(t testing.TB) {
	t.Helper()
	if err := s.n.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
}

func (s *streamTransport) NewSource(t testing.TB, log *slog.Logger) ingest.Source {
	t.Helper()
	src, err := nats.New(nats.Config{URL: s.n.URL(), Env: s.env, IdleWait: 250 * time.Millisecond,
		ReconnectWait: 50 * time.Millisecond, Backoff: testBackoff}, log)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestContract(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	n := startNATS(t)
	ingesttest.Run(t, ingesttest.Harness{
		Open:    func(t *testing.T, env string) ingesttest.Transport { return openStream(t, n, env) },
		Dedupes: true,
		Backoff: testBackoff,
	})
}

func TestRunErrors(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	n := startNATS(t)
	st := openStream(t, n, "prod")
	st.Publish(t, ingesttest.Events("prod", 1, 3)...)
	accept := func(context.Context, ingest.Message) error { return nil }
	for _, tc := range []struct {
		name string
		cfg  nats.Config
		from replica.Position
		want error
	}{
		{"missing stream is ErrTerminal", nats.Config{Env: "nosuch"}, replica.StartPosition(), ingest.ErrTerminal},
		{"sequence past the end is ErrResync", nats.Config{Env: "prod"}, replica.Position{Seq: 9, KafkaOffset: -1, JetStreamSeq: 10}, ingest.ErrResync},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.URL, tc.cfg.Backoff = n.URL(), testBackoff
			src, err := nats.New(tc.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := src.Run(ctx, tc.from, accept); !errors.Is(err, tc.want) {
				t.Fatalf("Run = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  nats.Config
		ok   bool
	}{
		{"env", nats.Config{URL: "nats://n:4222", Env: "prod"}, true},
		{"stream and subject", nats.Config{URL: "nats://n:4222", Stream: "S", Subject: "s.x"}, true},
		{"no URL", nats.Config{Env: "prod"}, false},
		{"stream without subject", nats.Config{URL: "nats://n:4222", Stream: "S"}, false},
		{"bad stream name", nats.Config{URL: "nats://n:4222", Env: "p", Stream: "a.b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
