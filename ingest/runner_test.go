package ingest_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/ingesttest"
	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

// TestRunnerFollowsControlPlane runs a node per source against the
// reference control plane publishing to Kafka and NATS, and checks that
// each converges to its digest with the metrics and status of a caught-up
// node.
func TestRunnerFollowsControlPlane(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	k, n := startKafka(t), startNATS(t)
	const env = "prod"
	cp := startControlPlane(t, controlplane.Config{Env: env,
		Kafka: &controlplane.KafkaConfig{Brokers: []string{k.Addr()}},
		NATS:  &controlplane.NATSConfig{URL: n.URL()},
	})
	write(t, cp, 0, 10)

	nodes := map[string]*node{}
	for _, name := range []string{"poll", "kafka", "nats"} {
		var src ingest.Source
		switch name {
		case "poll":
			src = pollSource(t, cp.URL, env, cp.ReadKey)
		case "kafka":
			src = kafkaSource(t, k.Addr(), controlplane.DefaultTopic(env))
		case "nats":
			src = natsSource(t, n.URL(), env)
		}
		nodes[name] = startNode(t, nodeConfig{env: env, source: src, feed: pollClient(t, cp.URL, env, cp.ReadKey), from: replica.StartPosition()})
	}
	seq := cp.Seq()
	for _, nd := range nodes {
		nd.waitRevision(t, seq)
	}
	seq = write(t, cp, 10, 10)

	for _, name := range []string{"poll", "kafka", "nats"} {
		t.Run(name, func(t *testing.T) {
			nd := nodes[name]
			nd.waitRevision(t, seq)
			nd.waitState(t, ingest.StateCaughtUp)
			if got, want := nd.digest(), cp.Digest(); got != want {
				t.Fatalf("digest %s, control plane %s", got, want)
			}
			st := nd.runner.Status()
			if st["source"] != name || st["applied"] != seq || st["head"] != seq || st["lag_events"] != uint64(0) {
				t.Errorf("status %v: want source %s, applied = head = %d, no lag", st, name, seq)
			}
			for _, m := range []struct {
				name   string
				labels []string
				want   float64
			}{
				{"outpost_head_revision", nil, float64(seq)},
				{"outpost_lag_events", nil, 0},
				{"outpost_lag_seconds", nil, 0},
				{"outpost_ingest_events_total", []string{"source", name}, float64(seq)},
				{"outpost_ingest_events_total", []string{"source", "feed"}, 0},
				{"outpost_resyncs_total", []string{"reason", ingest.ReasonRetention}, 0},
				{"outpost_ingest_errors_total", []string{"source", name, "kind", ingest.KindTransport}, 0},
			} {
				if got := nd.metric(t, m.name, m.labels...); got != m.want {
					t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
				}
			}
			if age := nd.metric(t, "oso_fallback_snapshot_age_ms"); age < 0 || age > 5000 {
				t.Errorf("oso_fallback_snapshot_age_ms = %v, want a few hundred at most", age)
			}
			pos := nd.runner.Position()
			want := replica.Position{Seq: seq, KafkaOffset: -1}
			switch name {
			case "kafka":
				want.KafkaOffset = int64(seq) // records 0..seq-1, one per event
			case "nats":
				want.JetStreamSeq = seq + 1
			}
			if pos != want {
				t.Errorf("Position() = %+v, want %+v", pos, want)
			}
		})
	}
}

