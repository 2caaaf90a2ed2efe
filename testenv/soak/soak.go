package soak

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/outpost-authz/outpost/testenv/controlplane"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// Run performs a soak run and returns its report. The error is about the
// harness (a process that does not start, ctx cancelled); a run that
// completes returns a Report whose Passed says how it went.
func Run(ctx context.Context, c Config) (*Report, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	dir := c.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "outpost-soak-")
		if err != nil {
			return nil, err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rep := &Report{Config: c, WorkDir: dir, Started: time.Now(), CPUs: runtime.NumCPU(), LoadBefore: loadAvg()}
	rep.Machine = machine()
	logf := func(format string, args ...any) {
		fmt.Fprintf(c.Out, "[%6.1fs] %s\n", time.Since(rep.Started).Seconds(), fmt.Sprintf(format, args...))
	}
	r := &run{c: c, dir: dir, rep: rep, logf: logf}
	err := r.run(ctx)
	if err != nil {
		rep.Failures = append(rep.Failures, err.Error())
	}
	rep.Passed = len(rep.Failures) == 0
	if rep.Passed && c.WorkDir == "" && !c.Keep {
		os.RemoveAll(dir)
		rep.WorkDir = ""
	}
	return rep, err
}

type run struct {
	c    Config
	dir  string
	rep  *Report
	logf func(string, ...any)

	cp     *controlPlane
	nodes  []*node
	lastAt time.Duration // of the last row
}

