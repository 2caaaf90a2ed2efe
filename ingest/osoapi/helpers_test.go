package osoapi

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

const testPolicy = `actor User {}
resource Org {
  roles = ["admin", "member"];
  permissions = ["read", "write"];
  "read" if "member";
  "write" if "admin";
  "member" if "admin";
}
resource Repo {
  permissions = ["read"];
  relations = { parent: Org };
  "read" if "member" on "parent";
  "read" if is_public(resource);
}
has_permission(_: User, "read", r: Repo) if is_public(r);
`

func user(id string) replica.Value { return replica.Value{Type: "User", ID: id} }
func org(id string) replica.Value  { return replica.Value{Type: "Org", ID: id} }
func repo(id string) replica.Value { return replica.Value{Type: "Repo", ID: id} }
func str(s string) replica.Value   { return replica.Value{Type: "String", ID: s} }

func fact(pred string, args ...replica.Value) replica.Fact {
	return replica.Fact{Predicate: pred, Args: args}
}

// contentDigest is ContentDigest of a state.
func contentDigest(st *replica.State) string {
	v := st.Acquire()
	defer v.Release()
	return ContentDigest(v)
}

// node is an engine fed by a Source through a Runner.
type node struct {
	engine *query.Engine
	src    *Source
	runner *ingest.Runner
}

// startNode bootstraps from url and runs ingest until the test ends.
func startNode(t *testing.T, url, token string, hc *http.Client, tune func(*Config)) *node {
	t.Helper()
	engine, err := query.New(replica.New(replica.Config{Env: "test", Compiler: query.Compile}), query.Config{CacheMaxBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	cfg := Config{URL: url, Token: token, HTTPClient: hc,
		Replica:  replica.Config{Env: "test", Compiler: query.Compile},
		State:    engine.State,
		Interval: 30 * time.Millisecond, Timeout: 2 * time.Second,
		Backoff: ingest.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}}
	if tune != nil {
		tune(&cfg)
	}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := src.Bootstrap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	engine.SetState(st)
	runner, err := ingest.NewRunner(ingest.RunnerConfig{Source: src, Engine: engine})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := runner.Run(ctx, replica.Position{Seq: st.Revision(), KafkaOffset: -1}); err != nil {
			t.Errorf("runner: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &node{engine: engine, src: src, runner: runner}
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// converged waits until the node holds the control plane's content.
func converged(t *testing.T, n *node, cp *controlplane.Running) {
	t.Helper()
	want := contentDigest(cp.Server().State())
	waitFor(t, "the node to reach the control plane's digest", func() bool {
		return contentDigest(n.engine.State()) == want
	})
}

// faulty is a real HTTP server in front of a control plane whose answers
// to /api/facts (or every path, with all) a mode can spoil.
type faulty struct {
	URL  string
	mode atomic.Value // string
	all  atomic.Bool
	hits atomic.Int64 // spoiled answers
}

func startFaulty(t *testing.T, upstream http.Handler) *faulty {
	t.Helper()
	f := &faulty{}
	f.mode.Store("")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := f.mode.Load().(string)
		if mode == "" || (!f.all.Load() && r.URL.Path != "/api/facts") {
			upstream.ServeHTTP(w, r)
			return
		}
		f.hits.Add(1)
		switch mode {
		case "401":
			http.Error(w, `{"message":"unknown API key"}`, http.StatusUnauthorized)
		case "429slow":
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"message":"rate limited"}`, http.StatusTooManyRequests)
		case "429":
			w.Header().Set("Retry-After", "0.05")
			http.Error(w, `{"message":"rate limited"}`, http.StatusTooManyRequests)
		case "500":
			http.Error(w, `{"message":"internal error"}`, http.StatusInternalServerError)
		case "hang":
			<-r.Context().Done()
		case "truncate", "garbage":
			rec := httptest.NewRecorder()
			upstream.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Type", "application/json")
			if mode == "garbage" {
				w.Write([]byte(`[{"predicate": 7}]`))
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:len(body)*2/3])
			w.(http.Flusher).Flush()
			// the connection closes without the rest
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
				}
			}
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	f.URL = "http://" + ln.Addr().String()
	return f
}

var compileForTest = query.Compile
