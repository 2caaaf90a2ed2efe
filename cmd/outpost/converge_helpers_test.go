package main

// Helpers of the convergence tests (converge_test.go) and benchmarks
// (converge_bench_test.go): a cluster of a real control plane, a real
// embedded broker for the source under test, and nodes started in-process
// with serve and a configuration from parseConfig, exactly as the binary
// wires them. Everything talks over real sockets on 127.0.0.1.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/ingest/poll"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
	"github.com/outpost-authz/outpost/testenv/brokers"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

// convEnv is the environment every convergence cluster replicates.
const convEnv = "test"

// eventually calls cond every 20 ms until it returns nil, and fails t with
// cond's last error when timeout passes first.
func eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", timeout, err)
		}
		<-tick.C
	}
}

// logBuffer keeps the last lines a component logged, shown only when the
// test fails (a node's log is too chatty for every run).
type logBuffer struct {
	mu    sync.Mutex // guards lines
	lines []string
}

const logKeep = 400

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		b.lines = append(b.lines, l)
	}
	if len(b.lines) > 2*logKeep {
		b.lines = slices.Clone(b.lines[len(b.lines)-logKeep:])
	}
	return len(p), nil
}

func (b *logBuffer) tail() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines[max(0, len(b.lines)-logKeep):], "\n")
}

