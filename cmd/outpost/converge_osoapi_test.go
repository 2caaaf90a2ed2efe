package main

// Convergence of nodes on --source oso-api (DESIGN.md §1, deployment 4):
// the node reads only GET /api/policy and GET /api/facts of the reference
// control plane, through the chaos proxy and a truncating HTTP proxy.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/ingest/osoapi"
	"github.com/outpost-authz/outpost/testenv/chaos"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

// osoAPIStatus is the oso_api section of a node's /status.
type osoAPIStatus struct {
	OsoAPI struct {
		Revision      uint64 `json:"revision"`
		ContentDigest string `json:"content_digest"`
		Refreshes     uint64 `json:"refreshes"`
	} `json:"oso_api"`
	Ingest struct {
		State string `json:"state"`
	} `json:"ingest"`
}

func (n *convNode) osoStatus(t testing.TB) osoAPIStatus {
	t.Helper()
	var s osoAPIStatus
	resp, err := n.get("/status")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(resp.Body, &s); err != nil {
		t.Fatalf("/status: %v", err)
	}
	return s
}

// cpContent is the control plane's ContentDigest (its digest without the
// token set, which Oso's API does not expose).
func cpContent(cp *controlplane.Running) string {
	v := cp.Server().State().Acquire()
	defer v.Release()
	return osoapi.ContentDigest(v)
}

// truncator is a real HTTP reverse proxy that, while on, cuts every
// GET /api/facts answer short (the connection closes mid-body).
type truncator struct {
	URL string
	on  atomic.Bool
	cut atomic.Int64
}

func startTruncator(t testing.TB, upstream string) *truncator {
	t.Helper()
	u, _ := url.Parse(upstream)
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := &truncator{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tr.on.Load() || r.URL.Path != "/api/facts" {
			rp.ServeHTTP(w, r)
			return
		}
		tr.cut.Add(1)
		rec := &recorder{header: http.Header{}}
		rp.ServeHTTP(rec, r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(rec.body)))
		w.WriteHeader(http.StatusOK)
		w.Write(rec.body[:len(rec.body)/2])
		w.(http.Flusher).Flush()
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	tr.URL = "http://" + ln.Addr().String()
	return tr
}

