package controlplane

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// getSnapshot: GET /v1/envs/{env}/snapshot streams a checkpoint-format file
// (snapshotter.Write) of the state at one seq, taken from one view, with
// X-Outpost-Revision: <seq>. The header's Position carries, besides the seq,
// the Kafka offset and JetStream stream sequence just after that seq's
// event when that transport has acknowledged it; otherwise -1 and 0
// ("unknown": the node searches the transport for seq+1).
func (s *Server) getSnapshot(w http.ResponseWriter, r *http.Request) {
	v := s.state.Acquire()
	ex := v.Export()
	v.Release()
	pos := s.positionOf(ex.Revision())
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Outpost-Revision", strconv.FormatUint(pos.Seq, 10))
	w.Header().Set("X-Outpost-Kafka-Offset", strconv.FormatInt(pos.KafkaOffset, 10))
	w.Header().Set("X-Outpost-JetStream-Seq", strconv.FormatUint(pos.JetStreamSeq, 10))
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 256<<10)
	_, err := snapshotter.Write(bw, ex, snapshotter.Header{Env: s.cfg.Env, Tenant: s.cfg.Tenant, Position: pos})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil && r.Context().Err() == nil {
		// The status is out; the reader sees a truncated checkpoint.
		s.logger.Warn("snapshot stream failed", "seq", pos.Seq, "err", err)
	}
}

// positionOf returns seq with the transport positions just after it, where
// known.
func (s *Server) positionOf(seq uint64) replica.Position {
	pos := replica.Position{Seq: seq, KafkaOffset: -1}
	if seq == 0 {
		return pos
	}
	for _, p := range s.pubs {
		next, ok := p.positionAfter(seq)
		if !ok {
			continue
		}
		switch p.t.name() {
		case "kafka":
			pos.KafkaOffset = next
		case "nats":
			pos.JetStreamSeq = uint64(next)
		}
	}
	return pos
}

// The control plane's own checkpoints, in <data dir>/checkpoints, named
// checkpoint-<seq as 16 hex digits>.ckpt so that names sort by seq. Each is
// written to a .tmp file, fsynced, closed, renamed and the directory
// fsynced; the newest two are kept. On start the newest one that reads back
// cleanly (snapshotter.Read verifies everything) seeds the state and only
// the log records after it are applied.
const (
	checkpointDir    = "checkpoints"
	checkpointPrefix = "checkpoint-"
	checkpointSuffix = ".ckpt"
	keepCheckpoints  = 2
)

// loadCheckpoint returns a state from the newest valid checkpoint, or an
// empty state when there is none.
func (s *Server) loadCheckpoint() (*replica.State, error) {
	cfg := replica.Config{Env: s.cfg.Env, Compiler: query.Compile}
	names, err := s.checkpoints()
	if err != nil {
		return nil, err
	}
	for i := len(names) - 1; i >= 0; i-- {
		path := filepath.Join(s.cfg.DataDir, checkpointDir, names[i])
		st, err := readCheckpoint(path, cfg)
		if err != nil {
			s.logger.Warn("skipping unreadable checkpoint", "file", path, "err", err)
			continue
		}
		s.logger.Info("state loaded from checkpoint", "file", path, "seq", st.Revision())
		return st, nil
	}
	return replica.New(cfg), nil
}

func readCheckpoint(path string, cfg replica.Config) (*replica.State, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, _, err := snapshotter.Read(bufio.NewReaderSize(f, 256<<10), cfg)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	return st, nil
}

// checkpoints lists checkpoint file names, oldest first.
func (s *Server) checkpoints() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.cfg.DataDir, checkpointDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, checkpointPrefix) && strings.HasSuffix(n, checkpointSuffix) && len(n) == len(checkpointPrefix)+16+len(checkpointSuffix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// writeCheckpoint writes the current state as a checkpoint and prunes old
// ones. It returns the checkpoint's seq.
func (s *Server) writeCheckpoint() (uint64, error) {
	v := s.state.Acquire()
	ex := v.Export()
	v.Release()
	seq := ex.Revision()
	dir := filepath.Join(s.cfg.DataDir, checkpointDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("write checkpoint: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s%016x%s", checkpointPrefix, seq, checkpointSuffix))
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, fmt.Errorf("write checkpoint: %w", err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	_, err = snapshotter.Write(bw, ex, snapshotter.Header{Env: s.cfg.Env, Tenant: s.cfg.Tenant, Position: replica.Position{Seq: seq, KafkaOffset: -1}})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("write checkpoint at seq %d: %w", seq, err)
	}
	names, err := s.checkpoints()
	if err != nil {
		return seq, err
	}
	for len(names) > keepCheckpoints {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			return seq, fmt.Errorf("prune checkpoints: %w", err)
		}
		names = names[1:]
	}
	return seq, nil
}

// runCheckpoints writes a checkpoint whenever CheckpointEvery events have
// been committed since the last one, until ctx ends.
func (s *Server) runCheckpoints(ctx context.Context) error {
	every := uint64(s.cfg.CheckpointEvery)
	b := ingest.Backoff{Initial: time.Second, Max: time.Minute}
	failing := false
	for ctx.Err() == nil {
		ch := s.changedCh()
		if s.state.Revision() >= s.lastCheckpoint.Load()+every {
			start := time.Now()
			seq, err := s.writeCheckpoint()
			if err != nil {
				if !failing {
					s.logger.Error("checkpoint failed; retrying with backoff", "err", err)
					failing = true
				}
				sleep(ctx, b.Next())
				continue
			}
			if failing {
				s.logger.Info("checkpoints recovered")
				failing = false
			}
			b.Reset()
			s.lastCheckpoint.Store(seq)
			s.logger.Debug("checkpoint written", "seq", seq, "took", time.Since(start).Round(time.Millisecond))
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	return nil
}
