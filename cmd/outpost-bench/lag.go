package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/outpost-authz/outpost/ingest/kafka"
	natssource "github.com/outpost-authz/outpost/ingest/nats"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/brokers"
	"github.com/outpost-authz/outpost/testenv/controlplane"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// lagEnv is the environment of the lag scenario.
const lagEnv = "lag"

// lagSources are the nodes of the lag scenario, one per source.
var lagSources = []string{"poll", "kafka", "nats"}

// lag runs a control plane that publishes to Kafka and NATS, seeded with
// the data set, and three nodes following it by poll, Kafka and NATS with
// each source's defaults. It then makes -lag-writes one-fact writes through
// the API, one at a time, and times each from just before the request is
// sent until the event is applied on each node. Each node's waiter is
// started before the write (the control plane has no other writer, so the
// write's seq is known in advance) and wakes on the state's change
// notification.
func (b *bench) lag(ctx context.Context) ([]Result, error) {
	k, err := brokers.StartKafka(brokers.KafkaConfig{DataDir: filepath.Join(b.dir, "kafka-lag")})
	if err != nil {
		return nil, err
	}
	defer k.Close()
	ns, err := brokers.StartNATS(brokers.NATSConfig{StoreDir: filepath.Join(b.dir, "nats-lag")})
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	cp, err := startControlPlane(controlplane.Config{Env: lagEnv, DataDir: filepath.Join(b.dir, "cp-lag"),
		Kafka: &controlplane.KafkaConfig{Brokers: []string{k.Addr()}}, NATS: &controlplane.NATSConfig{URL: ns.URL()}})
	if err != nil {
		return nil, err
	}
	defer cp.close()
	t0 := time.Now()
	head, err := cp.client.SeedGitclub(b.facts)
	if err != nil {
		return nil, err
	}
	b.logf("lag: seeded the control plane in %.1fs", time.Since(t0).Seconds())

	nodes := make([]*node, len(lagSources))
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.stop()
			}
		}
	}()
	for i, name := range lagSources {
		if nodes[i], err = b.lagNode(cp, k, ns, name); err != nil {
			return nil, fmt.Errorf("%s node: %w", name, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(b.facts)*10*time.Microsecond)
	defer cancel()
	for i, n := range nodes {
		if err := n.waitFor(wctx, head); err != nil {
			return nil, fmt.Errorf("%s node catching up: %w", lagSources[i], err)
		}
	}

	lat := make([][]time.Duration, len(nodes))
	for i := range b.c.lagWrites {
		d, err := b.lagWrite(ctx, cp, nodes, head+1, i)
		if err != nil {
			return nil, fmt.Errorf("write %d: %w", i, err)
		}
		for j := range nodes {
			lat[j] = append(lat[j], d[j])
		}
		head++
	}
	var out []Result
	for j, name := range lagSources {
		r := newResult("lag_"+name, b.facts)
		summarize(&r, lat[j])
		r.PerSecond = 0 // not a throughput
		r.latencyMetrics()
		b.logf("lag %s: p50 %v p99 %v max %v", name, time.Duration(r.P50NS), time.Duration(r.P99NS), time.Duration(r.MaxNS))
		out = append(out, r)
	}
	return out, nil
}

func (b *bench) lagNode(cp *controlPlane, k *brokers.Kafka, ns *brokers.NATS, name string) (*node, error) {
	switch name {
	case "poll":
		s, err := cp.pollSource(lagEnv)
		if err != nil {
			return nil, err
		}
		return b.startNode(lagEnv, s, s.Client())
	case "kafka":
		s, err := kafka.New(kafka.Config{Brokers: []string{k.Addr()}, Env: lagEnv}, nil)
		if err != nil {
			return nil, err
		}
		return b.startNode(lagEnv, s, nil)
	case "nats":
		s, err := natssource.New(natssource.Config{URL: ns.URL(), Env: lagEnv}, nil)
		if err != nil {
			return nil, err
		}
		return b.startNode(lagEnv, s, nil)
	}
	return nil, fmt.Errorf("unknown source %q", name)
}

// lagWrite inserts one new fact, which must become event seq, and returns
// how long each node took to apply it.
func (b *bench) lagWrite(ctx context.Context, cp *controlPlane, nodes []*node, seq uint64, i int) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	seen := make([]time.Time, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for j, n := range nodes {
		wg.Go(func() {
			errs[j] = n.waitFor(ctx, seq)
			seen[j] = time.Now()
		})
	}
	fact := replica.Fact{Predicate: "has_role", Args: []replica.Value{
		{Type: datasets.TypeUser, ID: fmt.Sprintf("lag-user-%d", i)},
		{Type: datasets.TypeString, ID: "reader"},
		{Type: datasets.TypeRepository, ID: datasets.RepoID(0)},
	}}
	start := time.Now()
	got, err := cp.client.Insert(fact)
	if err == nil && got != seq {
		err = fmt.Errorf("the write became seq %d, want %d (another writer?)", got, seq)
	}
	if err != nil {
		cancel()
	}
	wg.Wait()
	out := make([]time.Duration, len(nodes))
	for j := range nodes {
		if err == nil && errs[j] != nil {
			err = fmt.Errorf("%s node: %w", lagSources[j], errs[j])
		}
		out[j] = seen[j].Sub(start)
	}
	return out, err
}
