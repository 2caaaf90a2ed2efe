package datasets

import (
	"errors"
	"fmt"
	"testing"

	"github.com/outpost-authz/outpost/replica"
)

func v(typ, id string) replica.Value { return replica.Value{Type: typ, ID: id} }

func fact(pred string, args ...replica.Value) replica.Fact {
	return replica.Fact{Predicate: pred, Args: args}
}

// TestReferenceFollowsPolicy checks the hand-written evaluator against
// small, hand-checked cases, one per rule of GitclubPolicy.
func TestReferenceFollowsPolicy(t *testing.T) {
	ana, bo, cy, dee, eve := v(TypeUser, "ana"), v(TypeUser, "bo"), v(TypeUser, "cy"), v(TypeUser, "dee"), v(TypeUser, "eve")
	acme, globex := v(TypeOrganization, "acme"), v(TypeOrganization, "globex")
	anvil, rocket, pub, stray := v(TypeRepository, "anvil"), v(TypeRepository, "rocket"), v(TypeRepository, "pub"), v(TypeRepository, "stray")
	i1, i2 := v(TypeIssue, "1"), v(TypeIssue, "2")
	team := v(TypeGroup, "team")
	r := NewReference()
	for _, f := range []replica.Fact{
		fact(predHasRole, ana, str("member"), acme),
		fact(predHasRole, bo, str("admin"), acme),
		fact(predHasRole, eve, str("support")),
		fact(predHasRelation, anvil, str("organization"), acme),
		fact(predHasRelation, rocket, str("organization"), globex),
		fact(predHasRelation, stray, str("organization"), v(TypeRepository, "acme")), // wrong type: grants nothing
		fact(predIsPublic, pub),
		fact(predHasRole, cy, str("writer"), rocket),
		fact(predInGroup, dee, team),
		fact(predHasRole, team, str("maintainer"), rocket),
		fact(predHasRelation, i1, str("repository"), anvil),
		fact(predHasRelation, i1, str("creator"), cy),
		fact(predHasRelation, i2, str("repository"), rocket),
	} {
		if err := r.Add(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		actor    replica.Value
		action   string
		resource replica.Value
		want     bool
	}{
		{ana, "read", acme, true},
		{ana, "create_repository", acme, false},
		{bo, "manage_members", acme, true},
		{bo, "read", acme, true}, // member if admin
		{eve, "read", acme, true},
		{eve, "read", globex, true}, // global role: any organization
		{eve, "manage_members", acme, false},
		{ana, "read", anvil, true}, // reader if member on organization
		{ana, "create_issue", anvil, true},
		{ana, "push", anvil, false},
		{bo, "delete", anvil, true}, // admin if admin on organization
		{bo, "manage_issues", anvil, true},
		{bo, "read", rocket, false},
		{ana, "read", stray, false},
		{ana, "read", pub, true}, // public
		{ana, "push", pub, false},
		{cy, "push", rocket, true}, // direct writer
		{cy, "read", rocket, true},
		{cy, "manage_issues", rocket, false},
		{dee, "manage_issues", rocket, true}, // via group
		{dee, "delete", rocket, false},
		{team, "push", rocket, true}, // groups are actors too
		{ana, "read", i1, true},      // read if reader on repository
		{ana, "comment", i1, true},
		{ana, "close", i1, false},
		{cy, "close", i1, true}, // creator
		{cy, "read", i1, false},
		{bo, "close", i1, true}, // maintainer on repository
		{dee, "close", i2, true},
		{cy, "close", i2, false},
		{ana, "fly", anvil, false},
		{acme, "read", anvil, false}, // not an actor
	} {
		if got := r.Authorize(tc.actor, tc.action, tc.resource); got != tc.want {
			t.Errorf("Authorize(%v, %s, %v) = %v, want %v", tc.actor, tc.action, tc.resource, got, tc.want)
		}
	}
	got, err := r.List(ana, "read", TypeRepository)
	if err != nil || len(got) != 2 || got[0] != "anvil" || got[1] != "pub" {
		t.Errorf("List(ana, read, Repository) = %v, %v; want [anvil pub]", got, err)
	}
	if _, err := r.List(eve, "read", TypeOrganization); !errors.Is(err, ErrUnbounded) {
		t.Errorf("List(eve, read, Organization) error = %v, want ErrUnbounded", err)
	}
	if err := r.Add(fact("owns", ana, acme)); err == nil {
		t.Error("Add accepted a predicate the policy does not use")
	}
}

// loadRef loads the data set into a Reference, leaving out facts for which
// skip returns true.
func loadRef(t testing.TB, cfg Config, skip func(replica.Fact) bool) *Reference {
	t.Helper()
	r := NewReference()
	err := Generate(cfg, func(f replica.Fact) error {
		if skip != nil && skip(f) {
			return nil
		}
		return r.Add(f)
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func is(f replica.Fact, pred string, args ...replica.Value) bool {
	if f.Predicate != pred || len(f.Args) != len(args) {
		return false
	}
	for i, a := range args {
		if f.Args[i] != a {
			return false
		}
	}
	return true
}

// TestShapeSamples checks that each sample of Shape behaves as documented,
// according to the Reference evaluator: allowed on the full data set, and
// (for "only through" samples) denied once the fact the path rests on is
// left out.
func TestShapeSamples(t *testing.T) {
	type testCase struct {
		name  string
		cfg   Config
		short bool
	}
	cases := []testCase{
		{"10k", Config{Facts: 10_000, Seed: 2}, true},
		{"100k", Config{Facts: 100_000, Seed: 1}, true},
		{"100k seed 9", Config{Facts: 100_000, Seed: 9}, true},
		{"1M", Config{Facts: 1_000_000, Seed: 1}, false},
	}
	for seed := range int64(40) { // small data sets are where a sample could be missing
		cases = append(cases, testCase{fmt.Sprintf("min seed %d", seed), Config{Facts: MinFacts + int(seed)*100, Seed: seed}, true})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && !tc.short {
				t.Skip("skipped with -short")
			}
			s, err := Describe(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			full := loadRef(t, tc.cfg, nil)
			if full.Facts() != s.Facts {
				t.Fatalf("reference holds %d facts, shape says %d", full.Facts(), s.Facts)
			}
			ask := func(r *Reference, q Query) bool { return r.Authorize(q.Actor, q.Action, q.Resource) }
			for _, c := range []struct {
				name string
				q    Query
				want bool
			}{
				{"direct", s.Direct, true},
				{"inherit", s.Inherit, true},
				{"denied", s.Denied, false},
				{"group", s.Group, true},
				{"public", s.Public, true},
				{"support", s.Support, true},
			} {
				if c.q.Actor == (replica.Value{}) {
					t.Errorf("%s: no sample", c.name)
					continue
				}
				if got := ask(full, c.q); got != c.want {
					t.Errorf("%s: %v = %v, want %v", c.name, c.q, got, c.want)
				}
			}

			repos, err := full.List(s.BigUser, "read", TypeRepository)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(repos)) != s.BigUserRepos {
				t.Errorf("BigUser reads %d repositories, shape says %d", len(repos), s.BigUserRepos)
			}
			if want := min(int64(BigUserTarget), s.Repos*3/4); s.BigUserRepos < want {
				t.Errorf("BigUserRepos = %d, want at least %d", s.BigUserRepos, want)
			}
			if tc.cfg.Facts >= 1_000_000 && s.BigUserRepos < BigUserTarget {
				t.Errorf("BigUserRepos = %d at %d facts, want >= %d", s.BigUserRepos, tc.cfg.Facts, BigUserTarget)
			}
			if tc.cfg.Facts >= 1_000_000 {
				return // the ablations below load the data set five more times
			}

			for _, c := range []struct {
				name string
				q    Query
				skip func(replica.Fact) bool
			}{
				{"direct", s.Direct, func(f replica.Fact) bool {
					return is(f, predHasRole, s.Direct.Actor, str(s.DirectRole), s.Direct.Resource)
				}},
				{"inherit", s.Inherit, func(f replica.Fact) bool {
					return f.Predicate == predHasRole && len(f.Args) == 3 && f.Args[0] == s.Inherit.Actor && f.Args[2] == s.InheritOrg
				}},
				{"inherit via repository", s.Inherit, func(f replica.Fact) bool {
					return is(f, predHasRelation, s.InheritRepo, valOrganization, s.InheritOrg)
				}},
				{"group", s.Group, func(f replica.Fact) bool {
					return is(f, predInGroup, s.Group.Actor, s.GroupVia)
				}},
				{"public", s.Public, func(f replica.Fact) bool {
					return is(f, predIsPublic, s.Public.Resource)
				}},
				{"support", s.Support, func(f replica.Fact) bool {
					return is(f, predHasRole, s.Support.Actor, valSupport)
				}},
			} {
				if ask(loadRef(t, tc.cfg, c.skip), c.q) {
					t.Errorf("%s: %v is still allowed without the fact its path rests on", c.name, c.q)
				}
			}
		})
	}
}

func TestSampleQueries(t *testing.T) {
	cfg := Config{Facts: 100_000, Seed: 4}
	s := MustDescribe(cfg)
	qs := s.SampleQueries(5000, 11)
	if len(qs) != 5000 {
		t.Fatalf("got %d queries, want 5000", len(qs))
	}
	again := MustDescribe(cfg).SampleQueries(5000, 11)
	for i := range qs {
		if qs[i] != again[i] {
			t.Fatalf("query %d differs between runs: %v vs %v", i, qs[i], again[i])
		}
	}
	if other := s.SampleQueries(5000, 12); other[0] == qs[0] && other[1] == qs[1] && other[2] == qs[2] {
		t.Error("seeds 11 and 12 start with the same queries")
	}
	actions := map[string][]string{TypeOrganization: OrganizationActions, TypeRepository: RepositoryActions, TypeIssue: IssueActions}
	r := loadRef(t, cfg, nil)
	allowed := 0
	for _, q := range qs {
		if !isActor(q.Actor) {
			t.Fatalf("query %v: actor is not an actor type", q)
		}
		if !has(actions[q.Resource.Type], q.Action) {
			t.Fatalf("query %v: action not declared for %s", q, q.Resource.Type)
		}
		if r.Authorize(q.Actor, q.Action, q.Resource) {
			allowed++
		}
	}
	if frac := float64(allowed) / float64(len(qs)); frac < 0.25 || frac > 0.75 {
		t.Errorf("%.0f%% of sample queries are allowed, want a mix between 25%% and 75%%", 100*frac)
	}
	t.Logf("%d of %d sample queries allowed", allowed, len(qs))
}

func TestIssueReads(t *testing.T) {
	cfg := Config{Facts: 100_000, Seed: 4}
	s := MustDescribe(cfg)
	qs := s.IssueReads(2000, 1)
	if len(qs) != 2000 {
		t.Fatalf("got %d questions, want 2000", len(qs))
	}
	again := MustDescribe(cfg).IssueReads(2000, 1)
	r := loadRef(t, cfg, nil)
	allowed := 0
	for i, q := range qs {
		if q != again[i] {
			t.Fatalf("question %d differs between runs: %v vs %v", i, q, again[i])
		}
		if q.Action != "read" || q.Resource.Type != TypeIssue || !isActor(q.Actor) {
			t.Fatalf("question %v is not a user reading an issue", q)
		}
		if r.Authorize(q.Actor, q.Action, q.Resource) {
			allowed++
		}
	}
	if frac := float64(allowed) / float64(len(qs)); frac < 0.2 || frac > 0.8 {
		t.Errorf("%.0f%% of issue reads are allowed, want a mix between 20%% and 80%%", 100*frac)
	}
	t.Logf("%d of %d issue reads allowed", allowed, len(qs))
}
