package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/controlplane"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// liveUsers is how many of the writer's users hold facts at a time: user
// i's facts are deleted when user i+liveUsers is written.
const liveUsers = 40

// writer writes through the control plane: user i of its own gets a role
// on a seeded repository and joins a seeded group; the facts of user
// i-liveUsers are deleted (a wildcard delete of its roles and an exact
// delete of its membership); every PolicyEvery the policy changes. Every
// insert is read back from a node in rotation with its OsoOffset.
type writer struct {
	cp     *controlplane.Client
	logID  string
	cl     *client
	rot    *rotation
	st     *stats
	repos  int64
	groups int64
	every  time.Duration
	policy time.Duration

	policies int
}

func soakUser(i int) replica.Value {
	return replica.Value{Type: "User", ID: "soak-user-" + strconv.Itoa(i)}
}

func (w *writer) run(ctx context.Context) {
	rng := rand.New(rand.NewPCG(1, 2))
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	nextPolicy := time.Now().Add(w.policy)
	groupOf := map[int]int64{}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if time.Now().After(nextPolicy) {
			nextPolicy = time.Now().Add(w.policy)
			w.policies++
			// alternate between two sources: a real change every time
			src := datasets.GitclubPolicy
			if w.policies%2 == 1 {
				src += fmt.Sprintf("\n# soak: policy change %d\n", w.policies)
			}
			_, err := w.cp.SetPolicyFile(src, datasets.PolicyFilename)
			w.wrote(ctx, err, "set policy")
			continue
		}
		u := soakUser(i)
		repo := replica.Value{Type: "Repository", ID: datasets.RepoID(rng.Int64N(w.repos))}
		group := rng.Int64N(w.groups)
		groupOf[i] = group
		role := []string{"reader", "writer", "maintainer"}[i%3]
		groups := []controlplane.Group{controlplane.Inserts(
			replica.Fact{Predicate: "has_role", Args: []replica.Value{u, {Type: "String", ID: role}, repo}},
			replica.Fact{Predicate: "in_group", Args: []replica.Value{u, {Type: "Group", ID: datasets.GroupID(group)}}},
		)}
		if old := i - liveUsers; old >= 0 {
			ou := soakUser(old)
			groups = append(groups, controlplane.Deletes(
				replica.Pattern{Predicate: "has_role", Args: []replica.PatternArg{replica.Exact(ou), replica.Any(), replica.AnyOf("Repository")}},
				replica.Pattern{Predicate: "in_group", Args: []replica.PatternArg{replica.Exact(ou),
					replica.Exact(replica.Value{Type: "Group", ID: datasets.GroupID(groupOf[old])})}},
			))
			delete(groupOf, old)
		}
		seq, err := w.cp.Batch(groups...)
		if !w.wrote(ctx, err, "batch") {
			continue
		}
		w.readBack(ctx, u, repo, seq)
	}
}

// wrote counts a write and reports whether it succeeded.
func (w *writer) wrote(ctx context.Context, err error, what string) bool {
	if ctx.Err() != nil {
		return false
	}
	w.st.mu.Lock()
	defer w.st.mu.Unlock()
	w.st.writes++
	if err != nil {
		w.st.writeErrs++
		w.st.note("write %s: %v", what, err)
		return false
	}
	return true
}

// readBack asks a node whether u may read repo, sending the write's
// OsoOffset: the answer must be allowed, or marked stale.
func (w *writer) readBack(ctx context.Context, u, repo replica.Value, seq uint64) {
	n := w.rot.pick()
	if n == nil {
		return
	}
	body := fmt.Appendf(nil, `{"actor_type":"User","actor_id":%q,"action":"read","resource_type":"Repository","resource_id":%q,"context_facts":[]}`, u.ID, repo.ID)
	status, b, h, err := w.cl.do(ctx, n.url, "/api/authorize", body, map[string]string{"OsoOffset": w.logID + ":" + strconv.FormatUint(seq, 10)})
	if ctx.Err() != nil {
		return
	}
	w.st.mu.Lock()
	defer w.st.mu.Unlock()
	switch {
	case err != nil || status != 200:
		w.st.failed++
		w.st.note("read-your-write on %s: status %d, %v", n.name, status, err)
	case h.Get("X-Outpost-Stale") == "true":
		w.st.rywStale++
	default:
		if got, _ := answer(b); got != "allowed=true" {
			w.st.rywWrong++
			w.st.note("read-your-write on %s at seq %d: %s may not read %s (%s)", n.name, seq, u.ID, repo.ID, b)
		}
	}
}
