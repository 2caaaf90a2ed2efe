package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/httpapi"
)

// httpConcurrency are the closed-loop levels of the http scenario.
var httpConcurrency = []int{1, 4, 16, 64}

// openLoopWorkers bounds the requests in flight of the open-loop run.
const openLoopWorkers = 64

// request is one POST /api/authorize body and its expected answer.
type request struct {
	body []byte
	want bool
}

// http serves the Check API as a node does (httpapi with API-key checking
// and the default answer cache) on 127.0.0.1:0 and drives POST
// /api/authorize with the 4,096-question mix from a Go keep-alive client in
// the same process, so client and server share the 2 cores (the
// in-process figures, http_authorize_*); then it runs the pinned
// comparison with the minimal handler (http_pinned_*, pinned.go), the
// figures DESIGN.md §11 judges.
func (b *bench) http(ctx context.Context) ([]Result, error) {
	st, err := b.loaded()
	if err != nil {
		return nil, err
	}
	e, err := query.New(st, query.Config{})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	api, err := httpapi.New(httpapi.Config{Engine: e, Registry: prometheus.NewRegistry(), Auth: httpapi.AuthTokens})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := httpapi.NewHTTPServer(ln.Addr().String(), api.Handler())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}()
	reqs, err := b.httpRequests(e, b.mixedChecks())
	if err != nil {
		return nil, err
	}
	url := "http://" + ln.Addr().String() + "/api/authorize"

	var out []Result
	peak := newResult("http_authorize_peak", b.facts)
	for _, c := range httpConcurrency {
		r, err := b.closedLoop(ctx, url, reqs, c)
		out = append(out, r)
		if err != nil {
			return out, err
		}
		if r.PerSecond > peak.PerSecond {
			peak.PerSecond, peak.Concurrency = r.PerSecond, c
		}
	}
	peak.metric("rate", peak.PerSecond, "req/s")
	out = append(out, peak)

	r, err := b.openLoop(ctx, url, reqs, peak.PerSecond/2)
	out = append(out, r)
	if err != nil {
		return out, err
	}
	issueReads, err := b.httpRequests(e, b.issueReadChecks())
	if err != nil {
		return out, err
	}
	pinned, err := b.httpPinned(ctx, []questionSet{{"", reqs}, {"_issue_read", issueReads}}) // pinned.go
	return append(out, pinned...), err
}

// httpRequests encodes checks with the answers the engine gives in
// process.
func (b *bench) httpRequests(e *query.Engine, checks []query.Check) ([]request, error) {
	var reqs []request
	for _, c := range checks {
		want, _, err := e.Authorize(c)
		if err != nil {
			return nil, err
		}
		body, err := json.Marshal(map[string]any{
			"actor_type": c.Actor.Type, "actor_id": c.Actor.ID, "action": c.Action,
			"resource_type": c.Resource.Type, "resource_id": c.Resource.ID, "context_facts": []any{}})
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, request{body: body, want: want})
	}
	return reqs, nil
}

// httpClient sends requests over up to conns keep-alive connections.
type httpClient struct {
	c   *http.Client
	url string
	key string
}

func (b *bench) newClient(url string, conns int) *httpClient {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute, DisableCompression: true}
	return &httpClient{c: &http.Client{Transport: tr, Timeout: 30 * time.Second}, url: url, key: b.key}
}

func (h *httpClient) close() { h.c.CloseIdleConnections() }

var allowedTrue = []byte(`"allowed":true`)

// do sends one request and checks its status and answer.
func (h *httpClient) do(rq request) error {
	req, err := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(rq.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.key)
	resp, err := h.c.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	if got := bytes.Contains(body, allowedTrue); got != rq.want {
		return fmt.Errorf("answer %s, want allowed %v", bytes.TrimSpace(body), rq.want)
	}
	return nil
}

