package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/poll"
	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

// controlPlane is a reference control plane served on 127.0.0.1:0.
type controlPlane struct {
	srv     *controlplane.Server
	hs      *http.Server
	url     string
	client  *controlplane.Client // with the write key
	readKey string
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startControlPlane starts a control plane with a fresh write and read key
// and no checkpoints of its own (they would compete with the measurement).
func startControlPlane(cfg controlplane.Config) (*controlPlane, error) {
	writeKey, readKey := rand.Text(), rand.Text()
	cfg.Keys = map[string]string{writeKey: controlplane.AccessWrite, readKey: controlplane.AccessRead}
	cfg.CheckpointEvery = -1
	srv, err := controlplane.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp := &controlPlane{srv: srv, url: "http://" + ln.Addr().String(), readKey: readKey, cancel: cancel}
	cp.client = controlplane.NewClient(cp.url, writeKey)
	cp.hs = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	cp.wg.Go(func() { cp.hs.Serve(ln) })
	cp.wg.Go(func() { srv.Run(ctx) })
	return cp, nil
}

func (cp *controlPlane) close() {
	cp.cancel() // ends long-polls and the publishers
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cp.hs.Shutdown(ctx) != nil {
		cp.hs.Close()
	}
	cp.wg.Wait()
	cp.srv.Close()
}

// pollSource reads cp's feed with its read key.
func (cp *controlPlane) pollSource(env string) (*poll.Source, error) {
	return poll.New(poll.Config{URL: cp.url, Env: env, Token: cp.readKey}, nil)
}

// node is an Outpost node's ingest path: an empty state, an Engine over it
// and an ingest.Runner feeding it from one Source.
type node struct {
	engine *query.Engine
	cancel context.CancelFunc
	exited chan struct{}
	err    error // Run's result, set before exited is closed
}

// startNode starts ingest from the beginning of src. feed, when set, fills
// gaps and serves snapshots, as on a node with a control plane URL.
func (b *bench) startNode(env string, src ingest.Source, feed *poll.Client) (*node, error) {
	cfg := b.replicaConfig(env)
	e, err := query.New(replica.New(cfg), query.Config{CacheMaxBytes: -1})
	if err != nil {
		return nil, err
	}
	rc := ingest.RunnerConfig{Source: src, Engine: e}
	if feed != nil {
		rc.Feed = feed
		rc.LoadSnapshot = func(r io.Reader) (*replica.State, replica.Position, error) {
			st, h, err := snapshotter.Read(bufio.NewReaderSize(r, 1<<20), cfg)
			return st, h.Position, err
		}
	}
	r, err := ingest.NewRunner(rc)
	if err != nil {
		e.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{engine: e, cancel: cancel, exited: make(chan struct{})}
	go func() {
		n.err = r.Run(ctx, replica.StartPosition())
		close(n.exited)
	}()
	return n, nil
}

// waitFor blocks until the node's revision is at least seq.
func (n *node) waitFor(ctx context.Context, seq uint64) error {
	tick := time.NewTicker(100 * time.Millisecond) // the state may be swapped by a re-bootstrap
	defer tick.Stop()
	for {
		st := n.engine.State()
		ch := st.Changed()
		if st.Revision() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-n.exited:
			return fmt.Errorf("ingest stopped at revision %d: %v", n.engine.Revision(), n.err)
		case <-ctx.Done():
			return fmt.Errorf("node at revision %d, waiting for %d: %w", n.engine.Revision(), seq, ctx.Err())
		}
	}
}

func (n *node) stop() error {
	n.cancel()
	<-n.exited
	n.engine.Close()
	if n.err != nil && !errors.Is(n.err, context.Canceled) {
		return n.err
	}
	return nil
}

// factCount is the number of facts the node holds.
func (n *node) factCount() int {
	v := n.engine.State().Acquire()
	defer v.Release()
	return v.FactCount()
}
