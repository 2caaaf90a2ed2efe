package main

// Convergence tests (issue #5): for each ingest source, a real control
// plane with a real embedded broker, a node started through serve exactly
// as the binary does, random writes and a series of faults; after each
// step the node's state digest must equal the control plane's at the same
// seq, and the two servers must give the same authorize answers.

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/ingest/ingesttest"
)

func TestConvergePoll(t *testing.T)  { testConverge(t, "poll", 1) }
func TestConvergeKafka(t *testing.T) { testConverge(t, "kafka", 2) }
func TestConvergeNATS(t *testing.T)  { testConverge(t, "nats", 3) }

// outageFor is how long the transport is down in the outage step.
const outageFor = 10 * time.Second

// scenario is one source's run: its cluster, node, workload and questions.
type scenario struct {
	c    *cluster
	n    *convNode
	w    *workload
	wire wire // kafka and nats: publishes straight into the broker
	qs   []question
}

func testConverge(t *testing.T, source string, seed uint64) {
	if testing.Short() {
		t.Skip("convergence tests take about a minute; skipped with -short")
	}
	t.Parallel()
	c := startCluster(t, source)
	s := &scenario{c: c, w: newWorkload(seed, c.cp.Client), qs: questions(seed, 24), wire: c.newWire(t)}
	s.w.run(t, 10) // the node starts from a snapshot that already has a policy and facts
	s.n = c.startNode(t, filepath.Join(t.TempDir(), "node"))
	if from := s.n.mustStatus(t).Node.LoadedFrom; from != "snapshot" {
		t.Fatalf("a new node loaded its state from %q, want snapshot", from)
	}
	t.Logf("source %s, seed %d", source, seed)

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"random writes", s.random},
		{"duplicates", s.duplicates},
		{"reordered", s.reordered},
		{"gap", s.gap},
		{"poison", s.poison},
		{"transport outage", s.outage},
		{"node restart", s.nodeRestart},
		{"control plane restart", s.controlPlaneRestart},
	}
	for _, st := range steps {
		start := time.Now()
		ok := t.Run(strings.ReplaceAll(st.name, " ", "_"), st.run)
		t.Logf("%-22s %6.1fs", st.name, time.Since(start).Seconds())
		if !ok {
			return // later steps would only repeat the failure
		}
	}
	t.Logf("writes by kind: %v", s.w.counts)
}

// random: a few hundred random writes, converging midway and at the end.
func (s *scenario) random(t *testing.T) {
	allowed, denied := 0, 0
	for range 4 {
		s.w.run(t, 75)
		s.c.converge(t, s.n, s.qs)
		for _, a := range s.c.answers(t, s.c.cp.URL, s.qs) {
			if a {
				allowed++
			} else {
				denied++
			}
		}
	}
	if allowed == 0 || denied == 0 {
		t.Errorf("the questions are not telling: %d allowed, %d denied answers", allowed, denied)
	}
	for _, k := range []string{"insert", "delete", "delete typed wildcard", "delete untyped wildcard",
		"batch insert+delete same fact", "policy", "clear"} {
		if s.w.counts[k] == 0 {
			t.Errorf("the workload never did %q (counts %v)", k, s.w.counts)
		}
	}
}

// more finishes a fault: more writes, then convergence.
func (s *scenario) more(t *testing.T) {
	t.Helper()
	s.w.run(t, 15)
	s.c.converge(t, s.n, s.qs)
}