// closedLoop runs conc workers that each send their next request when the
// previous answer arrives, for warm-up plus duration; requests that start
// during the warm-up or end after the duration are not counted.
func (b *bench) closedLoop(ctx context.Context, url string, reqs []request, conc int) (Result, error) {
	cl := b.newClient(url, conc)
	defer cl.close()
	start := time.Now()
	from, until := start.Add(b.c.warmup), start.Add(b.c.warmup+b.c.duration)
	lats := make([][]time.Duration, conc)
	var errs errCounter
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i += conc {
				t0 := time.Now()
				if t0.After(until) {
					return
				}
				err := cl.do(reqs[i%len(reqs)])
				t1 := time.Now()
				errs.add(err)
				if err == nil && t0.After(from) && t1.Before(until) {
					lats[w] = append(lats[w], t1.Sub(t0))
				}
			}
		})
	}
	wg.Wait()
	var lat []time.Duration
	for _, l := range lats {
		lat = append(lat, l...)
	}
	r := newResult("http_authorize_mixed", b.facts)
	r.Concurrency, r.DurationSeconds, r.Errors = conc, b.c.duration.Seconds(), errs.n()
	summarize(&r, lat)
	r.PerSecond = float64(len(lat)) / b.c.duration.Seconds()
	r.metric("rate", r.PerSecond, "req/s")
	r.latencyMetrics()
	b.logf("http c=%d: %.0f req/s, p50 %v p99 %v, %d errors", conc, r.PerSecond,
		time.Duration(r.P50NS), time.Duration(r.P99NS), r.Errors)
	return r, errs.err(ctx)
}

// openLoop sends requests at a fixed rate whatever the answers' latency:
// request i is due at start + i/rate, and its latency counts from when it
// was due, so queueing behind slow answers is measured (no coordinated
// omission). Requests due during the warm-up are not counted. When the
// server cannot keep up, the achieved rate shows it.
func (b *bench) openLoop(ctx context.Context, url string, reqs []request, rate float64) (Result, error) {
	r := newResult("http_authorize_half_rate", b.facts)
	if rate < 1 {
		return r, errors.New("no peak rate measured")
	}
	cl := b.newClient(url, openLoopWorkers)
	defer cl.close()
	interval := time.Duration(float64(time.Second) / rate)
	total := int64((b.c.warmup + b.c.duration) / interval)
	skip := int64(b.c.warmup / interval)
	lats := make([][]time.Duration, openLoopWorkers)
	service := make([][]time.Duration, openLoopWorkers)
	var next, sent atomic.Int64
	var errs errCounter
	var wg sync.WaitGroup
	start := time.Now()
	// When the server falls behind, stop at twice the planned time.
	deadline := start.Add(2 * (b.c.warmup + b.c.duration))
	for w := range openLoopWorkers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= total || time.Now().After(deadline) {
					return
				}
				due := start.Add(time.Duration(i) * interval)
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				t0 := time.Now()
				err := cl.do(reqs[i%int64(len(reqs))])
				t1 := time.Now()
				errs.add(err)
				sent.Add(1)
				if err == nil && i >= skip {
					lats[w] = append(lats[w], t1.Sub(due))
					service[w] = append(service[w], t1.Sub(t0))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var lat, svc []time.Duration
	for w := range lats {
		lat, svc = append(lat, lats[w]...), append(svc, service[w]...)
	}
	r.Concurrency, r.DurationSeconds, r.Errors = openLoopWorkers, b.c.duration.Seconds(), errs.n()
	var s Result
	summarize(&s, svc)
	summarize(&r, lat)
	r.PerSecond = rate
	r.Detail["achieved_per_second"] = float64(sent.Load()) / elapsed.Seconds()
	r.Detail["service_p50_ns"], r.Detail["service_p99_ns"] = float64(s.P50NS), float64(s.P99NS)
	r.metric("offered rate", rate, "req/s")
	r.metric("achieved rate", r.Detail["achieved_per_second"], "req/s")
	r.latencyMetrics()
	b.logf("http open loop at %.0f req/s: achieved %.0f, p50 %v p99 %v (service p99 %v), %d errors", rate,
		r.Detail["achieved_per_second"], time.Duration(r.P50NS), time.Duration(r.P99NS), time.Duration(s.P99NS), r.Errors)
	return r, errs.err(ctx)
}

// errCounter counts failed requests and keeps the first error.
type errCounter struct {
	mu    sync.Mutex
	count int
	first error
}

func (c *errCounter) add(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count++
	if c.first == nil {
		c.first = err
	}
}

func (c *errCounter) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// err is the run's error: ctx's, or the first failed request's.
func (c *errCounter) err(ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first != nil {
		return fmt.Errorf("%d requests failed, the first: %w", c.count, c.first)
	}
	return nil
}
