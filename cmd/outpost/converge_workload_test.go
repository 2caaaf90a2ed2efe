package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/controlplane"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// The two policies the workload alternates between: gitclub, and gitclub
// with two rules changed, over the same predicates so that every fact the
// workload writes fits both.
var (
	convPolicyA = datasets.GitclubPolicy
	convPolicyB = mustReplace(mustReplace(datasets.GitclubPolicy,
		`"push" if "writer";`, `"push" if "maintainer";`),
		`"reader" if "member" on "organization";`, `"writer" if "member" on "organization";`)
)

func mustReplace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic(fmt.Sprintf("policy has no %q", old))
	}
	return strings.Replace(s, old, new, 1)
}

// The workload's universe: small, so that deletes and patterns hit facts
// that exist and authorize questions have both answers.
const (
	wlUsers  = 12
	wlGroups = 3
	wlOrgs   = 3
	wlRepos  = 6
	wlIssues = 6
)

var (
	orgRoles  = []string{"member", "admin"}
	repoRoles = []string{"reader", "writer", "maintainer", "admin"}
)

func val(typ string, n int) replica.Value {
	return replica.Value{Type: typ, ID: fmt.Sprintf("%s%d", strings.ToLower(typ[:1]), n)}
}

func str(s string) replica.Value { return replica.Value{Type: "String", ID: s} }

// workload writes random changes to a control plane, deterministically for
// a seed. It remembers the facts it believes exist (best effort: only to
// aim deletes at them), and which policy is active.
type workload struct {
	rng    *rand.Rand
	cp     *controlplane.Client
	policy string
	live   map[string]replica.Fact
	// Counts of each kind of write done, for the log.
	counts map[string]int
}

func newWorkload(seed uint64, cp *controlplane.Client) *workload {
	return &workload{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), cp: cp,
		live: map[string]replica.Fact{}, counts: map[string]int{}}
}

func (w *workload) pick(n int) int { return w.rng.IntN(n) }

func (w *workload) user() replica.Value  { return val("User", w.pick(wlUsers)) }
func (w *workload) group() replica.Value { return val("Group", w.pick(wlGroups)) }
func (w *workload) org() replica.Value   { return val("Organization", w.pick(wlOrgs)) }
func (w *workload) repo() replica.Value  { return val("Repository", w.pick(wlRepos)) }
func (w *workload) issue() replica.Value { return val("Issue", w.pick(wlIssues)) }

// fact returns a random fact of the gitclub model.
func (w *workload) fact() replica.Fact {
	f := func(p string, args ...replica.Value) replica.Fact { return replica.Fact{Predicate: p, Args: args} }
	switch w.pick(8) {
	case 0, 1:
		return f("has_role", w.user(), str(orgRoles[w.pick(2)]), w.org())
	case 2, 3:
		return f("has_role", w.user(), str(repoRoles[w.pick(4)]), w.repo())
	case 4:
		return f("has_role", w.group(), str(repoRoles[w.pick(4)]), w.repo())
	case 5:
		return f("in_group", w.user(), w.group())
	case 6:
		if w.pick(3) == 0 {
			return f("is_public", w.repo())
		}
		return f("has_relation", w.repo(), str("organization"), w.org())
	default:
		if w.pick(2) == 0 {
			return f("has_relation", w.issue(), str("creator"), w.user())
		}
		return f("has_relation", w.issue(), str("repository"), w.repo())
	}
}

func factKey(f replica.Fact) string { return f.String() }

// liveFact returns a fact believed to exist, or a random one.
func (w *workload) liveFact() replica.Fact {
	if len(w.live) == 0 {
		return w.fact()
	}
	i := w.pick(len(w.live))
	for _, k := range sortedKeys(w.live) {
		if i == 0 {
			return w.live[k]
		}
		i--
	}
	panic("unreachable")
}

func sortedKeys(m map[string]replica.Fact) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // map order is random

	return keys
}

func exact(f replica.Fact) replica.Pattern {
	p := replica.Pattern{Predicate: f.Predicate}
	for _, a := range f.Args {
		p.Args = append(p.Args, replica.Exact(a))
	}
	return p
}

func matches(p replica.Pattern, f replica.Fact) bool {
	if p.Predicate != f.Predicate || len(p.Args) != len(f.Args) {
		return false
	}
	for i, a := range p.Args {
		if (a.Type != nil && *a.Type != f.Args[i].Type) || (a.ID != nil && *a.ID != f.Args[i].ID) {
			return false
		}
	}
	return true
}

func (w *workload) forget(ps ...replica.Pattern) {
	for k, f := range w.live {
		for _, p := range ps {
			if matches(p, f) {
				delete(w.live, k)
			}
		}
	}
}

func (w *workload) remember(fs ...replica.Fact) {
	for _, f := range fs {
		w.live[factKey(f)] = f
	}
}

// typedWildcard returns a delete pattern with typed wildcards (any value
// of a type).
func (w *workload) typedWildcard() replica.Pattern {
	switch w.pick(3) {
	case 0: // every repository role of a user
		return replica.Pattern{Predicate: "has_role", Args: []replica.PatternArg{
			replica.Exact(w.user()), replica.AnyOf("String"), replica.AnyOf("Repository")}}
	case 1: // every organization of a repository
		return replica.Pattern{Predicate: "has_relation", Args: []replica.PatternArg{
			replica.Exact(w.repo()), replica.Exact(str("organization")), replica.AnyOf("Organization")}}
	default: // every member of a group
		return replica.Pattern{Predicate: "in_group", Args: []replica.PatternArg{
			replica.AnyOf("User"), replica.Exact(w.group())}}
	}
}

