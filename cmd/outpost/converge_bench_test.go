package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

var benchSources = []string{"poll", "kafka", "nats"}

// BenchmarkLag measures, per source, how long a write on the control plane
// takes to become visible on a node: from just before the write request is
// sent until an authorize request naming the write's OsoOffset comes back
// allowed from the node (the node holds such a request until it has
// applied that seq; --consistency-wait is raised so that it never answers
// stale). ack-p50/p99-ms measure from the write's reply instead. The node
// runs serve in this process; everything goes over 127.0.0.1.
//
//	go test -run '^$' -bench BenchmarkLag -benchtime 2000x ./cmd/outpost/
func BenchmarkLag(b *testing.B) {
	for _, source := range benchSources {
		b.Run(source, func(b *testing.B) { benchLag(b, source) })
	}
}

func benchLag(b *testing.B, source string) {
	c := startCluster(b, source)
	if _, err := c.cp.Client.SetPolicy(convPolicyA); err != nil {
		b.Fatal(err)
	}
	n := c.startNode(b, filepath.Join(b.TempDir(), "node"), "--consistency-wait", "10s")
	c.converge(b, n, nil)
	logID := c.cp.LogID()
	org := val("Organization", 0)
	var lag, ack []time.Duration
	i := 0
	for b.Loop() {
		i++
		user := replica.Value{Type: "User", ID: fmt.Sprintf("lag-%d", i)}
		t0 := time.Now()
		seq, err := c.cp.Client.Insert(replica.Fact{Predicate: "has_role", Args: []replica.Value{user, str("member"), org}})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		allowed, resp, err := c.authorize(n.URL, question{"User", user.ID, "read", org.Type, org.ID},
			map[string]string{"OsoOffset": fmt.Sprintf("%s:%d", logID, seq)})
		t2 := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		if !allowed || resp.Header.Get("X-Outpost-Stale") != "" {
			b.Fatalf("write %d not visible: allowed %v, headers %v", seq, allowed, resp.Header)
		}
		lag, ack = append(lag, t2.Sub(t0)), append(ack, t2.Sub(t1))
	}
	b.ReportMetric(percentileMS(lag, 50), "p50-ms")
	b.ReportMetric(percentileMS(lag, 99), "p99-ms")
	b.ReportMetric(percentileMS(ack, 50), "ack-p50-ms")
	b.ReportMetric(percentileMS(ack, 99), "ack-p99-ms")
}

// percentileMS returns the p-th percentile of ds in milliseconds (nearest
// rank).
func percentileMS(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return float64(s[max(i-1, 0)]) / float64(time.Millisecond)
}

// BenchmarkIngest measures, per source, how fast a node applies a backlog:
// 2,000 events of 100 facts each (200k facts) are written on the control
// plane, and published, while the node is stopped; each iteration starts a
// node on a copy of its data directory (a checkpoint from before the
// backlog, so it must ingest every event through its source) and times it
// from serve's start until it has applied the last event. facts/s is the
// backlog's facts over that time.
//
//	go test -run '^$' -bench BenchmarkIngest -benchtime 3x ./cmd/outpost/
func BenchmarkIngest(b *testing.B) {
	for _, source := range benchSources {
		b.Run(source, func(b *testing.B) { benchIngest(b, source) })
	}
}

const (
	backlogEvents   = 2000
	factsPerEvent   = 100
	backlogWriters  = 4
	ingestPollEvery = 5 * time.Millisecond
)

func benchIngest(b *testing.B, source string) {
	c := startCluster(b, source)
	if _, err := c.cp.Client.SetPolicy(convPolicyA); err != nil {
		b.Fatal(err)
	}
	seed := filepath.Join(b.TempDir(), "seed")
	n := c.startNode(b, seed)
	c.converge(b, n, nil)
	n.stop(b)
	writeBacklog(b, c)
	head := c.cp.Seq()
	c.waitPublished(b)

	var took time.Duration
	runs := 0
	for b.Loop() {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), fmt.Sprintf("node%d", runs))
		copyDir(b, seed, dir)
		b.StartTimer()
		start := time.Now()
		n := c.startNode(b, dir)
		if st := n.mustStatus(b); st.Node.LoadedFrom != "checkpoint" {
			b.Fatalf("node started from its %s; want the checkpoint from before the backlog", st.Node.LoadedFrom)
		}
		for {
			st, err := n.status()
			if err != nil {
				b.Fatal(err)
			}
			if st.Revision >= head {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("node at %d of %d after 5 minutes", st.Revision, head)
			}
			time.Sleep(ingestPollEvery)
		}
		took += time.Since(start)
		runs++
		b.StopTimer()
		n.stop(b)
		b.StartTimer()
	}
	perRun := took / time.Duration(runs)
	b.ReportMetric(float64(backlogEvents*factsPerEvent)/perRun.Seconds(), "facts/s")
	b.ReportMetric(perRun.Seconds(), "s/catch-up")
}

// writeBacklog writes backlogEvents events of factsPerEvent new facts each
// on the control plane, from a few writers at once.
func writeBacklog(b *testing.B, c *cluster) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, backlogWriters)
	for w := range backlogWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := w; e < backlogEvents; e += backlogWriters {
				fs := make([]replica.Fact, factsPerEvent)
				for i := range fs {
					fs[i] = replica.Fact{Predicate: "has_role", Args: []replica.Value{
						{Type: "User", ID: fmt.Sprintf("b%d-%d", e, i)}, str(orgRoles[i%2]), val("Organization", i%wlOrgs)}}
				}
				if _, err := c.cp.Client.Insert(fs...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