// duplicates: events the node has applied arrive again; it skips them.
func (s *scenario) duplicates(t *testing.T) {
	if s.c.source == "poll" {
		s.c.proxy.setRewrite(duplicating())
		before := s.c.proxy.rewrites()
		s.w.run(t, 30)
		s.c.converge(t, s.n, s.qs)
		s.c.proxy.setRewrite(nil)
		if s.c.proxy.rewrites() == before {
			t.Fatal("the proxy duplicated nothing")
		}
		s.more(t)
		return
	}
	s.c.waitPublished(t)
	head := s.c.cp.Seq()
	evs := s.c.feedEvents(t, max(1, head-19), head)
	dups := append(slices.Clone(evs), evs[len(evs)-1], evs[0]) // the newest twice, the oldest again
	s.wire.publish(t, dups...)
	end := s.wire.end(t)
	eventually(t, 30*time.Second, func() error {
		st, err := s.n.status()
		if err != nil {
			return err
		}
		if got := nodeEnd(s.c.source, st.Ingest.Position); got < end {
			return fmt.Errorf("node read up to %d, the duplicates end at %d", got, end)
		}
		return nil
	})
	if rev := s.c.converge(t, s.n, s.qs); rev != head {
		t.Fatalf("the duplicates moved the control plane from %d to %d", head, rev)
	}
	s.more(t)
}

// feedEvents is the count of events a node took from the control plane's
// feed to fill gaps.
func feedCount(st nodeStatus) uint64 { return st.Ingest.Events["feed"] }

// reordered: event k+1 reaches the node before event k. It must fill k from
// the feed, apply k+1, and skip the late k.
func (s *scenario) reordered(t *testing.T) {
	fed := feedCount(s.n.mustStatus(t))
	k := s.c.cp.Seq() + 1
	if s.c.source == "poll" {
		s.c.proxy.setRewrite(swap(k))
		s.w.run(t, 2)
		s.waitRevision(t, k+1)
		s.c.proxy.setRewrite(nil)
	} else {
		s.c.pausePublisher(t)
		s.w.run(t, 2)
		evs := s.c.feedEvents(t, k, k+1)
		s.wire.publish(t, evs[1], evs[0])
		s.waitRevision(t, k+1)
		s.waitRead(t)
		s.c.resumePublisher(t)
	}
	if got := feedCount(s.n.mustStatus(t)); got == fed {
		t.Errorf("the node took no event from the feed (events %v)", s.n.mustStatus(t).Ingest.Events)
	}
	s.more(t)
}

// gap: event k+1 never reaches the node through the transport; it must
// take it from the feed when k+2 arrives.
func (s *scenario) gap(t *testing.T) {
	fed := feedCount(s.n.mustStatus(t))
	k := s.c.cp.Seq() + 1
	if s.c.source == "poll" {
		s.c.proxy.setRewrite(withhold(k + 1))
		s.w.run(t, 3)
		s.waitRevision(t, k+2)
		s.c.proxy.setRewrite(nil)
	} else {
		s.c.pausePublisher(t)
		s.w.run(t, 3)
		evs := s.c.feedEvents(t, k, k+2)
		s.wire.publish(t, evs[0], evs[2])
		s.waitRevision(t, k+2)
		s.waitRead(t)
		s.c.resumePublisher(t)
	}
	if got := feedCount(s.n.mustStatus(t)); got == fed {
		t.Errorf("the node took no event from the feed (events %v)", s.n.mustStatus(t).Ingest.Events)
	}
	s.more(t)
}

// waitRevision waits until the node has applied seq.
func (s *scenario) waitRevision(t *testing.T, seq uint64) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		st, err := s.n.status()
		if err != nil {
			return err
		}
		if st.Revision < seq {
			return fmt.Errorf("node at %d, want %d (ingest %s, last error %q)", st.Revision, seq, st.Ingest.State, st.Ingest.LastError)
		}
		return nil
	})
}

// waitRead waits until the node has read every message on the broker.
func (s *scenario) waitRead(t *testing.T) {
	t.Helper()
	end := s.wire.end(t)
	eventually(t, 30*time.Second, func() error {
		st, err := s.n.status()
		if err != nil {
			return err
		}
		if got := nodeEnd(s.c.source, st.Ingest.Position); got < end {
			return fmt.Errorf("node read up to %d of %d", got, end)
		}
		return nil
	})
}

