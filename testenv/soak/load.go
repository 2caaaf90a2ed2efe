package soak

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-authz/outpost/testenv/datasets"
)

const env = "soak"

func randHex() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// check is one question and the answer the node gave before any write.
type check struct {
	path string // /api/authorize, /api/actions or /api/list
	body []byte
	want string // normalised answer (see answer)
}

// buildChecks makes the mix: about 95% authorize, 3% actions, 2% list,
// all about the seeded data, which the writer never touches.
func buildChecks(facts int) ([]check, error) {
	shape, err := datasets.Describe(datasets.Config{Facts: facts, Seed: 1})
	if err != nil {
		return nil, err
	}
	qs := shape.SampleQueries(4000, 7)
	var out []check
	for i, q := range qs {
		var path string
		var body map[string]any
		switch {
		case i%50 == 0:
			path = "/api/list"
			body = map[string]any{"actor_type": q.Actor.Type, "actor_id": q.Actor.ID, "action": "read", "resource_type": "Repository"}
		case i%33 == 1:
			path = "/api/actions"
			body = map[string]any{"actor_type": q.Actor.Type, "actor_id": q.Actor.ID, "resource_type": q.Resource.Type, "resource_id": q.Resource.ID}
		default:
			path = "/api/authorize"
			body = map[string]any{"actor_type": q.Actor.Type, "actor_id": q.Actor.ID, "action": q.Action,
				"resource_type": q.Resource.Type, "resource_id": q.Resource.ID}
		}
		body["context_facts"] = []any{}
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		out = append(out, check{path: path, body: b})
	}
	return out, nil
}