// TestRunnerGapFill feeds a Kafka source a topic with a hole in it; the
// Runner fills it from the control plane's feed and never applies past it.
func TestRunnerGapFill(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	k := startKafka(t)
	const env = "prod"
	cp := startControlPlane(t, controlplane.Config{Env: env})
	seq := write(t, cp, 0, 10)
	feed := pollClient(t, cp.URL, env, cp.ReadKey)
	events, head, err := feed.Events(t.Context(), 0, 100)
	if err != nil || head != seq || uint64(len(events)) != seq {
		t.Fatalf("feed: %d events, head %d, %v; want %d", len(events), head, err, seq)
	}
	topic := publishTopic(t, k, "gap.events", env)
	hole := [2]int{4, 7} // events[4:7] are seq 5..7
	var published [][]byte
	for i, e := range events {
		if i < hole[0] || i >= hole[1] {
			published = append(published, e)
		}
	}
	topic.publish(t, published...)

	nd := startNode(t, nodeConfig{env: env, source: kafkaSource(t, k.Addr(), "gap.events"), feed: feed, from: replica.StartPosition()})
	nd.waitRevision(t, seq)
	nd.waitState(t, ingest.StateCaughtUp)
	if got, want := nd.digest(), cp.Digest(); got != want {
		t.Fatalf("digest %s, control plane %s", got, want)
	}
	if got := nd.metric(t, "outpost_ingest_events_total", "source", "feed"); got != 3 {
		t.Errorf("events from the feed = %v, want 3", got)
	}
	if got := nd.metric(t, "outpost_ingest_events_total", "source", "kafka"); got != float64(seq-3) {
		t.Errorf("events from kafka = %v, want %d", got, seq-3)
	}
	if p := nd.runner.Position(); p.Seq != seq || p.KafkaOffset != int64(len(published)) {
		t.Errorf("Position() = %+v, want seq %d at offset %d", p, seq, len(published))
	}

	t.Run("without a feed ingest stops at the gap", func(t *testing.T) {
		nd := startNode(t, nodeConfig{env: env, source: kafkaSource(t, k.Addr(), "gap.events"), from: replica.StartPosition()})
		waitFor(t, "stuck at the gap", 10*time.Second, func() bool {
			return nd.runner.Status()["state"] == ingest.StateFailing && nd.metricOr0(t, "outpost_ingest_errors_total", "source", "kafka", "kind", ingest.KindGap) >= 2
		})
		if got := nd.revision(); got != uint64(hole[0]) {
			t.Fatalf("revision %d, want %d: never apply past a gap", got, hole[0])
		}
		if lag := nd.metric(t, "outpost_lag_events"); lag < 1 {
			t.Errorf("outpost_lag_events = %v while stopped at a gap, want > 0", lag)
		}
	})
}

// TestRunnerResyncOnRetention starts a node from nothing against a control
// plane that retains only its newest events: the poll answers 410, and the
// Runner re-bootstraps from the snapshot and follows from there.
func TestRunnerResyncOnRetention(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	const env = "prod"
	cp := startControlPlane(t, controlplane.Config{Env: env, Retain: 5})
	write(t, cp, 0, 20)
	src := pollSource(t, cp.URL, env, cp.ReadKey)
	nd := startNode(t, nodeConfig{env: env, source: src, feed: src.Client(), from: replica.StartPosition()})
	nd.waitRevision(t, cp.Seq())
	seq := write(t, cp, 20, 5)
	nd.waitRevision(t, seq)
	nd.waitState(t, ingest.StateCaughtUp)
	if got, want := nd.digest(), cp.Digest(); got != want {
		t.Fatalf("digest %s, control plane %s", got, want)
	}
	if got := nd.metric(t, "outpost_resyncs_total", "reason", ingest.ReasonRetention); got != 1 {
		t.Errorf("resyncs for retention = %v, want 1", got)
	}
	if got := nd.metric(t, "outpost_ingest_errors_total", "source", "poll", "kind", ingest.KindRetention); got != 1 {
		t.Errorf("retention errors = %v, want 1", got)
	}
	if got := nd.metric(t, "outpost_ingest_events_total", "source", "poll"); got != 5 {
		t.Errorf("events applied from poll = %v, want the 5 written after the snapshot", got)
	}
}

// TestRunnerGapBeyondRetention: a Kafka topic with a hole that the feed no
// longer retains. The Runner re-bootstraps from the snapshot and restarts
// the source from the snapshot's position (by seq, the snapshot knows no
// offset), which skips what the snapshot holds.
func TestRunnerGapBeyondRetention(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	k := startKafka(t)
	const env = "prod"
	all := ingesttest.Events(env, 1, 10)
	srv := ingesttest.NewFeedServer(t, env, "token")
	srv.Append(all...)
	srv.SetRetention(5)
	srv.SetSnapshot(checkpoint(t, env, replica.Position{KafkaOffset: -1}, all[:7]...), 7)
	topic := publishTopic(t, k, "prod.events", env)
	topic.publish(t, slices.Concat(all[:3], all[7:])...)

	nd := startNode(t, nodeConfig{env: env, source: kafkaSource(t, k.Addr(), "prod.events"),
		feed: pollClient(t, srv.URL(), env, "token"), from: replica.StartPosition()})
	nd.waitRevision(t, 10)
	nd.waitState(t, ingest.StateCaughtUp)
	want, err := ingesttest.Apply(env, all...)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := nd.digest(), digestOf(want); got != want {
		t.Fatalf("digest %s, want %s", got, want)
	}
	if got := nd.metric(t, "outpost_resyncs_total", "reason", ingest.ReasonRetention); got != 1 {
		t.Errorf("resyncs for retention = %v, want 1", got)
	}
	if _, snaps := srv.Counts(); snaps != 1 {
		t.Errorf("%d snapshot downloads, want 1", snaps)
	}
	if p := nd.runner.Position(); p != (replica.Position{Seq: 10, KafkaOffset: 6}) {
		t.Errorf("Position() = %+v, want seq 10 at offset 6", p)
	}
}

