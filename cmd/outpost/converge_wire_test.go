package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

// wire publishes raw payloads straight into the broker the node reads,
// next to (or instead of) the control plane's publisher: duplicates,
// events out of order, poison. It is how the Kafka and NATS tests put on
// the transport what no well-behaved publisher would.
type wire interface {
	// publish appends payloads in order, as one batch where the broker
	// has batches. Each call is distinct: a NATS duplicate is never
	// dropped by the stream's Nats-Msg-Id dedupe.
	publish(t testing.TB, payloads ...[]byte)
	// end is the transport position after the last message: the Kafka
	// high-water mark, or the JetStream last sequence + 1.
	end(t testing.TB) int64
}

// nodeEnd is the transport field of a position (the next message to
// read).
func nodeEnd(source string, p replica.Position) int64 {
	if source == "kafka" {
		return p.KafkaOffset
	}
	return int64(p.JetStreamSeq)
}

// newWire returns the cluster's wire (nil for poll).
func (c *cluster) newWire(t testing.TB) wire {
	t.Helper()
	switch c.source {
	case "kafka":
		return newKafkaWire(t, c.kafka.Addr(), controlplane.DefaultTopic(convEnv))
	case "nats":
		return newNATSWire(t, c.nats.URL(), controlplane.DefaultStream(convEnv), controlplane.Subject(convEnv))
	}
	return nil
}

// kafkaWire produces to partition 0 of the topic with kafka-go's Client,
// one Produce request (one record batch) per publish, key = env.
type kafkaWire struct {
	topic string
	tr    *kafkago.Transport
	cl    *kafkago.Client
}

func newKafkaWire(t testing.TB, addr, topic string) *kafkaWire {
	tr := &kafkago.Transport{DialTimeout: 2 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafkaWire{topic: topic, tr: tr, cl: &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 5 * time.Second, Transport: tr}}
}

func (w *kafkaWire) publish(t testing.TB, payloads ...[]byte) {
	t.Helper()
	recs := make([]kafkago.Record, len(payloads))
	for i, p := range payloads {
		recs[i] = kafkago.Record{Key: kafkago.NewBytes([]byte(convEnv)), Value: kafkago.NewBytes(p)}
	}
	eventually(t, 15*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := w.cl.Produce(ctx, &kafkago.ProduceRequest{Topic: w.topic, Partition: 0,
			RequiredAcks: kafkago.RequireAll, Records: kafkago.NewRecordReader(recs...)})
		if err == nil {
			err = res.Error
		}
		if err != nil {
			return fmt.Errorf("produce to %s: %w", w.topic, err)
		}
		return nil
	})
}

func (w *kafkaWire) end(t testing.TB) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := w.cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{
		w.topic: {kafkago.LastOffsetOf(0)}}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	parts := res.Topics[w.topic]
	if len(parts) != 1 || parts[0].Error != nil {
		t.Fatalf("list offsets of %s: %+v", w.topic, parts)
	}
	return parts[0].LastOffset
}

// natsWire publishes to the stream's subject with JetStream, each message
// with a Nats-Msg-Id of its own ("inject:<n>") so the stream keeps it.
type natsWire struct {
	stream, subject string
	js              jetstream.JetStream
	n               int
}

func newNATSWire(t testing.TB, url, stream, subject string) *natsWire {
	t.Helper()
	nc, err := natsgo.Connect(url, natsgo.MaxReconnects(-1), natsgo.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &natsWire{stream: stream, subject: subject, js: js}
}

func (w *natsWire) publish(t testing.TB, payloads ...[]byte) {
	t.Helper()
	for _, p := range payloads {
		w.n++
		id := fmt.Sprintf("inject:%d", w.n)
		eventually(t, 15*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			ack, err := w.js.Publish(ctx, w.subject, p, jetstream.WithMsgID(id))
			if err != nil {
				return fmt.Errorf("publish %s: %w", id, err)
			}
			if ack.Duplicate {
				t.Fatalf("publish %s: the stream dropped it as a duplicate", id)
			}
			return nil
		})
	}
}

func (w *natsWire) end(t testing.TB) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := w.js.Stream(ctx, w.stream)
	if err != nil {
		t.Fatalf("stream %s: %v", w.stream, err)
	}
	return int64(st.CachedInfo().State.LastSeq + 1)
}
