package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/osoapi"
	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/verify"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// osoAPILogID is the OsoOffset log id of a node on the oso-api source. No
// token names it, so every "<logid>:<seq>" token is ignored: the upstream's
// positions say nothing about the node's own revisions (docs/decisions.md).
const osoAPILogID = "outpost-oso-api-follows-no-log"

// osoAPISource builds the oso-api source over the engine's state. With
// --auth tokens, the hash of the node's own API key is the state's one
// token, so clients that use the same key with Oso are accepted.
func (c *config) osoAPISource(engine *query.Engine, log *slog.Logger) (*osoapi.Source, error) {
	cfg := osoapi.Config{
		URL: c.ControlPlaneURL, Token: c.APIToken,
		Replica:    c.replicaConfig(),
		HTTPClient: c.controlPlaneClient(), // --control-plane-ca-file
		State:      engine.State,
		Interval:   c.RefreshInterval,
		Timeout:    c.RefreshTimeout,
		Logger:     log,
	}
	if c.Auth == "tokens" {
		sum := sha256.Sum256([]byte(c.APIToken))
		cfg.Tokens = []replica.Token{{ID: "oso-api-key", SHA256: hex.EncodeToString(sum[:]), Access: "read"}}
	}
	return osoapi.New(cfg)
}

// bootstrapOsoAPI finds the state a node on the oso-api source starts
// from: its newest local checkpoint (the first refresh then runs at once),
// else a full fetch from the upstream (retried for a short while), else the
// --import file.
func bootstrapOsoAPI(ctx context.Context, c *config, src *osoapi.Source, store *snapshotter.Store, log *slog.Logger) (start, error) {
	local, lh, path, err := store.LoadLatest(c.replicaConfig(), log)
	if err == nil {
		log.Info("starting from the local checkpoint; refreshing from the upstream's API now", "path", path, "seq", lh.Position.Seq)
		return start{state: local, pos: lh.Position, asOf: lh.Created, from: "checkpoint"}, nil
	}
	if !errors.Is(err, snapshotter.ErrNoCheckpoint) {
		log.Warn("no usable local checkpoint", "dir", c.Directory, "err", err)
	}
	bo := ingest.Backoff{Initial: 250 * time.Millisecond, Max: 2 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	var fetchErr error
	for {
		st, err := src.Bootstrap(ctx)
		if err == nil {
			return start{state: st, pos: replica.Position{Seq: st.Revision(), KafkaOffset: -1}, asOf: time.Now(), from: "oso-api"}, nil
		}
		fetchErr = err
		if time.Now().After(deadline) || ctx.Err() != nil || !ingest.Sleep(ctx, bo.Next()) {
			break
		}
	}
	if c.Import != "" {
		st, h, err := readCheckpointFile(c.Import, c.replicaConfig())
		if err != nil {
			return start{}, fmt.Errorf("import %s: %w", c.Import, err)
		}
		log.Warn("the upstream's API did not answer; starting from the imported checkpoint", "path", c.Import, "err", fetchErr)
		return start{state: st, pos: h.Position, asOf: h.Created, from: "import"}, nil
	}
	return start{}, fmt.Errorf("no state to serve: the upstream at %s did not answer (%v), the data directory %s has no valid checkpoint, and no --import file was given",
		c.ControlPlaneURL, fetchErr, c.Directory)
}

// newVerifier compares the engine's answers with the control plane's
// Check API (Oso with --source oso-api, else the reference control plane).
func (c *config) newVerifier(engine *query.Engine, reg prometheus.Registerer, log *slog.Logger) (*verify.Verifier, error) {
	return verify.New(verify.Config{
		Local:    verify.EngineAnswerer{Engine: engine},
		Upstream: verify.HTTPAnswerer{URL: c.ControlPlaneURL, Token: c.APIToken, Client: c.controlPlaneClient()},
		Sample: func(_ context.Context, rng *rand.Rand) (verify.Sample, error) {
			return verify.SampleEngine(engine, rng)
		},
		Rate: c.VerifyRate, Registerer: reg, Logger: log,
	})
}