// TestRunnerPoison: an event the replica cannot apply stops ingest at its
// seq while the last good state keeps serving; after PoisonRetries
// failures the Runner re-bootstraps, and once a snapshot past the poison
// event is available it recovers.
func TestRunnerPoison(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	const env = "prod"
	now := time.Now().Add(-time.Minute)
	good := [][]byte{
		ingesttest.EventAt(env, 1, now), ingesttest.EventAt(env, 2, now), ingesttest.EventAt(env, 3, now),
		ingesttest.EventAt(env, 4, now), ingesttest.EventAt(env, 5, now), ingesttest.EventAt(env, 6, now),
	}

	t.Run("with a feed", func(t *testing.T) {
		srv := ingesttest.NewFeedServer(t, env, "token")
		srv.Append(good[0], good[1], good[2], ingesttest.PoisonEvent(env, 4), good[4])
		src := pollSource(t, srv.URL(), env, "token")
		nd := startNode(t, nodeConfig{env: env, source: src, feed: src.Client(), from: replica.StartPosition(), poisonRetries: 3})
		nd.waitRevision(t, 3)
		digest3 := nd.digest()
		// No snapshot yet (503): ingest stays stopped at seq 4.
		waitFor(t, "poison reported and a re-bootstrap tried", 10*time.Second, func() bool {
			return nd.runner.Status()["poison_seq"] == uint64(4) &&
				nd.metricOr0(t, "outpost_ingest_errors_total", "source", "poll", "kind", ingest.KindPoison) >= 3 &&
				nd.metricOr0(t, "outpost_ingest_errors_total", "source", "feed", "kind", ingest.KindSnapshot) >= 1
		})
		st := nd.runner.Status()
		if st["state"] != ingest.StateFailing && st["state"] != ingest.StateResyncing {
			t.Errorf("state %v, want failing or resyncing", st["state"])
		}
		if nd.revision() != 3 || nd.digest() != digest3 {
			t.Fatalf("revision %d: the last good state (3) must keep serving", nd.revision())
		}
		if lag := nd.metric(t, "outpost_lag_events"); lag != 2 {
			t.Errorf("outpost_lag_events = %v, want 2 (head 5, applied 3)", lag)
		}
		if lag := nd.metric(t, "outpost_lag_seconds"); lag < 50 {
			t.Errorf("outpost_lag_seconds = %v, want about 60 (the poison event's age)", lag)
		}
		if st["last_error"] == nil {
			t.Errorf("status has no last_error: %v", st)
		}

		srv.SetSnapshot(checkpoint(t, env, replica.Position{KafkaOffset: -1}, good[:5]...), 5)
		nd.waitRevision(t, 5)
		srv.Append(good[5])
		nd.waitRevision(t, 6)
		nd.waitState(t, ingest.StateCaughtUp)
		want, _ := ingesttest.Apply(env, good...)
		if got, want := nd.digest(), digestOf(want); got != want {
			t.Fatalf("digest %s, want %s", got, want)
		}
		if got := nd.metric(t, "outpost_resyncs_total", "reason", ingest.ReasonPoison); got != 1 {
			t.Errorf("resyncs for poison = %v, want 1", got)
		}
		if _, ok := nd.runner.Status()["poison_seq"]; ok {
			t.Errorf("status still reports a poison event after recovery: %v", nd.runner.Status())
		}
		if lag := nd.metric(t, "outpost_lag_seconds"); lag != 0 {
			t.Errorf("outpost_lag_seconds = %v after recovery, want 0", lag)
		}
	})

	t.Run("undecodable event without a feed", func(t *testing.T) {
		srv := ingesttest.NewFeedServer(t, env, "token")
		srv.Append(good[0], good[1], ingesttest.UndecodableEvent(env, 3), good[3])
		nd := startNode(t, nodeConfig{env: env, source: pollSource(t, srv.URL(), env, "token"), from: replica.StartPosition(), poisonRetries: 2})
		waitFor(t, "poison reported", 10*time.Second, func() bool {
			return nd.runner.Status()["poison_seq"] == uint64(3) &&
				nd.metric(t, "outpost_ingest_errors_total", "source", "poll", "kind", ingest.KindPoison) >= 4
		})
		if st := nd.runner.Status(); st["state"] != ingest.StateFailing || nd.revision() != 2 {
			t.Fatalf("state %v at revision %d, want failing at 2", st["state"], nd.revision())
		}
		if got := nd.metric(t, "outpost_resyncs_total", "reason", ingest.ReasonPoison); got != 0 {
			t.Errorf("resyncs = %v without a feed, want 0", got)
		}
	})
}