// testLogger returns a logger whose lines t prints if it fails. Register it
// before the component starts so that its cleanup runs after the
// component's.
func testLogger(t testing.TB, name string) *slog.Logger {
	t.Helper()
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s log (last %d lines) ---\n%s", name, logKeep, b.tail())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// cluster is one environment: a control plane publishing to the broker of
// the source under test, and (for poll) a feed proxy in front of it.
type cluster struct {
	// owner is the test the cluster belongs to: nodes started by its
	// subtests are stopped when it ends, not when the subtest does.
	owner  testing.TB
	source string
	cp     *controlplane.Running
	kafka  *brokers.Kafka
	nats   *brokers.NATS
	proxy  *feedProxy // poll only: the node's way to the control plane
	feed   *poll.Client
	// the control plane's publishing configuration, kept to resume
	// publishing after pausePublisher
	kafkaCfg *controlplane.KafkaConfig
	natsCfg  *controlplane.NATSConfig
	hc       *http.Client
}

// startCluster starts the broker for source (none for poll), a control
// plane publishing to it, and for poll a feed proxy. Everything is stopped
// in t.Cleanup.
func startCluster(t testing.TB, source string) *cluster {
	t.Helper()
	c := &cluster{owner: t, source: source, hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	t.Cleanup(c.hc.CloseIdleConnections)
	cfg := controlplane.Config{Env: convEnv, Logger: testLogger(t, "control plane")}
	switch source {
	case "kafka":
		k, err := brokers.StartKafka(brokers.KafkaConfig{DataDir: t.TempDir()})
		if err != nil {
			t.Fatalf("start kafka: %v", err)
		}
		t.Cleanup(k.Close)
		c.kafka = k
		c.kafkaCfg = &controlplane.KafkaConfig{Brokers: []string{k.Addr()}}
		cfg.Kafka = c.kafkaCfg
	case "nats":
		n, err := brokers.StartNATS(brokers.NATSConfig{StoreDir: t.TempDir()})
		if err != nil {
			t.Fatalf("start nats: %v", err)
		}
		t.Cleanup(n.Close)
		c.nats = n
		c.natsCfg = &controlplane.NATSConfig{URL: n.URL()}
		cfg.NATS = c.natsCfg
	case "poll":
	default:
		t.Fatalf("unknown source %q", source)
	}
	c.cp = controlplane.Start(t, cfg)
	if source == "poll" {
		c.proxy = startFeedProxy(t, c.cp.Addr)
	}
	feed, err := poll.NewClient(poll.Config{URL: c.cp.URL, Env: convEnv, Token: c.cp.ReadKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(feed.CloseIdleConnections)
	c.feed = feed
	return c
}

// controlPlaneURL is the URL nodes are given: the proxy's for poll.
func (c *cluster) controlPlaneURL() string {
	if c.proxy != nil {
		return c.proxy.URL()
	}
	return c.cp.URL
}

// nodeArgs is the command line of a node of this cluster.
func (c *cluster) nodeArgs(dir string, extra ...string) []string {
	args := []string{
		"--listen", "127.0.0.1:0",
		"--directory", dir,
		"--environment", convEnv,
		"--control-plane-url", c.controlPlaneURL(),
		"--api-token", c.cp.ReadKey,
		"--source", c.source,
		"--checkpoint-interval", "1s",
		"--poll-wait", "2s",
		"--log-level", "info",
	}
	switch c.source {
	case "kafka":
		args = append(args, "--kafka-brokers", c.kafka.Addr())
	case "nats":
		args = append(args, "--nats-url", c.nats.URL())
	}
	return append(args, extra...)
}

// convNode is a node running serve in-process.
type convNode struct {
	URL    string
	Dir    string
	cancel context.CancelFunc
	done   chan error
	hc     *http.Client
}

// startNode starts a node with data directory dir (its checkpoints) and
// waits until its health check answers 200. It is stopped when the
// cluster's test ends unless stopped before.
func (c *cluster) startNode(t testing.TB, dir string, extra ...string) *convNode {
	t.Helper()
	noEnv := func(string) (string, bool) { return "", false }
	var usage bytes.Buffer
	cfg, err := parseConfig(c.nodeArgs(dir, extra...), noEnv, &usage)
	if err != nil {
		t.Fatalf("parseConfig: %v\n%s", err, usage.String())
	}
	log := testLogger(c.owner, "node "+filepath.Base(dir))
	ctx, cancel := context.WithCancel(context.Background())
	n := &convNode{Dir: dir, cancel: cancel, done: make(chan error, 1),
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	addr := make(chan string, 1)
	go func() { n.done <- serve(ctx, cfg, log, func(a string) { addr <- a }) }()
	select {
	case a := <-addr:
		n.URL = "http://" + a
	case err := <-n.done:
		cancel()
		t.Fatalf("node did not start: %v", err)
	}
	c.owner.Cleanup(func() { n.stop(c.owner) })
	eventually(t, 30*time.Second, func() error {
		resp, err := n.get("/healthcheck")
		if err != nil {
			return err
		}
		if resp.Status != http.StatusOK {
			return fmt.Errorf("healthcheck answered %d", resp.Status)
		}
		return nil
	})
	return n
}

// stop shuts the node down as SIGTERM would (serve writes a final
// checkpoint) and waits for serve to return. Stopping twice does nothing.
func (n *convNode) stop(t testing.TB) {
	t.Helper()
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	defer n.hc.CloseIdleConnections()
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("node stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("node did not stop within 30 s")
	}
}

// rawResponse is one HTTP answer.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

func doRequest(hc *http.Client, method, url, key string, body []byte, header map[string]string) (*rawResponse, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

func (n *convNode) get(path string) (*rawResponse, error) {
	return doRequest(n.hc, http.MethodGet, n.URL+path, "", nil, nil)
}

// nodeStatus is the part of a node's GET /status the tests read.
type nodeStatus struct {
	Revision uint64 `json:"revision"`
	Digest   string `json:"digest"`
	Facts    int    `json:"facts"`
	Node     struct {
		LoadedFrom string `json:"loaded_from"`
	} `json:"node"`
	Ingest struct {
		State     string            `json:"state"`
		Applied   uint64            `json:"applied"`
		Head      uint64            `json:"head"`
		LastError string            `json:"last_error"`
		PoisonSeq uint64            `json:"poison_seq"`
		Position  replica.Position  `json:"position"`
		Events    map[string]uint64 `json:"events"`
		Errors    map[string]uint64 `json:"errors"`
		Resyncs   map[string]uint64 `json:"resyncs"`
	} `json:"ingest"`
	// HeaderRevision is the answer's X-Outpost-Revision.
	HeaderRevision uint64 `json:"-"`
}

func (n *convNode) status() (nodeStatus, error) {
	var s nodeStatus
	resp, err := n.get("/status")
	if err != nil {
		return s, err
	}
	if resp.Status != http.StatusOK {
		return s, fmt.Errorf("/status answered %d: %s", resp.Status, resp.Body)
	}
	if err := json.Unmarshal(resp.Body, &s); err != nil {
		return s, fmt.Errorf("/status: %w", err)
	}
	if s.HeaderRevision, err = strconv.ParseUint(resp.Header.Get("X-Outpost-Revision"), 10, 64); err != nil {
		return s, fmt.Errorf("/status X-Outpost-Revision: %w", err)
	}
	return s, nil
}

func (n *convNode) mustStatus(t testing.TB) nodeStatus {
	t.Helper()
	s, err := n.status()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// metric returns the sum of the samples of a metric whose labels include
// every label="value" pair given, from the node's /metrics.
func (n *convNode) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	resp, err := n.get("/metrics")
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("/metrics: %v %v", err, resp)
	}
	sum, found := 0.0, false
	for _, line := range strings.Split(string(resp.Body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line[:i], l)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		t.Fatalf("/metrics has no %s with %v", name, labels)
	}
	return sum
}

// question is one authorize request.
type question struct {
	ActorType    string `json:"actor_type"`
	ActorID      string `json:"actor_id"`
	Action       string `json:"action"`
	ResourceType string `json:"resource_type"`
	ResourceID   string `json:"resource_id"`
}

func (q question) String() string {
	return fmt.Sprintf("%s:%s %s %s:%s", q.ActorType, q.ActorID, q.Action, q.ResourceType, q.ResourceID)
}

// authorize asks base's POST /api/authorize with the read key and returns
// the answer and the response's X-Outpost-Revision (0 when absent).
func (c *cluster) authorize(base string, q question, header map[string]string) (allowed bool, resp *rawResponse, err error) {
	body, _ := json.Marshal(q)
	resp, err = doRequest(c.hc, http.MethodPost, base+"/api/authorize", c.cp.ReadKey, body, header)
	if err != nil {
		return false, nil, err
	}
	if resp.Status != http.StatusOK {
		return false, resp, fmt.Errorf("authorize %s at %s answered %d: %s", q, base, resp.Status, resp.Body)
	}
	var a struct {
		Allowed *bool `json:"allowed"`
	}
	if err := json.Unmarshal(resp.Body, &a); err != nil || a.Allowed == nil {
		return false, resp, fmt.Errorf("authorize %s at %s: bad answer %s", q, base, resp.Body)
	}
	return *a.Allowed, resp, nil
}

// answers asks every question at base, in order.
func (c *cluster) answers(t testing.TB, base string, qs []question) []bool {
	t.Helper()
	out := make([]bool, len(qs))
	for i, q := range qs {
		a, _, err := c.authorize(base, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = a
	}
	return out
}

// converge waits until the node has applied the control plane's last
// event, then requires the same state digest at that seq (from the node's
// /status and the control plane's status endpoint) and the same answers to
// the questions on both servers. Nothing may write meanwhile.
func (c *cluster) converge(t testing.TB, n *convNode, qs []question) uint64 {
	t.Helper()
	var seq uint64
	eventually(t, 60*time.Second, func() error {
		cs, err := c.cp.ReadClient.Status(convEnv)
		if err != nil {
			return fmt.Errorf("control plane status: %w", err)
		}
		ns, err := n.status()
		if err != nil {
			return fmt.Errorf("node status: %w", err)
		}
		if ns.Revision != cs.Seq || ns.HeaderRevision != cs.Seq {
			return fmt.Errorf("node at revision %d (header %d), control plane at %d; ingest %s, last error %q",
				ns.Revision, ns.HeaderRevision, cs.Seq, ns.Ingest.State, ns.Ingest.LastError)
		}
		if ns.Digest != cs.Digest {
			t.Fatalf("diverged at seq %d: node digest %s (%d facts), control plane %s (%d facts)",
				cs.Seq, ns.Digest, ns.Facts, cs.Digest, cs.Facts)
		}
		if d, s := c.cp.Server().Digest(); s == cs.Seq && d != cs.Digest {
			t.Fatalf("control plane status digest %s differs from its state's %s at %d", cs.Digest, d, s)
		}
		seq = cs.Seq
		return nil
	})
	if len(qs) > 0 {
		got, want := c.answers(t, n.URL, qs), c.answers(t, c.cp.URL, qs)
		for i := range qs {
			if got[i] != want[i] {
				t.Errorf("at seq %d, %s: node says %v, control plane %v", seq, qs[i], got[i], want[i])
			}
		}
	}
	return seq
}

// feedEvents returns the control plane's events from seq from to seq to,
// as published (read from its feed directly, never through the proxy).
func (c *cluster) feedEvents(t testing.TB, from, to uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for after := from - 1; after < to; {
		evs, _, err := c.feed.Events(context.Background(), after, int(min(to-after, 1000)))
		if err != nil {
			t.Fatalf("feed events after %d: %v", after, err)
		}
		if len(evs) == 0 {
			t.Fatalf("feed has no events after %d (want up to %d)", after, to)
		}
		for _, e := range evs {
			out = append(out, []byte(e))
		}
		after += uint64(len(evs))
	}
	return out
}

// pausePublisher restarts the control plane without its publisher, so
// that the test alone decides what reaches the broker; resumePublisher
// restarts it with the publisher, which continues after the last event the
// broker holds.
func (c *cluster) pausePublisher(t testing.TB) {
	t.Helper()
	c.cp.RestartWith(func(cfg *controlplane.Config) { cfg.Kafka, cfg.NATS = nil, nil })
}

func (c *cluster) resumePublisher(t testing.TB) {
	t.Helper()
	c.cp.RestartWith(func(cfg *controlplane.Config) { cfg.Kafka, cfg.NATS = c.kafkaCfg, c.natsCfg })
}

// waitPublished waits until the control plane's publisher has had every
// committed event acknowledged by the broker (no-op for poll).
func (c *cluster) waitPublished(t testing.TB) {
	t.Helper()
	if c.source == "poll" {
		return
	}
	eventually(t, 60*time.Second, func() error {
		head := c.cp.Seq()
		got, ok := c.cp.Server().Published(c.source)
		if !ok {
			return errors.New("the control plane does not publish to " + c.source)
		}
		if got < head {
			return fmt.Errorf("published %d of %d", got, head)
		}
		return nil
	})
}

// latestCheckpoint returns the header of the newest checkpoint in a data
// directory, verified by snapshotter.Inspect.
func latestCheckpoint(t testing.TB, dir string) snapshotter.Header {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	var newest snapshotter.Header
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		info, err := snapshotter.Inspect(f)
		f.Close()
		if err != nil || !info.ChecksumOK || !info.DigestOK {
			t.Fatalf("checkpoint %s: %v (checksum ok %v, digest ok %v)", path, err, info.ChecksumOK, info.DigestOK)
		}
		if info.Header.Position.Seq >= newest.Position.Seq {
			newest = info.Header
		}
	}
	if len(files) == 0 {
		t.Fatalf("no checkpoint in %s", dir)
	}
	return newest
}

// copyDir copies the regular files of src into a new directory dst.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
