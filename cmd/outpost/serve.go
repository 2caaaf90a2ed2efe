package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/kafka"
	natssource "github.com/outpost-authz/outpost/ingest/nats"
	"github.com/outpost-authz/outpost/ingest/poll"
	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/httpapi"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// serve runs a node until ctx ends: it listens at once (health answers 503
// until a state is loaded), bootstraps, then runs the HTTP server, ingest
// and the checkpoint loop under one errgroup. onReady, when set, receives
// the listen address.
func serve(ctx context.Context, c *config, log *slog.Logger, onReady func(addr string)) error {
	started := time.Now()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	engine, err := query.New(replica.New(c.replicaConfig()), query.Config{CacheMaxBytes: c.CacheBytes, MaxSteps: c.MaxSteps,
		MaxResultRows: c.MaxResultRows, MaxResultBytes: int64(c.MaxResultMiB) << 20,
		MaxQueryMemory: int64(c.QueryMemoryMiB) << 20, QueryMemoryPool: int64(c.QueryMemoryPoolMiB) << 20})
	if err != nil {
		return err
	}
	defer engine.Close()

	var feed *poll.Client
	if c.ControlPlaneURL != "" {
		if feed, err = poll.NewClient(c.pollConfig()); err != nil {
			return fmt.Errorf("control plane client: %w", err)
		}
	}
	n := &node{c: c, engine: engine, started: started}
	api, err := httpapi.New(httpapi.Config{
		Engine:          engine,
		Registry:        reg,
		Auth:            c.Auth,
		ConsistencyWait: c.ConsistencyWait,
		Strict:          c.Consistency == "strict",
		Status:          n.status,
		Logger:          log,
		LogID:           controlPlaneLogID(ctx, c),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Listen, err)
	}
	srv := httpapi.NewHTTPServer(c.Listen, api.Handler())
	log.Info("listening", "addr", ln.Addr().String(), "environment", c.Environment, "source", c.Source)
	if onReady != nil {
		onReady(ln.Addr().String())
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("http shutdown", "err", err)
			srv.Close()
		}
		return nil
	})
	g.Go(func() error {
		err := n.run(gctx, feed, reg, log)
		if err != nil && gctx.Err() == nil {
			return err
		}
		return nil
	})
	err = g.Wait()
	log.Info("stopped", "revision", engine.Revision())
	return err
}

// node holds what /status reports across the node's parts.
type node struct {
	c       *config
	engine  *query.Engine
	started time.Time

	// run sets these while the HTTP server already answers /status.
	mu     sync.Mutex // guards from, runner and snap
	from   string
	runner *ingest.Runner
	snap   *snapshotter.Snapshotter
}

func (n *node) status() map[string]any {
	n.mu.Lock()
	from, runner, snap := n.from, n.runner, n.snap
	n.mu.Unlock()
	m := map[string]any{
		"node": map[string]any{
			"environment": n.c.Environment,
			"tenant":      n.c.Tenant,
			"client_id":   n.c.ClientID,
			"source":      n.c.Source,
			"started_at":  n.started.UTC().Format(time.RFC3339),
			"loaded_from": from,
			"version":     version,
		},
	}
	if runner != nil {
		m["ingest"] = runner.Status()
	}
	if snap != nil {
		m["checkpoint"] = snap.Status()
	}
	return m
}

// run bootstraps and then runs ingest and the checkpoint loop until ctx ends.
func (n *node) run(ctx context.Context, feed *poll.Client, reg *prometheus.Registry, log *slog.Logger) error {
	c := n.c
	store, err := snapshotter.OpenStore(c.Directory, c.CheckpointKeep)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	st, err := bootstrap(ctx, c, feed, store, log)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.from = st.from
	n.mu.Unlock()
	n.engine.SetState(st.state)
	log.Info("serving", "revision", st.state.Revision(), "from", st.from)

	g, gctx := errgroup.WithContext(ctx)
	var runner *ingest.Runner
	if c.Source != "none" {
		src, err := c.source(log)
		if err != nil {
			return err
		}
		rc := ingest.RunnerConfig{Source: src, Engine: n.engine, Registerer: reg, Logger: log, StateTime: st.asOf}
		if feed != nil {
			rc.Feed = feed
			rc.LoadSnapshot = func(r io.Reader) (*replica.State, replica.Position, error) {
				s, h, err := snapshotter.Read(r, c.replicaConfig())
				return s, h.Position, err
			}
		}
		if runner, err = ingest.NewRunner(rc); err != nil {
			return err
		}
		n.mu.Lock()
		n.runner = runner
		n.mu.Unlock()
		g.Go(func() error { return runner.Run(gctx, st.pos) })
	}
	loaded := st.pos
	capture := func() (*replica.Export, replica.Position) {
		// The runner's position is read before the view, so its transport
		// fields are at or before the view's revision: resuming from it can
		// only repeat events, which the replica skips.
		pos := loaded
		if runner != nil {
			pos = runner.Position()
		}
		v := n.engine.State().Acquire()
		ex := v.Export()
		pos.Seq = v.Revision()
		v.Release()
		return ex, pos
	}
	snap, err := snapshotter.New(snapshotter.Config{
		Dir: c.Directory, Interval: c.CheckpointInterval, Keep: c.CheckpointKeep,
		Env: c.Environment, Tenant: c.Tenant, Registerer: reg,
	}, capture, log)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.snap = snap
	n.mu.Unlock()
	g.Go(func() error { return snap.Run(gctx) })
	return g.Wait()
}

func (c *config) pollConfig() poll.Config {
	return poll.Config{URL: c.ControlPlaneURL, Env: c.Environment, Token: c.APIToken, Wait: c.PollWait}
}

// source builds the configured ingest source (a plain switch; STYLE.md 3).
func (c *config) source(log *slog.Logger) (ingest.Source, error) {
	switch c.Source {
	case "poll":
		return poll.New(c.pollConfig(), log)
	case "kafka":
		return kafka.New(kafka.Config{Brokers: splitList(c.KafkaBrokers), Env: c.Environment, Topic: c.KafkaTopic}, log)
	case "nats":
		return natssource.New(natssource.Config{URL: c.NATSURL, Env: c.Environment, Stream: c.NATSStream}, log)
	}
	return nil, fmt.Errorf("unknown source %q", c.Source)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// controlPlaneLogID asks the control plane which log its OsoOffset tokens
// name, so tokens from another service are ignored. Best effort: without
// an answer every log id is accepted.
func controlPlaneLogID(ctx context.Context, c *config) string {
	if c.ControlPlaneURL == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(c.ControlPlaneURL, "/")+"/v1/envs/"+c.Environment+"/status", nil)
	if err != nil {
		return ""
	}
	req.Header.Set("Authorization", "Bearer "+c.APIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var s struct {
		LogID string `json:"log_id"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&s) != nil {
		return ""
	}
	return s.LogID
}
