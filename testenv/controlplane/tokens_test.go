package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

func sha(k string) string {
	s := sha256.Sum256([]byte(k))
	return hex.EncodeToString(s[:])
}

func TestTokensEvents(t *testing.T) {
	keys := map[string]string{"alpha-key-1": AccessWrite, "beta-key-2": AccessRead}
	cp := Start(t, Config{Keys: keys})
	if cp.Seq() != 1 {
		t.Fatalf("seq %d on a fresh start, want 1 (the tokens event)", cp.Seq())
	}
	tokens := func() map[string]string {
		v := cp.Server().State().Acquire()
		defer v.Release()
		out := map[string]string{}
		for _, tok := range v.Tokens() {
			out[tok.SHA256] = tok.Access
		}
		return out
	}
	if got := tokens(); len(got) != 2 || got[sha("alpha-key-1")] != AccessWrite || got[sha("beta-key-2")] != AccessRead {
		t.Fatalf("tokens %v", got)
	}
	must(t).Seq(cp.Client.SetPolicy(testPolicy))

	// Same keys: no new event.
	seq := cp.Seq()
	cp.Restart()
	if cp.Seq() != seq {
		t.Fatalf("restart with the same keys appended an event (seq %d -> %d)", seq, cp.Seq())
	}

	// New keys: one tokens event; the old key stops working, for writes and
	// for the Check API alike.
	cp.RestartWith(func(c *Config) { c.Keys = map[string]string{"gamma-key-3": AccessWrite} })
	if cp.Seq() != seq+1 {
		t.Fatalf("restart with new keys: seq %d, want %d", cp.Seq(), seq+1)
	}
	if got := tokens(); len(got) != 1 || got[sha("gamma-key-3")] != AccessWrite {
		t.Fatalf("tokens %v", got)
	}
	authz := map[string]any{"actor_type": "User", "actor_id": "a", "action": "read", "resource_type": "Organization", "resource_id": "o", "context_facts": []any{}}
	wantStatus(t, do(t, cp, "alpha-key-1", "POST", "/api/batch", `[]`), 401, "")
	wantStatus(t, do(t, cp, "alpha-key-1", "POST", "/api/authorize", authz), 401, "")
	wantStatus(t, do(t, cp, "gamma-key-3", "POST", "/api/batch", `[]`), 200, "")
	wantStatus(t, do(t, cp, "gamma-key-3", "POST", "/api/authorize", authz), 200, "")

	// Keys never reach the log, only their hashes.
	data, err := os.ReadFile(filepath.Join(cp.DataDir(), logFileName))
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys {
		if strings.Contains(string(data), k) {
			t.Fatalf("the event log contains the key %q", k)
		}
	}
	if !strings.Contains(string(data), sha("gamma-key-3")) {
		t.Fatal("the event log lacks the key's hash")
	}
	_ = replica.KindTokens
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"no env", Config{DataDir: "d", Keys: map[string]string{"k": "read"}}, "env"},
		{"bad env", Config{Env: "a b", DataDir: "d", Keys: map[string]string{"k": "read"}}, "env"},
		{"no dir", Config{Env: "e", Keys: map[string]string{"k": "read"}}, "data dir"},
		{"no keys", Config{Env: "e", DataDir: "d"}, "API key"},
		{"bad access", Config{Env: "e", DataDir: "d", Keys: map[string]string{"k": "admin"}}, "access"},
		{"kafka without brokers", Config{Env: "e", DataDir: "d", Keys: map[string]string{"k": "read"}, Kafka: &KafkaConfig{}}, "kafka"},
		{"nats without url", Config{Env: "e", DataDir: "d", Keys: map[string]string{"k": "read"}, NATS: &NATSConfig{}}, "nats"},
		{"negative retain", Config{Env: "e", DataDir: "d", Keys: map[string]string{"k": "read"}, Retain: -1}, "retain"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tc.msg)
			}
		})
	}
	if err := (Config{Env: "e", DataDir: "d", Keys: map[string]string{"k": "read"}}).Validate(); err != nil {
		t.Fatal(err)
	}
	if got := DefaultStream("my.env-1"); got != "OUTPOST_MY_ENV-1" {
		t.Fatalf("DefaultStream = %q", got)
	}
}

// TestNoGoroutineLeak starts and stops control planes and checks that the
// goroutines they started end.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		cp := startWithPolicy(t, Config{CheckpointEvery: 2})
		writeSome(t, cp, 3)
		cp.Restart()
		cp.Stop()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSeedGitclub(t *testing.T) {
	cp := Start(t, Config{})
	seq := cp.SeedGitclub(5000)
	st := must2[Status](t)(cp.ReadClient.Status("test"))
	if st.Facts != 5000 || st.Seq != seq {
		t.Fatalf("after seeding: %+v (last write seq %d)", st, seq)
	}
	shape := datasets.MustDescribe(datasets.Config{Facts: 5000, Seed: 1})
	q := shape.Inherit
	res := do(t, cp, TestReadKey, "POST", "/api/authorize", map[string]any{
		"actor_type": q.Actor.Type, "actor_id": q.Actor.ID, "action": q.Action,
		"resource_type": q.Resource.Type, "resource_id": q.Resource.ID, "context_facts": []any{},
	})
	wantStatus(t, res, 200, `"allowed":true`)
}
