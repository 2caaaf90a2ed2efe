package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/poll"
	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// start is the state a node begins serving from.
type start struct {
	state *replica.State
	pos   replica.Position
	// when the state was last known to be current
	asOf time.Time
	// where it came from: snapshot, checkpoint, import or policy file
	from string
}

func (c *config) replicaConfig() replica.Config {
	compile := c.compiler
	if compile == nil {
		compile = query.Compile
	}
	return replica.Config{Env: c.Environment, Compiler: compile}
}

// bootstrap finds the state to start from, in the order of DESIGN.md §5:
// the control plane (events since the local checkpoint when it still has
// them, else its latest snapshot); if it is unreachable, the newest valid
// local checkpoint; if none, the --import file. --policy is the
// development alternative to all of them.
func bootstrap(ctx context.Context, c *config, feed *poll.Client, store *snapshotter.Store, log *slog.Logger) (start, error) {
	if c.PolicyFile != "" {
		st := c.policyState
		if st == nil {
			var err error
			if st, err = fromPolicyFile(c); err != nil {
				return start{}, err
			}
		}
		return start{state: st, pos: replica.Position{Seq: st.Revision(), KafkaOffset: -1}, asOf: time.Now(), from: "policy file"}, nil
	}
	local, lh, path, err := store.LoadLatest(c.replicaConfig(), log)
	haveLocal := err == nil
	if err != nil && !errors.Is(err, snapshotter.ErrNoCheckpoint) {
		log.Warn("no usable local checkpoint", "dir", c.Directory, "err", err)
	}
	var cpErr error
	if feed != nil {
		if haveLocal {
			_, _, err := feed.Events(ctx, lh.Position.Seq, 1)
			switch {
			case err == nil:
				log.Info("starting from the local checkpoint; the control plane still has the events after it", "path", path, "seq", lh.Position.Seq)
				return start{state: local, pos: lh.Position, asOf: lh.Created, from: "checkpoint"}, nil
			case poll.IsStatus(err, 410):
				log.Info("the control plane no longer has the events after the local checkpoint; downloading a snapshot", "seq", lh.Position.Seq)
			default:
				log.Warn("control plane unreachable; starting from the local checkpoint", "err", err, "path", path, "seq", lh.Position.Seq)
				return start{state: local, pos: lh.Position, asOf: lh.Created, from: "checkpoint"}, nil
			}
		}
		st, pos, err := downloadSnapshot(ctx, c, feed, log)
		if err == nil {
			return start{state: st, pos: pos, asOf: time.Now(), from: "snapshot"}, nil
		}
		cpErr = err
		if haveLocal {
			log.Warn("snapshot download failed; starting from the local checkpoint", "err", err, "path", path)
			return start{state: local, pos: lh.Position, asOf: lh.Created, from: "checkpoint"}, nil
		}
	} else if haveLocal {
		log.Info("starting from the local checkpoint", "path", path, "seq", lh.Position.Seq)
		return start{state: local, pos: lh.Position, asOf: lh.Created, from: "checkpoint"}, nil
	}
	if c.Import != "" {
		st, h, err := readCheckpointFile(c.Import, c.replicaConfig())
		if err != nil {
			return start{}, fmt.Errorf("import %s: %w", c.Import, err)
		}
		log.Info("starting from the imported checkpoint", "path", c.Import, "seq", h.Position.Seq)
		return start{state: st, pos: h.Position, asOf: h.Created, from: "import"}, nil
	}
	cp := "no control plane is configured (--control-plane-url)"
	if feed != nil {
		cp = fmt.Sprintf("the control plane at %s did not provide a snapshot (%v)", c.ControlPlaneURL, cpErr)
	}
	return start{}, fmt.Errorf("no state to serve: %s, the data directory %s has no valid checkpoint, and no --import file was given", cp, c.Directory)
}

// downloadSnapshot fetches and loads the control plane's latest snapshot,
// retrying for a short while so a node that starts with its network can
// still find it.
func downloadSnapshot(ctx context.Context, c *config, feed *poll.Client, log *slog.Logger) (*replica.State, replica.Position, error) {
	bo := ingest.Backoff{Initial: 250 * time.Millisecond, Max: 2 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, pos, err := loadSnapshot(ctx, c, feed)
		if err == nil {
			log.Info("loaded the control plane's snapshot", "seq", pos.Seq)
			return st, pos, nil
		}
		if poll.IsStatus(err, 401) || poll.IsStatus(err, 403) || poll.IsStatus(err, 404) || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, replica.Position{}, err
		}
		if !ingest.Sleep(ctx, bo.Next()) {
			return nil, replica.Position{}, ctx.Err()
		}
	}
}

func loadSnapshot(ctx context.Context, c *config, feed *poll.Client) (*replica.State, replica.Position, error) {
	body, err := feed.Snapshot(ctx)
	if err != nil {
		return nil, replica.Position{}, err
	}
	defer body.Close()
	st, h, err := snapshotter.Read(bufio.NewReaderSize(body, 1<<20), c.replicaConfig())
	if err != nil {
		return nil, replica.Position{}, fmt.Errorf("read snapshot: %w", err)
	}
	return st, h.Position, nil
}

func readCheckpointFile(path string, cfg replica.Config) (*replica.State, snapshotter.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, snapshotter.Header{}, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, snapshotter.Header{}, fmt.Errorf("%s is a directory, not a checkpoint file", path)
	}
	return snapshotter.Read(bufio.NewReaderSize(f, 1<<20), cfg)
}

// fromPolicyFile builds a state from --policy and --events (development).
func fromPolicyFile(c *config) (*replica.State, error) {
	src, err := os.ReadFile(c.PolicyFile)
	if err != nil {
		return nil, fmt.Errorf("--policy: %w", err)
	}
	st := replica.New(c.replicaConfig())
	ev := replica.Event{Env: c.Environment, Seq: 1, Time: time.Now().UTC(), Kind: replica.KindPolicy,
		Policy: &replica.PolicySource{Src: string(src), Filename: c.PolicyFile}}
	if err := st.Apply(ev); err != nil {
		return nil, fmt.Errorf("--policy %s: %w", c.PolicyFile, err)
	}
	if c.EventsFile == "" {
		return st, nil
	}
	f, err := os.Open(c.EventsFile)
	if err != nil {
		return nil, fmt.Errorf("--events: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		ev, err := replica.DecodeEvent(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("--events %s:%d: %w", c.EventsFile, line, err)
		}
		// the file's events follow the policy event: they are renumbered in
		// file order, so any seq in the file is fine
		ev.Env, ev.Seq = c.Environment, st.Revision()+1
		if err := st.Apply(ev); err != nil {
			return nil, fmt.Errorf("--events %s:%d: apply event %d: %w", c.EventsFile, line, ev.Seq, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--events %s: %w", c.EventsFile, err)
	}
	return st, nil
}
