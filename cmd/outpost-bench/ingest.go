package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/kafka"
	natssource "github.com/outpost-authz/outpost/ingest/nats"
	"github.com/outpost-authz/outpost/ingest/poll"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/brokers"
	"github.com/outpost-authz/outpost/testenv/controlplane"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

const (
	// ingestEnv is the environment of the ingest backlogs.
	ingestEnv = "ingest"
	// eventFacts is the size of a backlog event (DESIGN.md §10).
	eventFacts = 100
	// kafkaBatch is how many events go in one produce request: about
	// 0.5 MB, under the topic's default 1 MB batch limit.
	kafkaBatch = 32
)

// ingest times a Runner applying the whole data set, as a backlog of
// events of 100 facts after a policy event, from each source: poll against
// a control plane whose log holds the backlog (written through its API),
// Kafka and NATS with the events published directly in the control plane's
// format. The clock starts when the Runner starts and stops when the last
// event is applied. The brokers and the control plane run in this process,
// so the CPU time per fact includes serving the events as well as applying
// them.
func (b *bench) ingest(ctx context.Context) ([]Result, error) {
	var out []Result
	for _, name := range []string{"poll", "kafka", "nats"} {
		r, err := b.ingestFrom(ctx, name)
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (b *bench) ingestFrom(ctx context.Context, name string) (Result, error) {
	r := newResult("ingest_"+name, b.facts)
	var src ingest.Source
	var feed *poll.Client
	var head uint64
	var err error
	t0 := time.Now()
	switch name {
	case "poll":
		cp, err := startControlPlane(controlplane.Config{Env: ingestEnv, DataDir: filepath.Join(b.dir, "cp-ingest")})
		if err != nil {
			return r, err
		}
		defer cp.close()
		if head, err = b.writeBacklog(cp.client); err != nil {
			return r, err
		}
		s, err := cp.pollSource(ingestEnv)
		if err != nil {
			return r, err
		}
		src, feed = s, s.Client()
	case "kafka":
		k, err := brokers.StartKafka(brokers.KafkaConfig{DataDir: filepath.Join(b.dir, "kafka-ingest")})
		if err != nil {
			return r, err
		}
		defer k.Close()
		if head, err = b.produceBacklog(ctx, k); err != nil {
			return r, err
		}
		if src, err = kafka.New(kafka.Config{Brokers: []string{k.Addr()}, Env: ingestEnv}, nil); err != nil {
			return r, err
		}
	case "nats":
		n, err := brokers.StartNATS(brokers.NATSConfig{StoreDir: filepath.Join(b.dir, "nats-ingest")})
		if err != nil {
			return r, err
		}
		defer n.Close()
		if head, err = b.publishBacklog(ctx, n); err != nil {
			return r, err
		}
		if src, err = natssource.New(natssource.Config{URL: n.URL(), Env: ingestEnv}, nil); err != nil {
			return r, err
		}
	}
	setup := time.Since(t0)

	nd, err := b.startNode(ingestEnv, src, feed)
	if err != nil {
		return r, err
	}
	start, cpu0 := time.Now(), cpuTime()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(b.facts)*10*time.Microsecond)
	err = nd.waitFor(wctx, head)
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	cancel()
	got := nd.factCount()
	if serr := nd.stop(); err == nil {
		err = serr
	}
	if err == nil && got != b.facts {
		err = fmt.Errorf("node holds %d facts after seq %d, want %d", got, head, b.facts)
	}
	if err != nil {
		return r, err
	}
	r.LoadSeconds = elapsed.Seconds()
	r.PerSecond = float64(b.facts) / elapsed.Seconds()
	r.Detail["events"] = float64(head)
	r.Detail["events_per_second"] = float64(head) / elapsed.Seconds()
	r.Detail["setup_seconds"] = setup.Seconds()
	r.Detail["cpu_seconds"] = cpu.Seconds()
	r.metric("rate", r.PerSecond, "facts/s")
	r.metric("rate per CPU second", float64(b.facts)/cpu.Seconds(), "facts/s")
	r.metric("seconds", r.LoadSeconds, "s")
	b.logf("ingest %s: %d events in %.2fs: %.0f facts/s (backlog written in %.1fs)", name, head, elapsed.Seconds(), r.PerSecond, setup.Seconds())
	return r, nil
}

// backlog calls fn with each event of the data set in the control plane's
// JSON form: a policy event, then batch events of 100 facts.
func (b *bench) backlog(fn func(ev replica.Event, data []byte) error) error {
	return datasets.Events(b.shape.Config, ingestEnv, eventFacts, func(ev replica.Event) error {
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		return fn(ev, data)
	})
}

// writeBacklog writes the data set through the control plane's API, one
// 100-fact batch per request, so that its log holds one event per batch.
func (b *bench) writeBacklog(c *controlplane.Client) (uint64, error) {
	head, err := c.SetPolicyFile(datasets.GitclubPolicy, datasets.PolicyFilename)
	err = datasets.Events(b.shape.Config, ingestEnv, eventFacts, func(ev replica.Event) error {
		if err != nil || ev.Kind != replica.KindBatch {
			return err
		}
		head, err = c.Insert(ev.Inserts...)
		return err
	})
	return head, err
}

// produceBacklog appends the backlog to the environment's topic, keyed by
// the environment as the control plane does.
func (b *bench) produceBacklog(ctx context.Context, k *brokers.Kafka) (uint64, error) {
	topic := controlplane.DefaultTopic(ingestEnv)
	if err := k.CreateTopic(topic, 1); err != nil {
		return 0, err
	}
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(k.Addr()), Timeout: 30 * time.Second, Transport: tr}
	var recs []kafkago.Record
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		res, err := cl.Produce(ctx, &kafkago.ProduceRequest{Topic: topic, Partition: 0,
			RequiredAcks: kafkago.RequireAll, Records: kafkago.NewRecordReader(recs...)})
		recs = recs[:0]
		if err != nil {
			return err
		}
		if res.Error != nil {
			return res.Error
		}
		for _, e := range res.RecordErrors {
			return e
		}
		return nil
	}
	var head uint64
	err := b.backlog(func(ev replica.Event, data []byte) error {
		head = ev.Seq
		recs = append(recs, kafkago.Record{Key: kafkago.NewBytes([]byte(ingestEnv)), Value: kafkago.NewBytes(data)})
		if len(recs) == kafkaBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return 0, fmt.Errorf("produce to %s: %w", topic, err)
	}
	return head, nil
}

// publishBacklog publishes the backlog to the environment's stream with
// Nats-Msg-Id "<env>:<seq>", as the control plane does.
func (b *bench) publishBacklog(ctx context.Context, n *brokers.NATS) (uint64, error) {
	subject := controlplane.Subject(ingestEnv)
	if err := n.EnsureStream(controlplane.DefaultStream(ingestEnv), []string{subject}); err != nil {
		return 0, err
	}
	nc, err := natsgo.Connect(n.URL())
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	var head uint64
	err = b.backlog(func(ev replica.Event, data []byte) error {
		head = ev.Seq
		m := natsgo.NewMsg(subject)
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, ingestEnv+":"+strconv.FormatUint(ev.Seq, 10))
		_, err := js.PublishMsg(ctx, m)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("publish to %s: %w", subject, err)
	}
	return head, nil
}