// poison: the next event on the transport cannot be applied. Ingest stops
// there, the error shows in /status and /metrics, the node keeps serving
// its last good state, and recovers by re-bootstrapping from a snapshot
// once the control plane has the real event.
func (s *scenario) poison(t *testing.T) {
	rev := s.c.converge(t, s.n, s.qs)
	want := s.c.answers(t, s.n.URL, s.qs)
	k := rev + 1
	source := s.c.source
	switch source {
	case "poll":
		// The control plane writes k; the proxy replaces it with an event
		// of an unknown kind in every long-poll, and refuses snapshots
		// until the checks below are done.
		s.c.proxy.refuseSnapshots(true)
		s.c.proxy.setRewrite(poisoning(k, ingesttest.UndecodableEvent(convEnv, k)))
		s.w.run(t, 1)
	case "kafka":
		// Bytes that are not an event, where event k should be.
		s.wire.publish(t, []byte("\x00\x01garbage, not an event"))
	case "nats":
		// An event k that decodes but cannot be applied.
		s.wire.publish(t, ingesttest.PoisonEvent(convEnv, k))
	}
	eventually(t, 30*time.Second, func() error {
		st, err := s.n.status()
		if err != nil {
			return err
		}
		if st.Ingest.PoisonSeq != k || st.Ingest.Errors[source+"/poison"] == 0 {
			return fmt.Errorf("poison_seq %d, errors %v; want poison_seq %d", st.Ingest.PoisonSeq, st.Ingest.Errors, k)
		}
		return nil
	})
	st := s.n.mustStatus(t)
	if st.Revision != rev || st.HeaderRevision != rev {
		t.Errorf("stopped at poison: revision %d (header %d), want %d", st.Revision, st.HeaderRevision, rev)
	}
	if st.Ingest.State != "failing" && st.Ingest.State != "resyncing" {
		t.Errorf("ingest state %q while stopped at poison", st.Ingest.State)
	}
	if !strings.Contains(st.Ingest.LastError, "poison") {
		t.Errorf("last_error %q does not say poison", st.Ingest.LastError)
	}
	if m := s.n.metric(t, "outpost_ingest_errors_total", `kind="poison"`, `source="`+source+`"`); m < 1 {
		t.Errorf("outpost_ingest_errors_total{kind=poison,source=%s} = %v", source, m)
	}
	if resp, err := s.n.get("/healthcheck"); err != nil || resp.Status != 200 {
		t.Errorf("healthcheck while stopped at poison: %v %v", resp, err)
	}
	if got := s.c.answers(t, s.n.URL, s.qs); !slices.Equal(got, want) {
		t.Errorf("answers changed while stopped at poison: %v, want %v", got, want)
	}

	// Recovery.
	if source == "poll" {
		s.c.proxy.refuseSnapshots(false)
	} else {
		s.w.run(t, 1) // the real event k, published after the poison
	}
	s.c.converge(t, s.n, s.qs)
	st = s.n.mustStatus(t)
	if st.Ingest.Resyncs["poison"] == 0 || st.Ingest.PoisonSeq != 0 {
		t.Errorf("after recovery: resyncs %v, poison_seq %d", st.Ingest.Resyncs, st.Ingest.PoisonSeq)
	}
	if source == "poll" {
		s.c.proxy.setRewrite(nil)
	}
	s.more(t)
}