type recorder struct {
	header http.Header
	body   []byte
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { r.body = append(r.body, b...); return len(b), nil }
func (r *recorder) WriteHeader(int)             {}

// osoCluster is a control plane behind the truncator behind the chaos
// proxy, and the cluster helpers over it.
type osoCluster struct {
	*cluster
	chaos *chaos.Proxy
	trunc *truncator
}

func startOsoCluster(t *testing.T) *osoCluster {
	t.Helper()
	c := &cluster{owner: t, source: "oso-api", hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	t.Cleanup(c.hc.CloseIdleConnections)
	c.cp = controlplane.Start(t, controlplane.Config{Env: convEnv, Logger: testLogger(t, "control plane")})
	tr := startTruncator(t, c.cp.URL)
	u, _ := url.Parse(tr.URL)
	px, err := chaos.New(chaos.Config{Upstream: u.Host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return &osoCluster{cluster: c, chaos: px, trunc: tr}
}

func (c *osoCluster) startOsoNode(t *testing.T) *convNode {
	t.Helper()
	return c.startOsoNodeIn(t, t.TempDir())
}

func (c *osoCluster) startOsoNodeIn(t *testing.T, dir string) *convNode {
	t.Helper()
	return c.startNode(t, dir, "--control-plane-url", c.chaos.URL(),
		"--refresh-interval", "40ms", "--refresh-timeout", "1s", "--consistency-wait", "0s")
}

// waitContent waits until the node serves the control plane's content and
// the same answers; nothing may write meanwhile.
func (c *osoCluster) waitContent(t *testing.T, n *convNode, qs []question) {
	t.Helper()
	want := cpContent(c.cp)
	eventually(t, 60*time.Second, func() error {
		s := n.osoStatus(t)
		if s.OsoAPI.ContentDigest != want {
			return fmt.Errorf("node at revision %d with digest %s, control plane %s (ingest %s)",
				s.OsoAPI.Revision, s.OsoAPI.ContentDigest, want, s.Ingest.State)
		}
		return nil
	})
	got, wantAns := c.answers(t, n.URL, qs), c.answers(t, c.cp.URL, qs)
	for i := range qs {
		if got[i] != wantAns[i] {
			t.Errorf("%s: node says %v, control plane %v", qs[i], got[i], wantAns[i])
		}
	}
}

// A node on oso-api reaches the control plane's digest after each round of
// random writes (policy changes, inserts, exact and wildcard deletes,
// clears).
func TestConvergeOsoAPI(t *testing.T) {
	c := startOsoCluster(t)
	w := newWorkload(11, c.cp.Client)
	w.run(t, 1) // the policy
	n := c.startOsoNode(t)
	qs := questions(11, 60)
	c.waitContent(t, n, qs)
	for round := range 12 {
		w.run(t, 1+round%5)
		c.waitContent(t, n, qs)
	}
	if _, err := c.cp.Client.Clear(); err != nil {
		t.Fatal(err)
	}
	c.waitContent(t, n, qs)
	w.run(t, 4)
	c.waitContent(t, n, qs)
	t.Logf("writes: %v", w.counts)

	// A restart resumes from the node's checkpoint, keeps numbering its
	// events from there, and refreshes at once.
	rev := n.osoStatus(t).OsoAPI.Revision
	n.stop(t)
	w.run(t, 3)
	n = c.startOsoNodeIn(t, n.Dir)
	if s := n.mustStatus(t); s.Node.LoadedFrom != "checkpoint" || s.Revision < rev {
		t.Errorf("restarted from %q at revision %d, want the checkpoint at %d or later", s.Node.LoadedFrom, s.Revision, rev)
	}
	c.waitContent(t, n, qs)
	if got := n.osoStatus(t).OsoAPI.Revision; got <= rev {
		t.Errorf("revision %d after writes and a restart, want above %d", got, rev)
	}
	if got := n.metric(t, "outpost_ingest_errors_total", "source", "oso-api"); got != 0 {
		t.Errorf("outpost_ingest_errors_total{source=oso-api} = %v without faults", got)
	}
}

// Under every fault of the chaos proxy, and with answers cut short, the
// node keeps serving its last state; it never serves a state the control
// plane did not have, and converges once the upstream answers again.
func TestConvergeOsoAPIChaos(t *testing.T) {
	c := startOsoCluster(t)
	w := newWorkload(12, c.cp.Client)
	w.run(t, 1)
	n := c.startOsoNode(t)
	qs := questions(12, 40)
	c.waitContent(t, n, qs)

	// Every content digest the control plane has had, and every one the
	// node served (polled all along).
	var mu sync.Mutex
	had := map[string]bool{cpContent(c.cp): true}
	served := map[string]uint64{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			resp, err := n.get("/status")
			if err != nil {
				continue
			}
			var s osoAPIStatus
			if json.Unmarshal(resp.Body, &s) == nil && s.OsoAPI.ContentDigest != "" {
				mu.Lock()
				served[s.OsoAPI.ContentDigest] = s.OsoAPI.Revision
				mu.Unlock()
			}
		}
	}()

	faults := []struct {
		name string
		set  func()
	}{
		{"refuse", func() { c.chaos.Set(chaos.Setting{Mode: chaos.ModeRefuse}) }},
		{"http 503", func() { c.chaos.Set(chaos.Setting{Mode: chaos.ModeHTTP5xx}) }},
		{"http 500", func() { c.chaos.Set(chaos.Setting{Mode: chaos.ModeHTTP5xx, Status: 500}) }},
		{"hang", func() { c.chaos.Set(chaos.Setting{Mode: chaos.ModeHang}) }},
		{"reset", func() { c.chaos.Set(chaos.Setting{Mode: chaos.ModeReset}) }},
		{"truncated body", func() { c.trunc.on.Store(true) }},
	}
	for i, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			before := n.osoStatus(t).OsoAPI
			errsBefore := n.metric(t, "outpost_ingest_errors_total", "source", "oso-api")
			f.set()
			// writes while the upstream fails: the node must not see them
			for range 2 + i%3 {
				if _, err := w.step(); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				had[cpContent(c.cp)] = true
				mu.Unlock()
			}
			eventually(t, 30*time.Second, func() error {
				if got := n.metric(t, "outpost_ingest_errors_total", "source", "oso-api"); got < errsBefore+2 {
					return fmt.Errorf("%v ingest errors, want at least %v", got, errsBefore+2)
				}
				return nil
			})
			s := n.osoStatus(t)
			if s.OsoAPI.ContentDigest != before.ContentDigest || s.OsoAPI.Revision != before.Revision {
				t.Fatalf("the node's state changed while its upstream failed: %+v -> %+v", before, s.OsoAPI)
			}
			if s.Ingest.State != "failing" {
				t.Errorf("ingest state %q while the upstream fails, want failing", s.Ingest.State)
			}
			c.chaos.Set(chaos.Setting{Mode: chaos.ModePass})
			c.trunc.on.Store(false)
			c.waitContent(t, n, qs)
		})
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for d, rev := range served {
		if !had[d] {
			t.Errorf("the node served revision %d with digest %s, which the control plane never had", rev, d)
		}
	}
	if c.trunc.cut.Load() == 0 {
		t.Error("the truncator cut no answer")
	}
	t.Logf("node served %d states; control plane had %d", len(served), len(had))
}