// TestRunnerTerminal: a Source that cannot continue ends Run with its
// error; the state is untouched.
func TestRunnerTerminal(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	srv := ingesttest.NewFeedServer(t, "prod", "token")
	nd := startNode(t, nodeConfig{env: "prod", source: pollSource(t, srv.URL(), "prod", "wrong"), from: replica.StartPosition()})
	select {
	case err := <-nd.done:
		close(nd.done)
		if !errors.Is(err, ingest.ErrTerminal) {
			t.Fatalf("Run = %v, want ErrTerminal", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if st := nd.runner.Status(); st["state"] != ingest.StateStopped || st["last_error"] == nil {
		t.Fatalf("status %v, want stopped with the error", st)
	}
}

func TestRunnerConfig(t *testing.T) {
	engine, err := query.New(replica.New(replica.Config{}), query.Config{CacheMaxBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	srv := ingesttest.NewFeedServer(t, "prod", "token")
	src := pollSource(t, srv.URL(), "prod", "token")
	for _, tc := range []struct {
		name string
		cfg  ingest.RunnerConfig
		ok   bool
	}{
		{"minimal", ingest.RunnerConfig{Source: src, Engine: engine}, true},
		{"feed and loader", ingest.RunnerConfig{Source: src, Engine: engine, Feed: src.Client(), LoadSnapshot: loadSnapshot("prod")}, true},
		{"no source", ingest.RunnerConfig{Engine: engine}, false},
		{"no engine", ingest.RunnerConfig{Source: src}, false},
		{"feed without loader", ingest.RunnerConfig{Source: src, Engine: engine, Feed: src.Client()}, false},
		{"negative retries", ingest.RunnerConfig{Source: src, Engine: engine, PoisonRetries: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ingest.NewRunner(tc.cfg); (err == nil) != tc.ok {
				t.Fatalf("NewRunner = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	t.Run("metrics registered once", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		cfg := ingest.RunnerConfig{Source: src, Engine: engine, Registerer: reg}
		if _, err := ingest.NewRunner(cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := ingest.NewRunner(cfg); err == nil {
			t.Fatal("a second Runner on the same registry registered its metrics")
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, mf := range mfs {
			names = append(names, mf.GetName())
		}
		for _, want := range []string{"oso_fallback_snapshot_age_ms", "outpost_head_revision", "outpost_lag_events",
			"outpost_lag_seconds", "outpost_ingest_events_total", "outpost_ingest_errors_total", "outpost_resyncs_total"} {
			if !slices.Contains(names, want) {
				t.Errorf("metric %s not registered (have %v)", want, names)
			}
		}
	})
}

func digestOf(st *replica.State) string {
	v := st.Acquire()
	defer v.Release()
	return v.Digest()
}

// TestRunnerTransportPositionLost: a Kafka offset the topic does not hold
// (a recreated topic) makes the Runner look for the next event by seq
// instead, without a snapshot.
func TestRunnerTransportPositionLost(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	k := startKafka(t)
	const env = "prod"
	publishTopic(t, k, "prod.events", env).publish(t, ingesttest.Events(env, 1, 5)...)
	nd := startNode(t, nodeConfig{env: env, source: kafkaSource(t, k.Addr(), "prod.events"),
		from: replica.Position{Seq: 0, KafkaOffset: 100}})
	nd.waitRevision(t, 5)
	nd.waitState(t, ingest.StateCaughtUp)
	if got := nd.metric(t, "outpost_ingest_errors_total", "source", "kafka", "kind", ingest.KindRetention); got != 1 {
		t.Errorf("retention errors = %v, want 1", got)
	}
	if got := nd.metric(t, "outpost_resyncs_total", "reason", ingest.ReasonRetention); got != 0 {
		t.Errorf("resyncs = %v, want 0", got)
	}
	if p := nd.runner.Position(); p != (replica.Position{Seq: 5, KafkaOffset: 5}) {
		t.Errorf("Position() = %+v, want seq 5 at offset 5", p)
	}
}
