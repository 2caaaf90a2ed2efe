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
	// where it came from: snapshot, checkpoint, import or policy file;
	// and the file's path
	from, path string
}

func (s start) label() string {
	switch s.from {
	case "checkpoint":
		return "local checkpoint"
	case "import":
		return "--import file"
	}
	return s.from
}

func (c *config) replicaConfig() replica.Config {
	compile := c.compiler
	if compile == nil {
		compile = query.Compile
	}
	return replica.Config{Env: c.Environment, Compiler: compile}
}

// bootstrap finds the state to start from (DESIGN.md §5): the newest
// valid state on hand, the local checkpoint or the --import file (the
// higher seq wins; on a tie the local checkpoint, which carries this
// site's transport positions); then the control plane: events since that
// state when it still has them, else its latest snapshot; without an
// answer from it, the state on hand. --policy is the development
// alternative to all of them. One line says what was chosen and why.
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
	have, why, haveErr := onHand(c, store, log)
	var cpErr error
	if feed != nil {
		if have.state != nil {
			_, _, err := feed.Events(ctx, have.pos.Seq, 1)
			switch {
			case err == nil:
				log.Info("starting from the "+have.label()+"; the control plane still has the events after it", "path", have.path, "seq", have.pos.Seq, "why", why)
				return have, nil
			case poll.IsStatus(err, 410):
				log.Info("the control plane no longer has the events after the "+have.label()+"; downloading a snapshot", "seq", have.pos.Seq)
			default:
				log.Warn("control plane unreachable; starting from the "+have.label(), "err", err, "path", have.path, "seq", have.pos.Seq, "why", why)
				return have, nil
			}
		}
		st, pos, err := downloadSnapshot(ctx, c, feed, log)
		if err == nil {
			return start{state: st, pos: pos, asOf: time.Now(), from: "snapshot"}, nil
		}
		cpErr = err
		if have.state != nil {
			log.Warn("snapshot download failed; starting from the "+have.label(), "err", err, "path", have.path, "seq", have.pos.Seq)
			return have, nil
		}
	} else if have.state != nil {
		log.Info("starting from the "+have.label(), "path", have.path, "seq", have.pos.Seq, "why", why)
		return have, nil
	}
	if haveErr != nil {
		return start{}, haveErr
	}
	return start{}, noState(c, feed != nil, cpErr)
}

// noState is the error of a node with nothing to start from.
func noState(c *config, haveFeed bool, cpErr error) error {
	cp := "no control plane is configured (--control-plane-url)"
	if haveFeed {
		cp = fmt.Sprintf("the control plane at %s did not provide a snapshot (%v)", c.ControlPlaneURL, cpErr)
	}
	return fmt.Errorf("no state to serve: %s, the data directory %s has no valid checkpoint, and no --import file was given", cp, c.Directory)
}

// onHand loads the newest valid state available without a network: the
// data directory's newest valid checkpoint or the --import file, whichever
// has the higher seq (the local checkpoint on a tie). It says why it chose
// it. An --import file that cannot be used is an error only when there is
// no local checkpoint either.
func onHand(c *config, store *snapshotter.Store, log *slog.Logger) (start, string, error) {
	var imp start
	var impErr error
	if c.Import != "" {
		st, h, err := readCheckpointFile(c.Import, c.replicaConfig())
		if err != nil {
			impErr = fmt.Errorf("import %s: %w", c.Import, err)
		} else {
			imp = start{state: st, pos: h.Position, asOf: h.Created, from: "import", path: c.Import}
		}
	}
	// The newest local checkpoint's seq is in its name: an import file
	// newer than every local checkpoint wins without loading them.
	if imp.state != nil {
		if list, err := store.List(); err == nil && (len(list) == 0 || list[len(list)-1].Seq < imp.pos.Seq) {
			why := "the data directory has no checkpoint"
			if len(list) > 0 {
				why = fmt.Sprintf("its seq %d is newer than the local checkpoint's %d", imp.pos.Seq, list[len(list)-1].Seq)
			}
			return imp, why, nil
		}
	}
	local, lh, path, err := store.LoadLatest(c.replicaConfig(), log)
	if err != nil && !errors.Is(err, snapshotter.ErrNoCheckpoint) {
		log.Warn("no usable local checkpoint", "dir", c.Directory, "err", err)
	}
	if err != nil {
		if imp.state != nil {
			return imp, "the data directory has no valid checkpoint", nil
		}
		return start{}, "", impErr
	}
	have := start{state: local, pos: lh.Position, asOf: lh.Created, from: "checkpoint", path: path}
	switch {
	case imp.state != nil && imp.pos.Seq > lh.Position.Seq:
		return imp, fmt.Sprintf("its seq %d is newer than the local checkpoint's %d", imp.pos.Seq, lh.Position.Seq), nil
	case imp.state != nil:
		return have, fmt.Sprintf("its seq %d is at least the --import file's %d; the import file is not used", lh.Position.Seq, imp.pos.Seq), nil
	case impErr != nil:
		log.Error("the --import file cannot be used; using the local checkpoint", "err", impErr)
		return have, "the --import file cannot be used", nil
	case c.Import == "":
		return have, "the newest valid checkpoint in the data directory", nil
	}
	return have, "", nil
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