// untypedWildcard returns a delete pattern with untyped wildcards (any
// value at all).
func (w *workload) untypedWildcard() replica.Pattern {
	switch w.pick(3) {
	case 0: // everyone holding a role on an organization, users or not
		return replica.Pattern{Predicate: "has_role", Args: []replica.PatternArg{
			replica.Any(), replica.Exact(str(orgRoles[w.pick(2)])), replica.Exact(w.org())}}
	case 1: // every role of anyone on a repository
		return replica.Pattern{Predicate: "has_role", Args: []replica.PatternArg{
			replica.Any(), replica.Any(), replica.Exact(w.repo())}}
	default:
		return replica.Pattern{Predicate: "is_public", Args: []replica.PatternArg{replica.Any()}}
	}
}

// setPolicy makes src the active policy.
func (w *workload) setPolicy(src string) error {
	if _, err := w.cp.SetPolicy(src); err != nil {
		return fmt.Errorf("set policy: %w", err)
	}
	w.policy = src
	return nil
}

// step does one random write and returns its seq.
func (w *workload) step() (uint64, error) {
	if w.policy == "" {
		w.counts["policy"]++
		if err := w.setPolicy(convPolicyA); err != nil {
			return 0, err
		}
		return w.head()
	}
	var (
		kind string
		seq  uint64
		err  error
	)
	switch r := w.pick(100); {
	case r < 35:
		kind = "insert"
		fs := make([]replica.Fact, 1+w.pick(6))
		for i := range fs {
			fs[i] = w.fact()
		}
		seq, err = w.cp.Insert(fs...)
		w.remember(fs...)
	case r < 50:
		kind = "delete"
		ps := make([]replica.Pattern, 1+w.pick(3))
		for i := range ps {
			ps[i] = exact(w.liveFact())
		}
		seq, err = w.cp.Delete(ps...)
		w.forget(ps...)
	case r < 60:
		kind = "delete typed wildcard"
		p := w.typedWildcard()
		seq, err = w.cp.Delete(p)
		w.forget(p)
	case r < 68:
		kind = "delete untyped wildcard"
		p := w.untypedWildcard()
		seq, err = w.cp.Delete(p)
		w.forget(p)
	case r < 86:
		kind = "batch insert+delete same fact"
		f, g := w.liveFact(), w.fact()
		switch w.pick(3) {
		case 0: // inserted then deleted: gone
			seq, err = w.cp.Batch(controlplane.Inserts(f, g), controlplane.Deletes(exact(f)))
			w.forget(exact(f))
			w.remember(g)
		case 1: // deleted then inserted: present
			seq, err = w.cp.Batch(controlplane.Deletes(exact(f)), controlplane.Inserts(f))
			w.remember(f)
		default: // inserted, deleted by a wildcard, inserted again
			p := exact(f)
			p.Args[0] = replica.AnyOf(f.Args[0].Type)
			seq, err = w.cp.Batch(controlplane.Inserts(f), controlplane.Deletes(p), controlplane.Inserts(f, g))
			w.forget(p)
			w.remember(f, g)
		}
	case r < 96:
		kind = "policy"
		next := convPolicyA
		if w.policy == convPolicyA {
			next = convPolicyB
		}
		if err = w.setPolicy(next); err == nil {
			w.counts[kind]++
			return w.head()
		}
	default:
		kind = "clear"
		seq, err = w.cp.Clear()
		clear(w.live)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", kind, err)
	}
	w.counts[kind]++
	return seq, nil
}

func (w *workload) head() (uint64, error) {
	s, err := w.cp.Status(convEnv)
	return s.Seq, err
}

// run does n random writes, failing t on the first error.
func (w *workload) run(t testing.TB, n int) {
	t.Helper()
	for range n {
		if _, err := w.step(); err != nil {
			t.Fatal(err)
		}
	}
}

// questions returns n random authorize questions over the universe,
// deterministic for the seed.
func questions(seed uint64, n int) []question {
	rng := rand.New(rand.NewPCG(seed, 7))
	var qs []question
	for range n {
		u := val("User", rng.IntN(wlUsers))
		var q question
		switch rng.IntN(3) {
		case 0:
			o := val("Organization", rng.IntN(wlOrgs))
			q = question{"User", u.ID, datasets.OrganizationActions[rng.IntN(len(datasets.OrganizationActions))], o.Type, o.ID}
		case 1:
			r := val("Repository", rng.IntN(wlRepos))
			q = question{"User", u.ID, datasets.RepositoryActions[rng.IntN(len(datasets.RepositoryActions))], r.Type, r.ID}
		default:
			i := val("Issue", rng.IntN(wlIssues))
			q = question{"User", u.ID, datasets.IssueActions[rng.IntN(len(datasets.IssueActions))], i.Type, i.ID}
		}
		qs = append(qs, q)
	}
	return qs
}

// background does random writes on its own goroutine, one every 5 ms,
// until the returned stop is called; stop returns how many writes
// succeeded and how many failed (a write fails while the control plane
// restarts; the next one is tried on the next tick). The workload must
// not be used by anyone else until stop has returned. stop is also
// called in t.Cleanup, and is idempotent.
func (w *workload) background(t testing.TB) (stop func() (ok, failed int)) {
	done := make(chan struct{})
	finished := make(chan struct{})
	var ok, failed int
	go func() {
		defer close(finished)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if _, err := w.step(); err != nil {
				failed++
			} else {
				ok++
			}
		}
	}()
	var once sync.Once
	stop = func() (int, int) {
		once.Do(func() { close(done) })
		<-finished
		return ok, failed
	}
	t.Cleanup(func() { stop() })
	return stop
}
