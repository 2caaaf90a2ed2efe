package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"slices"
	"testing"

	"github.com/outpost-authz/outpost/replica"
)

// goldenSHA256 pins the stream of Config{Facts: 10_000, Seed: 1}. Data sets
// must stay reproducible across versions; if a deliberate change to the
// generator alters them, update this value and say so in the change.
const goldenSHA256 = "c145bc21d31ca16b26784230a4590b0df41439ed355afd297ff8885e89f078a9"

// hashStream hashes every fact of the stream, predicate and args, with
// separators that cannot occur in generated ids.
func hashStream(t testing.TB, cfg Config) (string, int64) {
	t.Helper()
	h := sha256.New()
	var n int64
	if err := Generate(cfg, func(f replica.Fact) error {
		writeFact(h, f)
		n++
		return nil
	}); err != nil {
		t.Fatalf("generate %+v: %v", cfg, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

func writeFact(h hash.Hash, f replica.Fact) {
	h.Write([]byte(f.Predicate))
	for _, a := range f.Args {
		h.Write([]byte{0})
		h.Write([]byte(a.Type))
		h.Write([]byte{1})
		h.Write([]byte(a.ID))
	}
	h.Write([]byte{'\n'})
}

func TestGenerateDeterministic(t *testing.T) {
	a, _ := hashStream(t, Config{Facts: 100_000, Seed: 7})
	b, _ := hashStream(t, Config{Facts: 100_000, Seed: 7})
	if a != b {
		t.Fatalf("same config, different streams: %s vs %s", a, b)
	}
	if c, _ := hashStream(t, Config{Facts: 100_000, Seed: 8}); c == a {
		t.Fatalf("seeds 7 and 8 gave the same stream %s", a)
	}
	if got, _ := hashStream(t, Config{Facts: 10_000, Seed: 1}); got != goldenSHA256 {
		t.Errorf("stream of Config{Facts: 10000, Seed: 1} has SHA-256 %s, want %s (the generator's output changed)", got, goldenSHA256)
	}
}

func TestGenerateSize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		facts int
		short bool
	}{
		{"min", MinFacts, true},
		{"10k", 10_000, true},
		{"100k", 100_000, true},
		{"1M", 1_000_000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && !tc.short {
				t.Skip("skipped with -short")
			}
			for _, seed := range []int64{0, 1, 42} {
				cfg := Config{Facts: tc.facts, Seed: seed}
				s, err := Describe(cfg)
				if err != nil {
					t.Fatal(err)
				}
				got := countStream(t, cfg)
				if total := got.Total(); total != int64(tc.facts) || s.Facts != int64(tc.facts) {
					t.Errorf("seed %d: generated %d facts, Describe says %d, want %d", seed, total, s.Facts, tc.facts)
				}
				if got != s.Counts {
					t.Errorf("seed %d: generated counts %+v, Describe says %+v", seed, got, s.Counts)
				}
			}
		})
	}
}

// countStream classifies every generated fact into Counts.
func countStream(t testing.TB, cfg Config) Counts {
	t.Helper()
	var c Counts
	err := Generate(cfg, func(f replica.Fact) error {
		a := f.Args
		switch {
		case f.Predicate == predHasRole && len(a) == 2:
			c.GlobalRoles++
		case f.Predicate == predHasRole && a[2].Type == TypeOrganization:
			c.OrgRoles++
		case f.Predicate == predHasRole && a[0].Type == TypeGroup:
			c.GroupRepoRoles++
		case f.Predicate == predHasRole:
			c.RepoRoles++
		case f.Predicate == predInGroup:
			c.GroupMembers++
		case f.Predicate == predIsPublic:
			c.PublicRepos++
		case f.Predicate == predHasRelation && a[1].ID == "organization":
			c.RepoOrgs++
		case f.Predicate == predHasRelation && a[1].ID == "repository":
			c.IssueRepos++
		case f.Predicate == predHasRelation && a[1].ID == "creator":
			c.IssueCreators++
		default:
			t.Fatalf("unexpected fact %s", f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGenerateFactsAreValid checks that facts are unique, canonical and
// typed as GitclubPolicy expects.
func TestGenerateFactsAreValid(t *testing.T) {
	seen := map[string]bool{}
	types := map[string]bool{TypeUser: true, TypeGroup: true, TypeOrganization: true, TypeRepository: true, TypeIssue: true, TypeString: true}
	err := Generate(Config{Facts: 100_000, Seed: 3}, func(f replica.Fact) error {
		key := f.String()
		if seen[key] {
			t.Fatalf("duplicate fact %s", key)
		}
		seen[key] = true
		for _, a := range f.Args {
			if c, err := replica.Canonical(a); err != nil || c != a {
				t.Fatalf("fact %s: argument %v is not canonical: %v", f, a, err)
			}
			if !types[a.Type] {
				t.Fatalf("fact %s: unexpected type %s", f, a.Type)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestGenerateStopsOnError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := Generate(Config{Facts: 10_000}, func(replica.Fact) error {
		n++
		if n == 123 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 123 {
		t.Fatalf("got %v after %d facts, want the emit error after 123", err, n)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero means default", Config{}, true},
		{"min", Config{Facts: MinFacts}, true},
		{"max", Config{Facts: MaxFacts}, true},
		{"too small", Config{Facts: MinFacts - 1}, false},
		{"too big", Config{Facts: MaxFacts + 1}, false},
		{"negative", Config{Facts: -5}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if err := Generate(Config{Facts: 10}, func(replica.Fact) error { return nil }); err == nil {
		t.Fatal("Generate accepted 10 facts")
	}
}

func TestIDs(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{OrgID(123), "org-000123"},
		{RepoID(12345), "repo-0012345"},
		{IssueID(123456), "issue-00123456"},
		{UserID(1234), "user-0001234"},
		{UserID(0), "user-0000000"},
		{GroupID(99), "group-000099"},
		{OrgID(1234567), "org-1234567"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestIDsFitWidthAtMaxFacts checks that ids keep their width, and so their
// order, at the largest size.
func TestIDsFitWidthAtMaxFacts(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short")
	}
	s, err := Describe(Config{Facts: MaxFacts})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		last string
		want int
	}{
		{"org", OrgID(s.Orgs - 1), len("org-") + orgWidth},
		{"repo", RepoID(s.Repos - 1), len("repo-") + repoWidth},
		{"issue", IssueID(s.Issues - 1), len("issue-") + issueWidth},
		{"user", UserID(s.Users - 1 + 1000), len("user-") + userWidth}, // SampleQueries asks about up to 1000 unknown users
		{"group", GroupID(s.Groups - 1), len("group-") + groupWidth},
	} {
		if len(tc.last) != tc.want {
			t.Errorf("last %s id %q is wider than %d", tc.name, tc.last, tc.want)
		}
	}
}

func TestIDsSortInStreamOrder(t *testing.T) {
	var repos, issues []string
	err := Generate(Config{Facts: 20_000, Seed: 5}, func(f replica.Fact) error {
		if f.Predicate == predHasRelation {
			switch f.Args[1].ID {
			case "organization":
				repos = append(repos, f.Args[0].ID)
			case "repository":
				issues = append(issues, f.Args[0].ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(repos) || !slices.IsSorted(issues) {
		t.Fatal("repository or issue ids are not emitted in sorted order")
	}
}