// outage: the transport is down for outageFor while the control plane
// keeps taking writes; the node keeps serving, reports failing, and
// catches up when it is back.
func (s *scenario) outage(t *testing.T) {
	s.c.converge(t, s.n, s.qs)
	want := s.c.answers(t, s.n.URL, s.qs)
	var back func()
	switch s.c.source {
	case "poll":
		s.c.proxy.down()
		back = func() { s.c.proxy.up(t) }
	case "kafka":
		s.c.kafka.Stop()
		back = func() {
			if err := s.c.kafka.Restart(); err != nil {
				t.Fatalf("restart kafka: %v", err)
			}
		}
	case "nats":
		s.c.nats.Stop()
		back = func() {
			if err := s.c.nats.Restart(); err != nil {
				t.Fatalf("restart nats: %v", err)
			}
		}
	}
	start := time.Now()
	// Before any write, the node still answers as before.
	if got := s.c.answers(t, s.n.URL, s.qs); !slices.Equal(got, want) {
		t.Errorf("answers changed when the transport went down")
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	failing := false
	for time.Since(start) < outageFor {
		if _, err := s.w.step(); err != nil {
			t.Fatal(err)
		}
		if st, err := s.n.status(); err == nil && st.Ingest.State == "failing" {
			failing = true
		}
		<-tick.C
	}
	if !failing {
		t.Errorf("the node never reported ingest failing during a %s outage", outageFor)
	}
	if resp, err := s.n.get("/healthcheck"); err != nil || resp.Status != 200 {
		t.Errorf("healthcheck during the outage: %v %v", resp, err)
	}
	back()
	t.Logf("transport back after %.1fs", time.Since(start).Seconds())
	s.c.converge(t, s.n, s.qs)
	t.Logf("converged %.1fs after the outage began", time.Since(start).Seconds())
	s.more(t)
}

// nodeRestart: the node is stopped while it follows a stream of writes
// (serve writes a final checkpoint), writes continue while it is down, and
// a new node started on the same data directory resumes from that
// checkpoint, with no loss, while the writes go on.
func (s *scenario) nodeRestart(t *testing.T) {
	stop := s.w.background(t)
	s.waitWrites(t, 20)
	rev := s.n.mustStatus(t).Revision
	dir := s.n.Dir
	s.n.stop(t)
	// The final checkpoint holds at least what the node had applied just
	// before it was told to stop (periodic ones are up to 1 s older).
	final := latestCheckpoint(t, dir).Position
	if final.Seq < rev {
		t.Fatalf("newest checkpoint after a graceful stop is at %d; the node had applied %d", final.Seq, rev)
	}
	if s.c.source != "poll" && nodeEnd(s.c.source, final) <= 0 {
		t.Fatalf("the final checkpoint has no %s position: %+v", s.c.source, final)
	}
	s.waitWrites(t, 20)
	s.n = s.c.startNode(t, dir)
	st := s.n.mustStatus(t)
	if st.Node.LoadedFrom != "checkpoint" || st.Revision < final.Seq {
		t.Fatalf("restarted node is at revision %d from its %s; want at least %d from its checkpoint", st.Revision, st.Node.LoadedFrom, final.Seq)
	}
	s.waitWrites(t, 20)
	if ok, failed := stop(); failed > 0 {
		t.Fatalf("%d of %d writes failed", failed, ok+failed)
	}
	s.more(t)
}

// controlPlaneRestart: the control plane restarts while the node follows
// a stream of writes.
func (s *scenario) controlPlaneRestart(t *testing.T) {
	stop := s.w.background(t)
	s.waitWrites(t, 20)
	s.c.cp.Restart()
	s.waitWrites(t, 20)
	ok, failed := stop()
	t.Logf("%d writes, %d refused while the control plane restarted", ok, failed)
	s.more(t)
}

// waitWrites waits until the control plane has committed n more events.
func (s *scenario) waitWrites(t *testing.T, n uint64) {
	t.Helper()
	from, err := s.c.cp.ReadClient.Status(convEnv)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		st, err := s.c.cp.ReadClient.Status(convEnv)
		if err != nil {
			return err
		}
		if st.Seq < from.Seq+n {
			return fmt.Errorf("control plane at %d, want %d", st.Seq, from.Seq+n)
		}
		return nil
	})
}

// TestConvergeStopsCleanly: a node that followed each source and was
// stopped leaves no goroutine of its ingest code or transport clients
// behind. (Not parallel: the leak check counts every goroutine.)
func TestConvergeStopsCleanly(t *testing.T) {
	for _, source := range []string{"poll", "kafka", "nats"} {
		t.Run(source, func(t *testing.T) {
			ingesttest.CheckGoroutines(t)
			c := startCluster(t, source)
			w := newWorkload(4, c.cp.Client)
			w.run(t, 20)
			n := c.startNode(t, filepath.Join(t.TempDir(), "node"))
			w.run(t, 20)
			c.converge(t, n, questions(4, 8))
			n.stop(t)
		})
	}
}