// answer normalises a 200 body: "allowed=true" or the sorted results.
func answer(body []byte) (string, error) {
	var a struct {
		Allowed *bool    `json:"allowed"`
		Results []string `json:"results"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return "", fmt.Errorf("decode answer: %w", err)
	}
	if a.Allowed != nil {
		return fmt.Sprintf("allowed=%v", *a.Allowed), nil
	}
	slices.Sort(a.Results)
	return strings.Join(a.Results, ","), nil
}

// client sends checks with the read key.
type client struct {
	hc  *http.Client
	key string
}

func newClient(key string, conns int) *client {
	tr := &http.Transport{MaxIdleConns: 2 * conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute, DisableCompression: true}
	return &client{hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}, key: key}
}

// do sends one request and returns the status, the body and the headers.
func (c *client) do(ctx context.Context, url, path string, body []byte, hdr map[string]string) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// rotation is the set of nodes that take load, like a load balancer's
// healthy pool. Safe for concurrent use.
type rotation struct {
	mu    sync.Mutex // guards nodes
	nodes []*node
	next  atomic.Uint64
}

func (r *rotation) pick() *node {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.nodes) == 0 {
		return nil
	}
	return r.nodes[r.next.Add(1)%uint64(len(r.nodes))]
}

func (r *rotation) set(nodes ...*node) {
	r.mu.Lock()
	r.nodes = nodes
	r.mu.Unlock()
}

// stats collects one interval's outcomes. Safe for concurrent use.
type stats struct {
	mu        sync.Mutex // guards everything below
	lat       []time.Duration
	checks    int
	failed    int // transport errors and non-200 answers
	wrong     int // 200 answers that differ from the baseline
	late      int // checks started more than 10 ms after their slot
	writes    int
	writeErrs int
	rywStale  int // read-your-write answers marked stale
	rywWrong  int // read-your-write answers that missed the write
	samples   []string
}

func (s *stats) note(format string, args ...any) {
	if len(s.samples) < 5 {
		s.samples = append(s.samples, fmt.Sprintf(format, args...))
	}
}

func (s *stats) record(d time.Duration, late bool, failure, wrong string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks++
	s.lat = append(s.lat, d)
	if late {
		s.late++
	}
	switch {
	case failure != "":
		s.failed++
		s.note("check: %s", failure)
	case wrong != "":
		s.wrong++
		s.note("check: %s", wrong)
	}
}

// take returns the interval's figures and starts a new interval.
func (s *stats) take() interval {
	s.mu.Lock()
	lat := s.lat
	iv := interval{Checks: s.checks, Failed: s.failed, Wrong: s.wrong, Late: s.late, Writes: s.writes,
		WriteErrs: s.writeErrs, RYWStale: s.rywStale, RYWWrong: s.rywWrong, Samples: s.samples}
	s.lat = make([]time.Duration, 0, cap(lat))
	s.checks, s.failed, s.wrong, s.late, s.writes, s.writeErrs, s.rywStale, s.rywWrong = 0, 0, 0, 0, 0, 0, 0, 0
	s.samples = nil
	s.mu.Unlock()
	iv.P50, iv.P99, iv.Max = percentiles(lat)
	return iv
}

// percentiles returns p50, p99 and the maximum (nearest rank).
func percentiles(lat []time.Duration) (p50, p99, maximum time.Duration) {
	if len(lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lat)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(lat))+0.999999) - 1
		return lat[min(max(i, 0), len(lat)-1)]
	}
	return rank(0.50), rank(0.99), lat[len(lat)-1]
}

// runLoad sends checks at rate per second (open loop: a check is due every
// 1/rate s whatever the answers do) with up to workers in flight, to the
// nodes in rotation, until ctx ends.
func runLoad(ctx context.Context, cl *client, rot *rotation, checks []check, rate float64, workers int, st *stats) {
	type job struct {
		due time.Time
		c   *check
	}
	jobs := make(chan job, workers*4)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				runCheck(ctx, cl, rot, j.c, j.due, st)
			}
		})
	}
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	sent := 0
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case now := <-tick.C:
			due := int(now.Sub(start).Seconds() * rate)
			for ; sent < due && ctx.Err() == nil; sent++ {
				c := &checks[sent%len(checks)]
				at := start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
				select {
				case jobs <- job{due: at, c: c}:
				case <-ctx.Done():
				}
			}
		}
	}
	close(jobs)
	wg.Wait()
}

func runCheck(ctx context.Context, cl *client, rot *rotation, c *check, due time.Time, st *stats) {
	n := rot.pick()
	if n == nil {
		st.record(0, false, "no node in rotation", "")
		return
	}
	t := time.Now()
	status, body, _, err := cl.do(ctx, n.url, c.path, c.body, nil)
	d := time.Since(t)
	if ctx.Err() != nil {
		return // the run is ending; not a check outcome
	}
	late := t.Sub(due) > 10*time.Millisecond
	switch {
	case err != nil:
		st.record(d, late, fmt.Sprintf("%s %s: %v", n.name, c.path, err), "")
	case status != 200:
		st.record(d, late, fmt.Sprintf("%s %s answered %d: %.200s", n.name, c.path, status, body), "")
	default:
		got, err := answer(body)
		switch {
		case err != nil:
			st.record(d, late, fmt.Sprintf("%s %s: %v", n.name, c.path, err), "")
		case got != c.want:
			st.record(d, late, "", fmt.Sprintf("%s %s %s: answered %q, before the writes %q", n.name, c.path, c.body, got, c.want))
		default:
			st.record(d, late, "", "")
		}
	}
}

// measure runs a closed loop of workers for d and returns checks/s. Any
// failure ends it with an error.
func measure(ctx context.Context, cl *client, rot *rotation, checks []check, workers int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var done atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i += workers {
				c := &checks[i%len(checks)]
				n := rot.pick()
				status, body, _, err := cl.do(ctx, n.url, c.path, c.body, nil)
				if ctx.Err() != nil {
					return
				}
				if err == nil && status != 200 {
					err = fmt.Errorf("%s answered %d: %.200s", c.path, status, body)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					cancel()
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

// baseline asks node n every check once and records its answers.
func baseline(ctx context.Context, cl *client, n *node, checks []check) error {
	for i := range checks {
		c := &checks[i]
		status, body, _, err := cl.do(ctx, n.url, c.path, c.body, nil)
		if err == nil && status != 200 {
			err = fmt.Errorf("answered %d: %.200s", status, body)
		}
		if err != nil {
			return fmt.Errorf("baseline %s %s: %w", c.path, c.body, err)
		}
		if c.want, err = answer(body); err != nil {
			return err
		}
	}
	return nil
}
