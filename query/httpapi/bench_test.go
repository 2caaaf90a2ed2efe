package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

const benchFacts = 100_000

var gitclubOnce struct {
	sync.Once
	st    *replica.State
	shape datasets.Shape
	err   error
}

// gitclubState loads the synthetic gitclub data set (seed 1) with the test
// key's token, once per test binary.
func gitclubState(tb testing.TB) (*replica.State, datasets.Shape) {
	tb.Helper()
	g := &gitclubOnce
	g.Do(func() {
		cfg := datasets.Config{Facts: benchFacts, Seed: 1}
		if g.shape, g.err = datasets.Describe(cfg); g.err != nil {
			return
		}
		l := replica.NewLoader(replica.Config{Env: "bench", Compiler: query.Compile})
		if g.err = l.SetPolicy(replica.PolicySource{Src: datasets.GitclubPolicy, Filename: datasets.PolicyFilename}); g.err != nil {
			return
		}
		if g.err = l.SetTokens([]replica.Token{keyToken(testKey)}); g.err != nil {
			return
		}
		args := make([]uint32, 0, 8)
		g.err = datasets.Generate(cfg, func(f replica.Fact) error {
			args = args[:0]
			for _, a := range f.Args {
				args = append(args, l.AddValue(a.Type, a.ID))
			}
			return l.AddFact(f.Predicate, args)
		})
		if g.err == nil {
			g.st, g.err = l.Finish(1)
		}
	})
	if g.err != nil {
		tb.Fatal(g.err)
	}
	return g.st, g.shape
}

// BenchmarkHTTPAuthorize drives POST /api/authorize over real keep-alive
// connections from 16 concurrent clients, cycling through 4096 sampled
// questions (about half allowed) on 100k gitclub facts, with API-key
// checking on. It reports requests per second and the p50/p99 latency seen
// by the client.
//
//	go test -run '^$' -bench HTTPAuthorize -benchtime 20000x ./query/httpapi/
func BenchmarkHTTPAuthorize(b *testing.B) {
	st, shape := gitclubState(b)
	qs := shape.SampleQueries(4096, 3)
	bodies := make([][]byte, len(qs))
	for i, q := range qs {
		bodies[i] = []byte(mustJSON(b, map[string]any{
			"actor_type": q.Actor.Type, "actor_id": q.Actor.ID, "action": q.Action,
			"resource_type": q.Resource.Type, "resource_id": q.Resource.ID, "context_facts": []any{}}))
	}
	for _, bc := range []struct {
		name  string
		cache int64
	}{{"cache", 0}, {"nocache", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			eng, err := query.New(st, query.Config{CacheMaxBytes: bc.cache})
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Close()
			srv, err := New(Config{Engine: eng, Registry: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			benchLoad(b, hs.URL+"/api/authorize", bodies, 16)
		})
	}
}

// benchLoad sends b.N requests from concurrency goroutines and reports
// req/s, p50-ms and p99-ms.
func benchLoad(b *testing.B, url string, bodies [][]byte, concurrency int) {
	tr := &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i%int64(len(bodies))]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+testKey)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// discardWriter is a reusable http.ResponseWriter that drops the answer.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }

// BenchmarkHandlerAuthorize measures the CPU cost of the node's handler
// chain for POST /api/authorize (path cleaning, mux, middleware, key check,
// decoding, engine, encoding, metrics) without the network, next to the
// minimal handler the pinned HTTP benchmark uses as its yardstick: what
// the node adds per request beyond what net/http costs anyway.
//
//	go test -run '^$' -bench HandlerAuthorize -benchmem ./query/httpapi/
func BenchmarkHandlerAuthorize(b *testing.B) {
	st, shape := gitclubState(b)
	qs := shape.SampleQueries(4096, 3)
	bodies := make([][]byte, len(qs))
	for i, q := range qs {
		bodies[i] = []byte(mustJSON(b, map[string]any{
			"actor_type": q.Actor.Type, "actor_id": q.Actor.ID, "action": q.Action,
			"resource_type": q.Resource.Type, "resource_id": q.Resource.ID, "context_facts": []any{}}))
	}
	minimal := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"allowed":true}`))
	})
	for _, bc := range []struct {
		name  string
		cache int64
	}{{"minimal", 0}, {"cache", 0}, {"nocache", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			h := http.Handler(minimal)
			if bc.name != "minimal" {
				eng, err := query.New(st, query.Config{CacheMaxBytes: bc.cache})
				if err != nil {
					b.Fatal(err)
				}
				defer eng.Close()
				srv, err := New(Config{Engine: eng, Registry: prometheus.NewRegistry()})
				if err != nil {
					b.Fatal(err)
				}
				h = srv.Handler()
			}
			rd := bytes.NewReader(nil)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				body := bodies[i%len(bodies)]
				rd.Reset(body)
				req := httptest.NewRequest(http.MethodPost, "/api/authorize", io.NopCloser(rd))
				req.ContentLength = int64(len(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+testKey)
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.status != 0 && w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}
