package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/ingesttest"
	"github.com/outpost-authz/outpost/ingest/kafka"
	"github.com/outpost-authz/outpost/ingest/nats"
	"github.com/outpost-authz/outpost/ingest/poll"
	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
	"github.com/outpost-authz/outpost/testenv/brokers"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

var testBackoff = ingest.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}

const testPolicy = `actor User {}
resource Organization {
  roles = ["member", "admin"];
  permissions = ["read"];
  "read" if "member";
  "member" if "admin";
}
`

func member(user, org string) replica.Fact {
	return replica.Fact{Predicate: "has_role", Args: []replica.Value{
		{Type: "User", ID: user}, {Type: "String", ID: "member"}, {Type: "Organization", ID: org}}}
}

// node is an Outpost node's ingest: an Engine over an empty state (or a
// given one) and a Runner in a goroutine of the test.
type node struct {
	env    string
	engine *query.Engine
	runner *ingest.Runner
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

type nodeConfig struct {
	env           string
	source        ingest.Source
	feed          ingest.FeedClient
	from          replica.Position
	poisonRetries int
	logger        *slog.Logger
	state         *replica.State // the starting state (nil: empty)
}

func replicaConfig(env string) replica.Config {
	return replica.Config{Env: env, Compiler: query.Compile}
}

// loadSnapshot is what cmd wires: snapshotter.Read with the node's config.
func loadSnapshot(env string) func(io.Reader) (*replica.State, replica.Position, error) {
	return func(r io.Reader) (*replica.State, replica.Position, error) {
		st, h, err := snapshotter.Read(r, replicaConfig(env))
		return st, h.Position, err
	}
}

func startNode(t *testing.T, cfg nodeConfig) *node {
	t.Helper()
	st := cfg.state
	if st == nil {
		st = replica.New(replicaConfig(cfg.env))
	}
	engine, err := query.New(st, query.Config{CacheMaxBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	reg := prometheus.NewRegistry()
	if cfg.logger == nil {
		cfg.logger = testLogger(t)
	}
	rcfg := ingest.RunnerConfig{
		Source:        cfg.source,
		Engine:        engine,
		Registerer:    reg,
		Logger:        cfg.logger,
		PoisonRetries: cfg.poisonRetries,
		Backoff:       testBackoff,
	}
	if cfg.feed != nil {
		rcfg.Feed, rcfg.LoadSnapshot = cfg.feed, loadSnapshot(cfg.env)
	}
	r, err := ingest.NewRunner(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{env: cfg.env, engine: engine, runner: r, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- r.Run(ctx, cfg.from) }()
	t.Cleanup(func() {
		if err := n.stop(); err != nil {
			t.Errorf("Runner.Run = %v", err)
		}
	})
	return n
}

// stop cancels Run and returns its error (once; later calls return nil).
func (n *node) stop() error {
	n.cancel()
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	select {
	case err, ok := <-n.done:
		if ok {
			close(n.done)
		}
		return err
	case <-timer.C:
		return errors.New("Runner.Run did not return within 5 s of cancel")
	}
}

func (n *node) revision() uint64 { return n.engine.State().Revision() }

func (n *node) digest() string {
	v := n.engine.State().Acquire()
	defer v.Release()
	return v.Digest()
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (n *node) waitRevision(t testing.TB, seq uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("revision %d (at %d; status %v)", seq, n.revision(), n.runner.Status()), 20*time.Second,
		func() bool { return n.revision() >= seq })
}

func (n *node) waitState(t testing.TB, state string) {
	t.Helper()
	waitFor(t, "state "+state, 20*time.Second, func() bool { return n.runner.Status()["state"] == state })
}

// metric returns the value of the metric name with labels (name=value
// pairs), or fails the test.
func (n *node) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := n.metricValue(t, name, labels...)
	if !ok {
		t.Fatalf("metric %s%v not found", name, labels)
	}
	return v
}

// metricOr0 is metric for wait conditions: a series not yet created
// (nothing counted so far) reads as 0.
func (n *node) metricOr0(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, _ := n.metricValue(t, name, labels...)
	return v
}

func (n *node) metricValue(t testing.TB, name string, labels ...string) (float64, bool) {
	t.Helper()
	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			}
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// testLogger logs to the test's output when -v is given.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", t.Name())
}

// checkpoint returns a checkpoint of the state the payloads build, at
// position pos (Seq is the state's revision).
func checkpoint(t testing.TB, env string, pos replica.Position, payloads ...[]byte) []byte {
	t.Helper()
	st, err := ingesttest.Apply(env, payloads...)
	if err != nil {
		t.Fatal(err)
	}
	v := st.Acquire()
	ex := v.Export()
	v.Release()
	pos.Seq = ex.Revision()
	var buf bytes.Buffer
	if _, err := snapshotter.Write(&buf, ex, snapshotter.Header{Env: env, Position: pos, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Brokers and sources.

func startKafka(t testing.TB) *brokers.Kafka {
	t.Helper()
	k, err := brokers.StartKafka(brokers.KafkaConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

func startNATS(t testing.TB) *brokers.NATS {
	t.Helper()
	n, err := brokers.StartNATS(brokers.NATSConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

func pollSource(t testing.TB, url, env, token string) *poll.Source {
	t.Helper()
	src, err := poll.New(poll.Config{URL: url, Env: env, Token: token, Wait: time.Second, Backoff: testBackoff}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func pollClient(t testing.TB, url, env, token string) *poll.Client {
	t.Helper()
	c, err := poll.NewClient(poll.Config{URL: url, Env: env, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func kafkaSource(t testing.TB, addr, topic string) *kafka.Source {
	t.Helper()
	src, err := kafka.New(kafka.Config{Brokers: []string{addr}, Topic: topic, MaxWait: 200 * time.Millisecond, Backoff: testBackoff}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func natsSource(t testing.TB, url, env string) *nats.Source {
	t.Helper()
	src, err := nats.New(nats.Config{URL: url, Env: env, IdleWait: 250 * time.Millisecond, Backoff: testBackoff}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// startControlPlane starts a control plane publishing to the brokers
// given (nil: not that one), with testPolicy set.
func startControlPlane(t *testing.T, cfg controlplane.Config) *controlplane.Running {
	t.Helper()
	cp := controlplane.Start(t, cfg)
	if _, err := cp.Client.SetPolicy(testPolicy); err != nil {
		t.Fatal(err)
	}
	return cp
}

// write inserts n facts, one event each, and returns the last seq.
func write(t testing.TB, cp *controlplane.Running, from, n int) uint64 {
	t.Helper()
	var seq uint64
	for i := from; i < from+n; i++ {
		var err error
		if seq, err = cp.Client.Insert(member(fmt.Sprintf("u%d", i), "acme")); err != nil {
			t.Fatal(err)
		}
	}
	return seq
}

// topicWriter publishes raw payloads to a Kafka topic, key env.
type topicWriter struct {
	w   *kafkago.Writer
	env string
}

func publishTopic(t testing.TB, k *brokers.Kafka, topic, env string) *topicWriter {
	t.Helper()
	if err := k.CreateTopic(topic, 1); err != nil {
		t.Fatal(err)
	}
	tr := &kafkago.Transport{}
	w := &kafkago.Writer{Addr: kafkago.TCP(k.Addr()), Topic: topic, Balancer: &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond, Transport: tr}
	t.Cleanup(func() {
		_ = w.Close()
		tr.CloseIdleConnections()
	})
	return &topicWriter{w: w, env: env}
}

func (w *topicWriter) publish(t testing.TB, payloads ...[]byte) {
	t.Helper()
	msgs := make([]kafkago.Message, len(payloads))
	for i, p := range payloads {
		msgs[i] = kafkago.Message{Key: []byte(w.env), Value: p}
	}
	if err := w.w.WriteMessages(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
}