func (r *run) run(ctx context.Context) error {
	c, rep, logf := r.c, r.rep, r.logf
	defer r.stopAll()

	logf("starting the control plane (embedded NATS) and seeding %d gitclub facts", c.Facts)
	cp, err := startControlPlane(ctx, c, r.dir)
	if err != nil {
		return err
	}
	r.cp = cp
	cpc := controlplane.NewClient(cp.url, cp.writeKey)
	cst, err := cpc.Status(env)
	if err != nil {
		return fmt.Errorf("control plane status: %w", err)
	}
	logf("control plane %s, NATS %s, seq %d, %d facts", cp.url, cp.natsURL, cst.Seq, cst.Facts)

	for _, name := range []string{"node-a", "node-b"} {
		n, err := newNode(c, r.dir, name, cp)
		if err != nil {
			return err
		}
		r.nodes = append(r.nodes, n)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(r.nodes))
	for i, n := range r.nodes {
		wg.Go(func() { errs[i] = n.start(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, n := range r.nodes {
		if _, err := n.waitCaughtUp(ctx, cst.Seq, time.Minute); err != nil {
			return err
		}
		logf("%s serving at %s (pid %d)", n.name, n.url, n.proc().pid())
	}

	checks, err := buildChecks(c.Facts)
	if err != nil {
		return err
	}
	cl := newClient(cp.readKey, c.Workers)
	if err := baseline(ctx, cl, r.nodes[0], checks); err != nil {
		return err
	}
	rot := &rotation{}
	rot.set(r.nodes...)
	rate := c.Rate
	if rate == 0 {
		capacity, err := measure(ctx, cl, rot, checks, 32, c.MeasureFor)
		if err != nil {
			return fmt.Errorf("measure capacity: %w", err)
		}
		rep.Capacity = capacity
		rate = capacity / 2
		logf("capacity %.0f checks/s (closed loop, 32 in flight, %v); running at half: %.0f/s", capacity, c.MeasureFor, rate)
	}
	rep.Rate = rate

	shape := datasets.MustDescribe(datasets.Config{Facts: c.Facts, Seed: 1})
	st := &stats{}
	w := &writer{cp: cpc, logID: cst.LogID, cl: cl, rot: rot, st: st, repos: shape.Repos, groups: shape.Groups,
		every: c.WriteEvery, policy: c.PolicyEvery}

	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var bg sync.WaitGroup
	bg.Go(func() { runLoad(lctx, cl, rot, checks, rate, c.Workers, st) })
	bg.Go(func() { w.run(lctx) })

	start := time.Now()
	rep.LoadStarted = start
	logf("load and writes running for %v; a row every %v", c.Duration, c.Interval)
	fmt.Fprintln(c.Out, rowHeader())
	tick := time.NewTicker(c.Interval)
	defer tick.Stop()
	end := time.NewTimer(c.Duration)
	defer end.Stop()
	var restart <-chan time.Time
	if c.RestartAt > 0 && c.RestartAt < c.Duration {
		t := time.NewTimer(c.RestartAt)
		defer t.Stop()
		restart = t.C
	}
	restartDone := make(chan string, 1)
	event := ""
loop:
	for {
		select {
		case <-ctx.Done():
			stopLoad()
			bg.Wait()
			return ctx.Err()
		case <-restart:
			restart = nil
			bg.Go(func() { restartDone <- r.restartNode(lctx, rot, cpc) })
		case e := <-restartDone:
			event = strings.TrimSpace(event + " " + e)
		case <-tick.C:
			row := r.sample(ctx, time.Since(start), st, cpc)
			row.Event, event = event, ""
			rep.Rows = append(rep.Rows, row)
			fmt.Fprintln(c.Out, row.line())
			for _, s := range row.Samples {
				logf("  %s", s)
			}
		case <-end.C:
			break loop
		}
	}
	stopLoad()
	bg.Wait()
	if time.Since(start)-r.lastAt > c.Interval/3 {
		row := r.sample(ctx, time.Since(start), st, cpc)
		row.Event = event
		rep.Rows = append(rep.Rows, row)
		fmt.Fprintln(c.Out, row.line())
	}
	rep.LoadEnded = time.Now()
	rep.LoadAfter = loadAvg()
	rep.Writes, rep.Policies = 0, w.policies
	for _, row := range rep.Rows {
		rep.Checks += row.Checks
		rep.Errors += row.Errors()
		rep.Writes += row.Writes
		rep.RYWStale += row.RYWStale
		rep.Late += row.Late
	}
	if rep.Errors > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d errors during the run", rep.Errors))
	}
	r.finish(ctx, cpc)
	return nil
}

// restartNode takes the last node out of rotation, stops it gracefully,
// restarts it from its data directory, waits until it has caught up with
// the control plane and puts it back. It returns the row event.
func (r *run) restartNode(ctx context.Context, rot *rotation, cpc *controlplane.Client) string {
	n := r.nodes[len(r.nodes)-1]
	rot.set(r.nodes[:len(r.nodes)-1]...)
	time.Sleep(time.Second) // let checks in flight to it finish, as a load balancer drains
	t0 := time.Now()
	old := n.proc()
	if err := old.stop(30 * time.Second); err != nil {
		r.fail("restart %s: graceful stop: %v", n.name, err)
	}
	stopped := time.Since(t0)
	if err := n.start(ctx); err != nil {
		r.fail("restart %s: %v", n.name, err)
		return n.name + " restart FAILED"
	}
	healthy := time.Since(t0)
	cst, err := cpc.Status(env)
	if err == nil {
		_, err = n.waitCaughtUp(ctx, cst.Seq, time.Minute)
	}
	if err != nil {
		r.fail("restart %s: catch up: %v", n.name, err)
		return n.name + " restart FAILED"
	}
	ns, _ := n.status(ctx)
	rot.set(r.nodes...)
	r.rep.Restart = fmt.Sprintf("%s: stopped in %v (exit 0), healthy again after %v (loaded from %s), caught up and back in rotation after %v",
		n.name, stopped.Round(time.Millisecond), healthy.Round(time.Millisecond), ns.Node.LoadedFrom, time.Since(t0).Round(time.Millisecond))
	if ns.Node.LoadedFrom != "checkpoint" {
		r.fail("restart %s: loaded from %q, want its own checkpoint", n.name, ns.Node.LoadedFrom)
	}
	r.logf("restart: %s", r.rep.Restart)
	return n.name + " restarted"
}

func (r *run) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.logf("FAIL: %s", msg)
	r.rep.mu.Lock()
	r.rep.Failures = append(r.rep.Failures, msg)
	r.rep.mu.Unlock()
}

// sample takes the interval's figures and the processes' memory.
func (r *run) sample(ctx context.Context, at time.Duration, st *stats, cpc *controlplane.Client) Row {
	iv := st.take()
	row := Row{At: at, Span: at - r.lastAt, interval: iv, Load: loadAvg()}
	r.lastAt = at
	for _, n := range r.nodes {
		ns := NodeSample{Name: n.name}
		p := n.proc()
		ns.PID = p.pid()
		if rss, err := rssBytes(ns.PID); err == nil {
			ns.RSS = rss
		}
		if m, err := n.metrics(ctx, "go_memstats_next_gc_bytes", "go_gc_gogc_percent", "go_goroutines", "outpost_checkpoint_duration_seconds_count", "outpost_checkpoint_failures_total"); err == nil {
			// the GC's next goal is (1 + GOGC/100) × the heap live after
			// the last collection: a steadier figure than heap in use
			if gogc := m["go_gc_gogc_percent"]; gogc > 0 {
				ns.Heap = int64(m["go_memstats_next_gc_bytes"] * 100 / (100 + gogc))
			}
			ns.Goroutines = int(m["go_goroutines"])
			ns.Checkpoints = int(m["outpost_checkpoint_duration_seconds_count"])
			ns.CheckpointFailures = int(m["outpost_checkpoint_failures_total"])
		}
		if s, err := n.status(ctx); err == nil {
			ns.Revision = s.Revision
		}
		row.Nodes = append(row.Nodes, ns)
	}
	if rss, err := rssBytes(r.cp.pid()); err == nil {
		row.CPRSS = rss
	}
	if s, err := cpc.Status(env); err == nil {
		row.CPSeq = s.Seq
	}
	return row
}

// finish waits for the nodes to reach the control plane's head, compares
// digests, stops every process gracefully and counts error log lines.
func (r *run) finish(ctx context.Context, cpc *controlplane.Client) {
	rep := r.rep
	cst, err := cpc.Status(env)
	if err != nil {
		r.fail("final control plane status: %v", err)
		return
	}
	rep.CPSeq, rep.CPDigest = cst.Seq, cst.Digest
	for _, n := range r.nodes {
		ns, err := n.waitCaughtUp(ctx, cst.Seq, time.Minute)
		rep.Final = append(rep.Final, FinalNode{Name: n.name, Revision: ns.Revision, Digest: ns.Digest, Facts: ns.Facts})
		switch {
		case err != nil:
			r.fail("%v", err)
		case ns.Revision != cst.Seq || ns.Digest != cst.Digest:
			r.fail("%s: revision %d digest %s, control plane seq %d digest %s", n.name, ns.Revision, ns.Digest, cst.Seq, cst.Digest)
		}
	}
	r.logf("control plane seq %d digest %s; nodes: %v", cst.Seq, cst.Digest, rep.Final)
	r.stopAll()
	for _, n := range r.nodes {
		e, w := countLogLevels(n.log)
		rep.NodeErrorLines += e
		rep.NodeWarnLines += w
	}
	if r.cp != nil {
		e, w := countLogLevels(filepath.Join(r.dir, "controlplane.log"))
		rep.CPErrorLines, rep.CPWarnLines = e, w
	}
	if rep.NodeErrorLines+rep.CPErrorLines > 0 {
		r.fail("%d error lines in the node logs, %d in the control plane's (see %s)", rep.NodeErrorLines, rep.CPErrorLines, r.dir)
	}
}

// stopAll stops the nodes, then the control plane, gracefully; a process
// that exits non-zero is a failure. Calling it again does nothing.
func (r *run) stopAll() {
	for _, n := range r.nodes {
		if p := n.proc(); p != nil && !p.exited() {
			if err := p.stop(30 * time.Second); err != nil {
				r.fail("stop %s: %v", n.name, err)
			}
		}
	}
	if r.cp != nil && !r.cp.exited() {
		if err := r.cp.stop(30 * time.Second); err != nil {
			r.fail("stop control plane: %v", err)
		}
	}
}

// countLogLevels counts ERROR and WARN lines of a JSON (node) or text
// (control plane) slog log.
func countLogLevels(path string) (errs, warns int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, "level=ERROR"):
			errs++
		case strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, "level=WARN"):
			warns++
		}
	}
	return errs, warns
}

// machine describes the host: CPU model and count, memory.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]); len(f) >= 2 {
			var kb int64
			fmt.Sscan(f[1], &kb)
			mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%s, %d CPUs%s, %s/%s, %s", model, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
