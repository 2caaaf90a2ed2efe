package osoapi

import (
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

// A node on the oso-api source follows a control plane through policy
// changes, inserts, wildcard deletes and clears, and an unchanged upstream
// makes no events.
func TestFollowsControlPlane(t *testing.T) {
	cp := controlplane.Start(t, controlplane.Config{})
	c := cp.Client
	if _, err := c.SetPolicyFile(testPolicy, "main.polar"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Insert(fact("has_role", user("ana"), str("admin"), org("acme")),
		fact("has_relation", repo("anvil"), str("parent"), org("acme"))); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, cp.URL, cp.ReadKey, nil, nil)
	if got, want := contentDigest(n.engine.State()), contentDigest(cp.Server().State()); got != want {
		t.Fatalf("after bootstrap: digest %s, want %s", got, want)
	}

	steps := []struct {
		name  string
		write func() error
	}{
		{"insert", func() error {
			_, err := c.Insert(fact("has_role", user("bob"), str("member"), org("acme")), fact("is_public", repo("pub")))
			return err
		}},
		{"wildcard delete", func() error {
			_, err := c.Delete(replica.Pattern{Predicate: "has_role", Args: []replica.PatternArg{replica.Any(), replica.Exact(str("admin")), replica.AnyOf("Org")}})
			return err
		}},
		{"policy change", func() error {
			_, err := c.SetPolicyFile(strings.Replace(testPolicy, `"write" if "admin";`, `"write" if "member";`, 1), "v2.polar")
			return err
		}},
		{"policy and facts together", func() error {
			if _, err := c.SetPolicyFile(testPolicy, "v3.polar"); err != nil {
				return err
			}
			_, err := c.Insert(fact("has_role", user("cy"), str("admin"), org("beta")))
			return err
		}},
		{"clear", func() error { _, err := c.Clear(); return err }},
		{"insert after clear", func() error {
			_, err := c.Insert(fact("has_role", user("dee"), str("member"), org("acme")))
			return err
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			rev := n.engine.State().Revision()
			if err := s.write(); err != nil {
				t.Fatal(err)
			}
			converged(t, n, cp)
			if got := n.engine.State().Revision(); got != rev+1 {
				t.Errorf("revision %d -> %d: want one event per refresh that changed something", rev, got)
			}
		})
	}

	// No change upstream: refreshes go on, no event is made.
	rev := n.engine.State().Revision()
	before := n.src.Status()["refreshes"].(uint64)
	waitFor(t, "three more refreshes", func() bool { return n.src.Status()["refreshes"].(uint64) >= before+3 })
	if got := n.engine.State().Revision(); got != rev {
		t.Errorf("revision moved from %d to %d without an upstream change", rev, got)
	}
	if st := n.runner.Status(); st["state"] != "caught-up" {
		t.Errorf("ingest state %v, want caught-up", st["state"])
	}
}

// Every kind of upstream failure leaves the served state as it was, shows
// in Health, and the node catches up once the upstream answers again.
func TestFailuresLeaveStateUntouched(t *testing.T) {
	cp := controlplane.Start(t, controlplane.Config{})
	if _, err := cp.Client.SetPolicyFile(testPolicy, "main.polar"); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Client.Insert(fact("has_role", user("ana"), str("admin"), org("acme"))); err != nil {
		t.Fatal(err)
	}
	f := startFaulty(t, cp.Server().Handler())
	n := startNode(t, f.URL, cp.ReadKey, nil, func(c *Config) { c.Timeout = 300 * time.Millisecond })

	for i, mode := range []string{"401", "429", "500", "hang", "truncate", "garbage"} {
		t.Run(mode, func(t *testing.T) {
			f.mode.Store(mode)
			f.all.Store(mode == "401" || mode == "500")
			served := contentDigest(n.engine.State())
			rev := n.engine.State().Revision()
			failures := n.src.Health().Failures
			// a write the node must not see while the upstream fails
			if _, err := cp.Client.Insert(fact("has_role", user("u"+string(rune('a'+i))), str("member"), org("acme"))); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "two failed refreshes", func() bool { return n.src.Health().Failures >= failures+2 })
			if h := n.src.Health(); !h.Failing || h.LastError == "" {
				t.Errorf("health %+v: want failing with an error", h)
			}
			if got := contentDigest(n.engine.State()); got != served || n.engine.State().Revision() != rev {
				t.Fatalf("the served state changed while the upstream failed (%s)", mode)
			}
			if st := n.runner.Status(); st["state"] != "failing" {
				t.Errorf("ingest state %v, want failing", st["state"])
			}
			f.mode.Store("")
			converged(t, n, cp)
			waitFor(t, "recovery", func() bool { return !n.src.Health().Failing })
		})
	}
}

// A plan's result cap (the control plane's FactsLimit) fails the refresh
// with the upstream's message; nothing partial is applied.
func TestResultLimit(t *testing.T) {
	cp := controlplane.Start(t, controlplane.Config{FactsLimit: 2})
	if _, err := cp.Client.SetPolicyFile(testPolicy, "main.polar"); err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Client.Insert(fact("has_role", user("ana"), str("admin"), org("acme"))); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, cp.URL, cp.ReadKey, nil, nil)
	served := contentDigest(n.engine.State())
	if _, err := cp.Client.Insert(fact("has_role", user("bob"), str("admin"), org("acme")),
		fact("has_role", user("cy"), str("admin"), org("acme")), fact("is_public", repo("r"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a failed refresh", func() bool { return n.src.Health().Failing })
	if got := n.src.Health().LastError; !strings.Contains(got, "400") || !strings.Contains(got, "more than 2 facts") {
		t.Errorf("last error %q: want the upstream's 400 and its message", got)
	}
	if contentDigest(n.engine.State()) != served {
		t.Error("a refresh that hit the limit changed the served state")
	}
	// Bootstrap meets the same error.
	_, err := startBootstrapErr(t, cp.URL, cp.ReadKey)
	if err == nil || !strings.Contains(err.Error(), "more than 2 facts") {
		t.Errorf("bootstrap err = %v, want the limit error", err)
	}
}

func startBootstrapErr(t *testing.T, url, token string) (*replica.State, error) {
	t.Helper()
	src, err := New(Config{URL: url, Token: token, Replica: replica.Config{Env: "test", Compiler: compileForTest}})
	if err != nil {
		t.Fatal(err)
	}
	return src.Bootstrap(t.Context())
}

// A 429's Retry-After spaces the retries at least that much, although the
// backoff alone would retry within 100 ms.
func TestRetryAfterHonoured(t *testing.T) {
	cp := controlplane.Start(t, controlplane.Config{})
	if _, err := cp.Client.SetPolicyFile(testPolicy, "main.polar"); err != nil {
		t.Fatal(err)
	}
	f := startFaulty(t, cp.Server().Handler())
	n := startNode(t, f.URL, cp.ReadKey, nil, nil)
	f.all.Store(true)
	f.mode.Store("429slow")
	waitFor(t, "the first 429", func() bool { return f.hits.Load() >= 1 })
	start := f.hits.Load()
	time.Sleep(1500 * time.Millisecond)
	if got := f.hits.Load() - start; got > 2 {
		t.Errorf("%d requests within 1.5 s of a 429 with Retry-After: 1", got)
	}
	if h := n.src.Health(); !h.Failing || !strings.Contains(h.LastError, "429") || !strings.Contains(h.LastError, "retry after 1s") {
		t.Errorf("health %+v: want failing with the 429 and its Retry-After", h)
	}
	f.mode.Store("")
	waitFor(t, "recovery", func() bool { return !n.src.Health().Failing })
}
