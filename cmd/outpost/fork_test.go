package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

// Fork tests (#17 item 3): the control plane's log goes back under a node
// that has applied more of it, and the node must notice, say so and heal.
//
//   - restored backup, shorter: the control plane is restored from a backup
//     (same log id, lower seq) and writes again, fewer events than were
//     lost, so its head stays below the node's applied seq;
//   - restored backup, same head: as many new events as were lost, so only
//     the state digest at the same seq differs;
//   - re-seeded: the control plane lost its data directory and was seeded
//     again: a new log id, and a head past the node's applied seq.
//
// Each ends with the node's digest equal to the control plane's, the lost
// branch's grant denied and the new branch's allowed, and the fork counted
// in outpost_resyncs_total{reason="fork"}. Before the fix the node skipped
// the new events as duplicates and stayed on the lost branch.
func TestForkPoll(t *testing.T)  { testFork(t, "poll") }
func TestForkKafka(t *testing.T) { testFork(t, "kafka") }
func TestForkNATS(t *testing.T)  { testFork(t, "nats") }

func grant(user, repo string) replica.Fact {
	return replica.Fact{Predicate: "has_role", Args: []replica.Value{
		{Type: "User", ID: user}, str("reader"), {Type: "Repository", ID: repo}}}
}

func canRead(user, repo string) question {
	return question{ActorType: "User", ActorID: user, Action: "read", ResourceType: "Repository", ResourceID: repo}
}

func testFork(t *testing.T, source string) {
	if testing.Short() {
		t.Skip("fork tests run a control plane, a broker and a node; skipped with -short")
	}
	t.Parallel()
	c := startCluster(t, source)
	cp := c.cp
	seed := func() {
		t.Helper()
		if _, err := cp.Client.SetPolicy(convPolicyA); err != nil {
			t.Fatal(err)
		}
		if _, err := cp.Client.Insert(grant("alice", "r1")); err != nil {
			t.Fatal(err)
		}
	}
	seed()
	n := c.startNode(t, filepath.Join(t.TempDir(), "node"))
	c.converge(t, n, nil)

	cases := []struct {
		name      string
		lost, new int  // events written on the lost branch and after the restore
		reseed    bool // a new, empty data directory instead of a backup
	}{
		{"restored backup, shorter", 4, 2, false},
		{"restored backup, same head", 3, 3, false},
		{"re-seeded", 2, 6, true},
	}
	parent := t
	for i, tc := range cases {
		ok := t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			forksBefore := n.metric(t, "outpost_resyncs_total", `reason="fork"`)
			// The control plane keeps using these directories after the
			// subtest: they belong to the parent test.
			backup := filepath.Join(parent.TempDir(), "backup")
			if !tc.reseed {
				cp.Stop()
				copyDir(t, cp.DataDir(), backup)
				cp.Restart()
			}
			lostUser, newUser := fmt.Sprintf("lost%d", i), fmt.Sprintf("new%d", i)
			for k := range tc.lost {
				if _, err := cp.Client.Insert(grant(lostUser, fmt.Sprintf("r%d", k))); err != nil {
					t.Fatal(err)
				}
			}
			c.converge(t, n, []question{canRead(lostUser, "r0")})
			applied := n.mustStatus(t).Revision
			oldLog := cp.LogID()

			if tc.reseed {
				cp.RestartWith(func(cfg *controlplane.Config) { cfg.DataDir = filepath.Join(parent.TempDir(), "fresh") })
				seed()
			} else {
				cp.RestartWith(func(cfg *controlplane.Config) { cfg.DataDir = backup })
			}
			for k := range tc.new {
				if _, err := cp.Client.Insert(grant(newUser, fmt.Sprintf("r%d", k))); err != nil {
					t.Fatal(err)
				}
			}
			head := cp.Seq()
			switch {
			case tc.reseed && cp.LogID() == oldLog:
				t.Fatalf("re-seeded control plane kept log id %s", oldLog)
			case !tc.reseed && cp.LogID() != oldLog:
				t.Fatalf("restored control plane has log id %s, want %s", cp.LogID(), oldLog)
			case tc.lost > tc.new && head >= applied, tc.lost == tc.new && head != applied:
				t.Fatalf("control plane head %d, node applied %d: the case is not what it claims", head, applied)
			}
			t.Logf("node applied %d of log %s; control plane now at %d of log %s", applied, oldLog, head, cp.LogID())

			healed(t, c, n)
			qs := []question{canRead(lostUser, "r0"), canRead(newUser, "r0"), canRead("alice", "r1")}
			got := c.answers(t, n.URL, qs)
			if want := c.answers(t, cp.URL, qs); want[0] || !want[1] || !want[2] {
				t.Fatalf("the control plane answers %v; the test's premise is wrong", want)
			}
			if got[0] || !got[1] || !got[2] {
				t.Errorf("after healing: %s %v, %s %v, %s %v; want false, true, true", qs[0], got[0], qs[1], got[1], qs[2], got[2])
			}
			if forks := n.metric(t, "outpost_resyncs_total", `reason="fork"`); forks <= forksBefore {
				t.Errorf("outpost_resyncs_total{reason=\"fork\"} stayed at %v", forks)
			}
			if errs := n.metric(t, "outpost_ingest_errors_total", `kind="fork"`); errs == 0 {
				t.Errorf("no fork counted in outpost_ingest_errors_total")
			}
		})
		if !ok {
			return
		}
	}
}

// healed waits until the node has applied the control plane's head with
// the same digest (a fork may show a different digest at the same seq for
// a moment, until the node notices it).
func healed(t *testing.T, c *cluster, n *convNode) {
	t.Helper()
	eventually(t, 90*time.Second, func() error {
		cs, err := c.cp.ReadClient.Status(convEnv)
		if err != nil {
			return fmt.Errorf("control plane status: %w", err)
		}
		ns, err := n.status()
		if err != nil {
			return fmt.Errorf("node status: %w", err)
		}
		if ns.Revision != cs.Seq || ns.Digest != cs.Digest {
			return fmt.Errorf("node at %d digest %s, control plane at %d digest %s; ingest %s, last error %q",
				ns.Revision, ns.Digest, cs.Seq, cs.Digest, ns.Ingest.State, ns.Ingest.LastError)
		}
		return nil
	})
}
