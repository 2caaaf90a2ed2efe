package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/outpost-authz/outpost/snapshotter"
)

// load builds the data set with a replica.Loader, writes it as a checkpoint
// file with snapshotter.Write, drops everything, and times snapshotter.Read
// of the file (index builds and the digest check included). The file was
// just written, so it is read from the page cache. Memory is sampled after
// a full GC with the loaded state the only large thing live; the state is
// kept for the scenarios that follow.
func (b *bench) load(ctx context.Context) ([]Result, error) {
	r := newResult("load", b.facts)
	st, err := b.build()
	if err != nil {
		return nil, err
	}
	v := st.Acquire()
	ex := v.Export()
	v.Release()
	path := filepath.Join(b.dir, "load.checkpoint")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	t0 := time.Now()
	stats, err := snapshotter.Write(w, ex, snapshotter.Header{Env: benchEnv})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write checkpoint: %w", err)
	}
	r.Detail["write_seconds"] = time.Since(t0).Seconds()
	st, ex, b.state = nil, nil, nil

	before := sampleMem()
	resetPeakRSS()
	wall0, cpu0 := time.Now(), cpuTime()
	if f, err = os.Open(path); err != nil {
		return nil, err
	}
	st, h, err := snapshotter.Read(bufio.NewReaderSize(f, 1<<20), b.replicaConfig(benchEnv))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	wall, cpu := time.Since(wall0), cpuTime()-cpu0
	peak := peakRSS()
	after := sampleMem()
	os.Remove(path)
	if h.Facts != uint64(b.facts) {
		return nil, fmt.Errorf("checkpoint holds %d facts, want %d", h.Facts, b.facts)
	}
	b.state = st

	n := float64(b.facts)
	r.LoadSeconds = wall.Seconds()
	r.PerSecond = n / wall.Seconds()
	r.RSSBytesPerFact = float64(after.RSS) / n
	r.HeapBytesPerFact = float64(after.Heap) / n
	r.Detail["cpu_seconds"] = cpu.Seconds()
	r.Detail["facts_per_cpu_second"] = n / cpu.Seconds()
	r.Detail["file_bytes"] = float64(stats.Bytes)
	r.Detail["rss_bytes"] = float64(after.RSS)
	r.Detail["heap_bytes"] = float64(after.Heap)
	r.Detail["rss_before_load_bytes"] = float64(before.RSS)
	r.Detail["rss_delta_bytes_per_fact"] = (float64(after.RSS) - float64(before.RSS)) / n
	r.Detail["heap_delta_bytes_per_fact"] = (float64(after.Heap) - float64(before.Heap)) / n
	if peak > 0 {
		r.Detail["peak_rss_during_load_bytes"] = float64(peak)
	}
	r.metric("rate", r.PerSecond, "facts/s")
	r.metric("rate per CPU second", n/cpu.Seconds(), "facts/s")
	r.metric("seconds", r.LoadSeconds, "s")
	r.metric("RSS/fact", r.RSSBytesPerFact, "B")
	r.metric("RSS growth/fact", r.Detail["rss_delta_bytes_per_fact"], "B")
	r.metric("heap/fact", r.HeapBytesPerFact, "B")
	r.metric("file/fact", float64(stats.Bytes)/n, "B")
	b.logf("load: %.2fs (%.0f facts/s, %.0f per CPU second), RSS %.0f B/fact, heap %.0f B/fact, file %d bytes",
		wall.Seconds(), r.PerSecond, n/cpu.Seconds(), r.RSSBytesPerFact, r.HeapBytesPerFact, stats.Bytes)
	return []Result{r}, ctx.Err()
}
