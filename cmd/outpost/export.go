package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/outpost-authz/outpost/ingest/poll"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// export writes the current state to c.Export: the control plane's latest
// snapshot when a control plane is configured, else the newest valid
// checkpoint of the data directory (no network). The file is written to a
// temporary name, verified, synced and renamed, so a failed export never
// leaves a partial file under the target name.
func export(ctx context.Context, c *config, log *slog.Logger) error {
	target, err := filepath.Abs(c.Export)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory; give a file name", c.Export)
	}
	dir := filepath.Dir(target)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("directory %s does not exist", dir)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(target)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	if c.ControlPlaneURL != "" && c.Source != "oso-api" { // oso-api: Oso has no snapshot; export the data directory
		feed, err := poll.NewClient(c.pollConfig())
		if err != nil {
			return err
		}
		body, err := feed.Snapshot(ctx)
		if err != nil {
			return fmt.Errorf("download snapshot from %s: %w", c.ControlPlaneURL, err)
		}
		_, err = io.Copy(w, body)
		body.Close()
		if err != nil {
			return fmt.Errorf("download snapshot: %w", err)
		}
	} else {
		// Read the data directory without opening it as a store: a node may
		// be running there, and opening a store cleans up its temp files.
		st, h, path, err := newestCheckpoint(c.Directory, c.replicaConfig(), log)
		if err != nil {
			return fmt.Errorf("no control plane is configured and %s has no valid checkpoint: %w", c.Directory, err)
		}
		v := st.Acquire()
		ex := v.Export()
		v.Release()
		h.Created = time.Now()
		if _, err := snapshotter.Write(w, ex, h); err != nil {
			return err
		}
		log.Info("exported the local checkpoint", "from", path, "seq", h.Position.Seq)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	info, err := snapshotter.Inspect(bufio.NewReader(tmp))
	if err != nil {
		return fmt.Errorf("verify exported file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	log.Info("export written", "path", target, "seq", info.Header.Position.Seq, "facts", info.Header.Facts, "digest", info.Header.Digest)
	return nil
}

// newestCheckpoint reads the newest valid checkpoint of dir, read-only.
// Checkpoint names sort by revision (see snapshotter.Store).
func newestCheckpoint(dir string, cfg replica.Config, log *slog.Logger) (*replica.State, snapshotter.Header, string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "checkpoint-*.ckpt"))
	if err != nil {
		return nil, snapshotter.Header{}, "", err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, path := range names {
		st, h, err := snapshotter.ReadFile(path, cfg)
		if err == nil {
			return st, h, path, nil
		}
		log.Warn("skipping checkpoint", "path", path, "err", err)
	}
	return nil, snapshotter.Header{}, "", snapshotter.ErrNoCheckpoint
}

// runInspect implements `outpost inspect FILE`.
func runInspect(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: outpost inspect FILE")
		return 2
	}
	f, err := os.Open(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "outpost inspect: %v\n", err)
		return 1
	}
	defer f.Close()
	info, err := snapshotter.Inspect(bufio.NewReaderSize(f, 1<<20))
	if err != nil && info.Header.Env == "" {
		fmt.Fprintf(stderr, "outpost inspect: %s: %v\n", args[0], err)
		return 1
	}
	// A damaged file still shows the header and whatever was decoded
	// before the damage, then says where decoding stopped.
	h := info.Header
	fmt.Fprintf(stdout, "file:          %s (%d bytes read, format %d)\n", args[0], info.Size, info.Version)
	fmt.Fprintf(stdout, "environment:   %s", h.Env)
	if h.Tenant != "" {
		fmt.Fprintf(stdout, " (tenant %s)", h.Tenant)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "revision:      %d\n", h.Position.Seq)
	fmt.Fprintf(stdout, "positions:     kafka offset %d, jetstream seq %d\n", h.Position.KafkaOffset, h.Position.JetStreamSeq)
	fmt.Fprintf(stdout, "created:       %s\n", h.Created.UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "facts:         %d in %d relations, %d values\n", h.Facts, h.Relations, h.Values)
	if info.PolicyBytes > 0 || err == nil {
		fmt.Fprintf(stdout, "policy:        %s (%d bytes), %d API key hashes\n", info.PolicyFilename, info.PolicyBytes, info.Tokens)
	}
	for _, r := range info.Relations {
		fmt.Fprintf(stdout, "  %-24s %d\n", fmt.Sprintf("%s/%d", r.Name, r.Arity), r.Facts)
	}
	fmt.Fprintf(stdout, "digest:        %s (verified: %v)\n", h.Digest, info.DigestOK)
	if err != nil {
		fmt.Fprintf(stdout, "damaged:       %v\n", err)
		fmt.Fprintf(stderr, "outpost inspect: %s: %v\n", args[0], err)
		return 1
	}
	fmt.Fprintf(stdout, "checksum:      %08x (ok: %v)\n", info.Checksum, info.ChecksumOK)
	if !info.ChecksumOK || !info.DigestOK {
		return 1
	}
	return 0
}
