package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-authz/outpost/bench/opa/gitclub"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// request is a prepared POST body and the answer it must get.
type request struct {
	body []byte
	want bool
}

// benchHTTP starts OPA's REST server in this process over the engine's store
// and loads POST /v1/data/gitclub/allow from cfg.httpConc keep-alive
// connections: first the mixed sample, then the inheritance question alone.
func benchHTTP(ctx context.Context, cfg config, e *gitclub.Engine, shape datasets.Shape, sample []question) ([]Result, error) {
	srv, err := gitclub.StartServer(ctx, e, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(sctx); err != nil {
			logf("close opa server: %v", err)
		}
	}()
	url := "http://" + srv.Addr + gitclub.AllowPath

	mixed := make([]request, len(sample))
	for i, q := range sample {
		b, err := json.Marshal(map[string]any{"input": q.input})
		if err != nil {
			return nil, err
		}
		mixed[i] = request{body: b, want: q.want}
	}
	inheritBody, err := json.Marshal(map[string]any{"input": gitclub.Input(shape.Inherit)})
	if err != nil {
		return nil, err
	}

	var results []Result
	for _, s := range []struct {
		name string
		reqs []request
	}{
		{"http_authorize_mixed", mixed},
		{"http_authorize_inherit", []request{{body: inheritBody, want: true}}},
	} {
		r, err := bestOf(cfg.runs, byThroughput, func() (Result, error) {
			return loadHTTP(ctx, url, s.reqs, cfg.httpConc, cfg.httpWarmup, cfg.httpDuration)
		})
		if err != nil {
			return results, fmt.Errorf("%s: %w", s.name, err)
		}
		r.Scenario = s.name
		logf("%s: %.0f req/s, p50 %v p99 %v, %d errors", s.name, r.PerSecond,
			time.Duration(r.P50NS), time.Duration(r.P99NS), r.Errors)
		results = append(results, r)
		if r.Errors > 0 {
			return results, fmt.Errorf("%s: %d failed or wrong responses", s.name, r.Errors)
		}
	}
	return results, nil
}

// loadHTTP runs conc workers, each with its own keep-alive connection,
// sending reqs round-robin back to back (a closed loop: a worker sends its
// next request when the previous answer arrives). Requests finished within
// the warm-up are not counted.
func loadHTTP(ctx context.Context, url string, reqs []request, conc int, warmup, duration time.Duration) (Result, error) {
	tr := &http.Transport{
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		MaxConnsPerHost:     conc,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	begin := time.Now()
	measureFrom := begin.Add(warmup)
	var cpuAtMeasure atomic.Int64
	cpuTimer := time.AfterFunc(warmup, func() { cpuAtMeasure.Store(int64(cpuTime())) })
	defer cpuTimer.Stop()
	end := measureFrom.Add(duration)
	lats := make([][]time.Duration, conc)
	errs := make([]int, conc)
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			buf := make([]byte, 0, 64)
			for i := w; ; i += conc {
				if ctx.Err() != nil {
					return
				}
				start := time.Now()
				if !start.Before(end) {
					return
				}
				req := reqs[i%len(reqs)]
				got, err := post(ctx, client, url, req.body, &buf)
				done := time.Now()
				if err == nil && got != req.want {
					err = fmt.Errorf("answered %v, want %v: %s", got, req.want, req.body)
				}
				if start.Before(measureFrom) {
					continue
				}
				if err != nil {
					errs[w]++
					once.Do(func() { firstErr = err })
					continue
				}
				lats[w] = append(lats[w], done.Sub(start))
			}
		})
	}
	wg.Wait()
	cpu := cpuTime() - time.Duration(cpuAtMeasure.Load())
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}

	var all []time.Duration
	nerr := 0
	for w := range conc {
		all = append(all, lats[w]...)
		nerr += errs[w]
	}
	if len(all) == 0 {
		return Result{}, fmt.Errorf("no successful requests: %v", firstErr)
	}
	if firstErr != nil {
		logf("first HTTP error: %v", firstErr)
	}
	r := latencyResult(all)
	r.PerSecond = float64(len(all)) / duration.Seconds()
	r.Concurrency = conc
	r.DurationSeconds = duration.Seconds()
	r.Errors = nerr
	r.Detail = map[string]float64{
		// CPU this process (server and client) used per second of the
		// measured window: 2.0 means both cores of this machine.
		"process_cpu_cores":     cpu.Seconds() / time.Since(measureFrom).Seconds(),
		"process_cpu_ns_per_op": float64(cpu.Nanoseconds()) / float64(len(all)),
		"loadavg_1m":            loadAvg(),
	}
	return r, nil
}

var (
	resultTrue  = []byte(`"result":true`)
	resultFalse = []byte(`"result":false`)
)

// post sends one decision request and reports the boolean result.
func post(ctx context.Context, client *http.Client, url string, body []byte, buf *[]byte) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	b := bytes.NewBuffer((*buf)[:0])
	_, err = io.Copy(b, resp.Body)
	resp.Body.Close()
	*buf = b.Bytes()
	if err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("status %d: %s", resp.StatusCode, *buf)
	}
	switch {
	case bytes.Contains(*buf, resultTrue):
		return true, nil
	case bytes.Contains(*buf, resultFalse):
		return false, nil
	}
	return false, fmt.Errorf("no boolean result in %s", *buf)
}
