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
	"github.com/outpost-authz/outpost/ingest/osoapi"
	"github.com/outpost-authz/outpost/ingest/poll"
	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/httpapi"
	"github.com/outpost-authz/outpost/query/verify"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// serve runs a node until ctx ends: it listens at once (health answers 503
// until a state is loaded), bootstraps, then runs the HTTP server, ingest
// and the checkpoint loop under one errgroup. onReady, when set, receives
// the listen address.
func serve(ctx context.Context, c *config, log *slog.Logger, onReady func(addr string)) error {
	started := time.Now()
	// A data directory that cannot be used ends the node before it says
	// it is listening.
	store, err := snapshotter.OpenStore(c.Directory, c.CheckpointKeep)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if c.ControlPlaneURL == "" && c.PolicyFile == "" && c.Import == "" {
		if list, err := store.List(); err == nil && len(list) == 0 {
			return noState(c, false, nil)
		}
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Listen, err)
	}
	defer ln.Close()
	log = log.With("node", c.nodeName(ln.Addr().String()))
	c.compiler = query.LoggingCompiler(log)
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
	if c.ControlPlaneURL != "" && c.Source != "oso-api" {
		if feed, err = poll.NewClient(c.pollConfig()); err != nil {
			return fmt.Errorf("control plane client: %w", err)
		}
	}
	n := &node{c: c, engine: engine, started: started}
	logID := osoAPILogID // no OsoOffset names it (osoapi.go)
	if c.Source != "oso-api" {
		logID = controlPlaneLogID(ctx, c)
	}
	api, err := httpapi.New(httpapi.Config{
		Engine:          engine,
		Registry:        reg,
		Auth:            c.Auth,
		ConsistencyWait: c.ConsistencyWait,
		Strict:          c.Consistency == "strict",
		Status:          n.status,
		Logger:          log,
		LogID:           logID,
		MaxContextFacts: contextFactLimit(c.MaxContextFacts),
		MaxContextBytes: int64(c.MaxContextBytes),
		RequestMemory:   int64(c.RequestMemoryMiB) << 20,
		StatusAuth:      c.StatusAuth,
	})
	if err != nil {
		return err
	}
	ln, handler, tlsStatus, err := c.listenTLS(ln, api.Handler(), log)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Listen, err)
	}
	n.tlsStatus = tlsStatus
	srv := httpapi.NewHTTPServer(c.Listen, handler)
	notice(log, "listening", "addr", ln.Addr().String(), "version", version, "environment", c.Environment, "source", c.Source, "tls", tlsStatus != nil)
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
	if err == nil {
		notice(log, "stopped", "revision", engine.Revision(), "uptime", time.Since(started))
	}
	return err
}

// nodeName tags every log line of a node, so that two nodes sharing a
// terminal can be told apart: the client id if one is set, else the
// address it listens on.
func (c *config) nodeName(addr string) string {
	if c.ClientID != "" {
		return c.ClientID
	}
	return addr
}

// node holds what /status reports across the node's parts.
type node struct {
	c       *config
	engine  *query.Engine
	started time.Time
	// tlsStatus describes the listener's certificate (nil: plain HTTP).
	tlsStatus func() map[string]any

	// run sets these while the HTTP server already answers /status.
	mu     sync.Mutex // guards from, runner and snap
	from   string
	runner *ingest.Runner
	snap   *snapshotter.Snapshotter
	oso    *osoapi.Source   // --source oso-api
	verify *verify.Verifier // --verify-rate
}

func (n *node) status() map[string]any {
	n.mu.Lock()
	from, runner, snap, oso, ver := n.from, n.runner, n.snap, n.oso, n.verify
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
	if n.tlsStatus != nil {
		m["tls"] = n.tlsStatus()
	}
	if runner != nil {
		m["ingest"] = runner.Status()
	}
	if snap != nil {
		m["checkpoint"] = snap.Status()
	}
	if oso != nil {
		m["oso_api"] = oso.Status()
	}
	if ver != nil {
		m["verify"] = ver.Status()
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
	loadStart := time.Now()
	var oso *osoapi.Source
	var st start
	if c.Source == "oso-api" {
		if oso, err = c.osoAPISource(n.engine, log); err != nil {
			return err
		}
		n.mu.Lock()
		n.oso = oso
		n.mu.Unlock()
		st, err = bootstrapOsoAPI(ctx, c, oso, store, log)
	} else {
		st, err = bootstrap(ctx, c, feed, store, log)
	}
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.from = st.from
	n.mu.Unlock()
	n.engine.SetState(st.state)
	v := st.state.Acquire()
	facts := v.FactCount()
	v.Release()
	notice(log, "serving", "revision", st.state.Revision(), "facts", facts, "from", st.from, "load_duration", time.Since(loadStart))

	g, gctx := errgroup.WithContext(ctx)
	var runner *ingest.Runner
	if c.Source != "none" {
		var src ingest.Source = oso
		if oso == nil {
			if src, err = c.source(log); err != nil {
				return err
			}
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
	// What a checkpoint written now would add: the alert on checkpoints
	// (docs/alerts.yml) fires only when this stays above 0, since a quiet
	// node rightly writes none.
	behind := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "outpost_checkpoint_revisions_behind",
		Help: "Revisions applied since the newest checkpoint (all of them when there is none).",
	}, func() float64 {
		last, _ := snap.LastRevision()
		return float64(n.engine.Revision() - min(last, n.engine.Revision()))
	})
	if err := reg.Register(behind); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	g.Go(func() error { return snap.Run(gctx) })
	if c.VerifyRate > 0 {
		ver, err := c.newVerifier(n.engine, reg, log)
		if err != nil {
			return err
		}
		n.mu.Lock()
		n.verify = ver
		n.mu.Unlock()
		g.Go(func() error { return ver.Run(gctx) })
	}
	return g.Wait()
}

func (c *config) pollConfig() poll.Config {
	return poll.Config{URL: c.ControlPlaneURL, Env: c.Environment, Token: c.APIToken, Wait: c.PollWait, HTTPClient: c.controlPlaneClient()}
}

// source builds the configured ingest source (a plain switch; STYLE.md 3).
func (c *config) source(log *slog.Logger) (ingest.Source, error) {
	switch c.Source {
	case "poll":
		return poll.New(c.pollConfig(), log)
	case "kafka":
		tc, mech, err := c.kafkaSecurity()
		if err != nil {
			return nil, err
		}
		return kafka.New(kafka.Config{Brokers: splitList(c.KafkaBrokers), Env: c.Environment, Topic: c.KafkaTopic, TLS: tc, SASL: mech}, log)
	case "nats":
		auth, err := c.natsAuth(c.NATSURL)
		if err != nil {
			return nil, err
		}
		opts, err := auth.Options()
		if err != nil {
			return nil, err
		}
		return natssource.New(natssource.Config{URL: c.NATSURL, Env: c.Environment, Stream: c.NATSStream, Options: opts}, log)
	case "oso-api":
		// needs the engine's state: node.run builds it (c.osoAPISource)
		return nil, fmt.Errorf("the oso-api source is built by node.run")
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
	resp, err := c.controlPlaneClient().Do(req)
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
