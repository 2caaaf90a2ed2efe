package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// The pinned HTTP measurement (DESIGN.md §11, issue #14): the server runs
// in a child process pinned to core 0 with taskset, the load generator
// (wrk when installed, else this binary's Go client) in another pinned to
// core 1, and a minimal net/http handler (reads the body, writes
// {"allowed":true}) is measured in the same run as the yardstick, with a
// second one that also sends the node's response headers. A load
// client sharing the server's cores measures the client; the ratio to the
// minimal handler is the figure that matters on a shared machine.

// pinnedConns is the load generator's keep-alive connections.
const pinnedConns = 16

// childServe and childLoad are the hidden first arguments of the child
// processes.
const (
	childServe = "_serve-pinned"
	childLoad  = "_load-pinned"
)

// serverInfo is the first line a pinned server child prints.
type serverInfo struct {
	Cached   string `json:"cached"`   // base URLs
	Uncached string `json:"uncached"` // engine without answer cache
	Minimal  string `json:"minimal"`
	Headers  string `json:"headers"` // the minimal handler with the node's response headers
	RSS      uint64 `json:"rss"`     // after load and a full GC
	Procs    int    `json:"gomaxprocs"`
}

// loadResult is one load generator run.
type loadResult struct {
	Requests int64   `json:"requests"`
	Seconds  float64 `json:"seconds"`
	Errors   int64   `json:"errors"` // non-2xx answers and socket errors
	P50US    float64 `json:"p50_us"`
	P99US    float64 `json:"p99_us"`
	// CPUSeconds is the server process's CPU time (user + system) during
	// the run: unlike the rate, CPU per request does not depend on how
	// much of its core the server got from the machine's other work.
	CPUSeconds float64 `json:"-"`
}

func (lr loadResult) cpuPerRequest() float64 {
	if lr.Requests == 0 {
		return 0
	}
	return lr.CPUSeconds / float64(lr.Requests)
}

// pidCPU is the CPU time (utime + stime) of pid so far, from
// /proc/PID/stat in clock ticks of 10 ms; 0 when unreadable.
func pidCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after it follow ") ".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // utime and stime are fields 14 and 15, 12 and 13 after ")"
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// pinning says how processes are pinned: cores "0" and "1" with taskset
// when there are two cores and taskset exists; otherwise not at all.
type pinning struct{ taskset string }

func newPinning() pinning {
	p, err := exec.LookPath("taskset")
	if err != nil || runtime.NumCPU() < 2 {
		return pinning{}
	}
	return pinning{taskset: p}
}

func (p pinning) label() string {
	if p.taskset == "" {
		return "unpinned (no taskset or one core)"
	}
	return "server on core 0, load generator on core 1 (taskset)"
}

// command runs name args on core (ignored when unpinned).
func (p pinning) command(ctx context.Context, core string, name string, args ...string) *exec.Cmd {
	if p.taskset == "" {
		return exec.CommandContext(ctx, name, args...)
	}
	return exec.CommandContext(ctx, p.taskset, append([]string{"-c", core, name}, args...)...)
}

// httpPinned runs the pinned comparison on the loaded state.
// questionSet is one workload of the pinned comparison; its node rows are
// http_pinned_uncached<suffix> and http_pinned_cached<suffix>.
type questionSet struct {
	suffix string
	reqs   []request
}

func (b *bench) httpPinned(ctx context.Context, sets []questionSet) ([]Result, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	st, err := b.loaded()
	if err != nil {
		return nil, err
	}
	cp := filepath.Join(b.dir, "pinned.checkpoint")
	if err := writeCheckpoint(cp, st); err != nil {
		return nil, err
	}
	defer os.Remove(cp)
	bodies := make([]string, len(sets))
	for i, set := range sets {
		bodies[i] = filepath.Join(b.dir, "pinned"+set.suffix+".bodies")
		if err := writeBodies(bodies[i], set.reqs); err != nil {
			return nil, err
		}
	}
	pin := newPinning()
	var wrk string
	switch b.c.loadGen {
	case "auto":
		wrk, _ = exec.LookPath("wrk")
	case "wrk":
		if wrk, err = exec.LookPath("wrk"); err != nil {
			return nil, fmt.Errorf("-load-generator wrk: %w", err)
		}
	}
	tool := "Go client"
	if wrk != "" {
		tool = "wrk"
	}
	b.logf("http pinned: %s; load generator %s, %d connections", pin.label(), tool, pinnedConns)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := pin.command(sctx, "0", self, childServe, "-checkpoint", cp)
	srv.Stderr = b.c.log
	stdin, err := srv.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start pinned server: %w", err)
	}
	defer func() {
		stdin.Close() // the child exits when its stdin closes
		srv.Wait()
	}()
	var info serverInfo
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &info)
	}
	if err != nil {
		return nil, fmt.Errorf("pinned server: %w (%q)", err, line)
	}
	// Every answer is checked once, over HTTP, before the timed runs.
	for _, base := range []string{info.Cached, info.Uncached} {
		cl := b.newClient(base+"/api/authorize", 1)
		for _, set := range sets {
			for _, rq := range set.reqs {
				if err := cl.do(rq); err != nil {
					cl.close()
					return nil, fmt.Errorf("pinned server %s: %w", base, err)
				}
			}
		}
		cl.close()
	}

	run := func(name, base, bodies string, sample *rssSampler, warmup time.Duration) (loadResult, error) {
		url := base + "/api/authorize"
		if warmup > 0 {
			if _, err := b.loadGen(ctx, pin, wrk, self, bodies, url, warmup); err != nil {
				return loadResult{}, err
			}
		}
		stopProfile := b.profile(ctx, info.Minimal, name)
		if sample != nil {
			sample.start(srv.Process.Pid)
		}
		cpu0 := pidCPU(srv.Process.Pid)
		lr, err := b.loadGen(ctx, pin, wrk, self, bodies, url, b.c.duration)
		lr.CPUSeconds = (pidCPU(srv.Process.Pid) - cpu0).Seconds()
		if sample != nil {
			sample.stop()
		}
		stopProfile()
		if err == nil && lr.Errors > 0 {
			err = fmt.Errorf("%s: %d of %d requests failed", name, lr.Errors, lr.Requests)
		}
		b.logf("http pinned %s: %.0f req/s, p50 %.0f µs, p99 %.0f µs, server CPU %.1f µs/request (%s)", name,
			float64(lr.Requests)/lr.Seconds, lr.P50US, lr.P99US, lr.cpuPerRequest()*1e6, tool)
		return lr, err
	}
	// Rounds alternate the servers so that the machine's changing load
	// falls on all of them; ratios are taken within a round, and the
	// medians reported. The minimal handlers get the first set's bodies.
	type server struct {
		name, url, bodies string
		node              bool
	}
	servers := []server{{"minimal", info.Minimal, bodies[0], false}, {"headers", info.Headers, bodies[0], false}}
	for i, set := range sets {
		servers = append(servers,
			server{"uncached" + set.suffix, info.Uncached, bodies[i], true},
			server{"cached" + set.suffix, info.Cached, bodies[i], true})
	}
	rss := &rssSampler{}
	runs := map[string][]loadResult{}
	warm := b.c.warmup
	for round := range b.c.pinnedRounds {
		for _, sv := range servers {
			var sample *rssSampler
			if sv.node {
				sample = rss
			}
			lr, err := run(sv.name, sv.url, sv.bodies, sample, warm)
			if err != nil {
				return nil, fmt.Errorf("round %d: %w", round+1, err)
			}
			runs[sv.name] = append(runs[sv.name], lr)
		}
		warm = 0
	}
	var out []Result
	for _, sv := range servers {
		out = append(out, pinnedResult(b.facts, "http_pinned_"+sv.name, runs[sv.name], runs["minimal"], sv.name != "minimal", tool, pin))
	}
	r := newResult("http_pinned_rss", b.facts)
	peak := rss.peak()
	r.Detail["rss_loaded_bytes"], r.Detail["rss_peak_under_load_bytes"] = float64(info.RSS), float64(peak)
	r.metric("RSS loaded", float64(info.RSS), "B")
	r.metric("RSS under load", float64(peak), "B")
	if info.RSS > 0 {
		r.metric("under load/loaded", float64(peak)/float64(info.RSS), "x")
	}
	b.logf("http pinned: server RSS %d MiB loaded, %d MiB peak under load", info.RSS>>20, peak>>20)
	return append(out, r), nil
}

// pinnedResult is one server's row group over the rounds: median rate,
// p50 and p99, and, with ratios, the medians of the per-round ratios to
// the minimal handler's run of the same round.
func pinnedResult(facts int, scenario string, lrs, base []loadResult, ratios bool, tool string, pin pinning) Result {
	r := newResult(scenario, facts)
	rate := func(lr loadResult) float64 { return float64(lr.Requests) / lr.Seconds }
	var rates, p50s, p99s, rr, pr, cpus, cr []float64
	var secs float64
	for i, lr := range lrs {
		rates, p50s, p99s = append(rates, rate(lr)), append(p50s, lr.P50US), append(p99s, lr.P99US)
		secs += lr.Seconds
		r.Errors += int(lr.Errors)
		if c := lr.cpuPerRequest(); c > 0 {
			cpus = append(cpus, c)
			if ratios && i < len(base) && base[i].cpuPerRequest() > 0 {
				cr = append(cr, base[i].cpuPerRequest()/c)
			}
		}
		if ratios && i < len(base) {
			rr = append(rr, rate(lr)/rate(base[i]))
			if base[i].P99US > 0 {
				pr = append(pr, lr.P99US/base[i].P99US)
			}
		}
	}
	r.Concurrency, r.DurationSeconds = pinnedConns, secs
	r.PerSecond = median(rates)
	r.P50NS, r.P99NS = int64(median(p50s)*1e3), int64(median(p99s)*1e3)
	r.Detail["rounds"] = float64(len(lrs))
	if tool == "wrk" {
		r.Detail["wrk"] = 1
	}
	if pin.taskset != "" {
		r.Detail["pinned"] = 1
	}
	r.metric("rate", r.PerSecond, "req/s")
	r.latencyMetrics()
	if len(rr) > 0 {
		r.metric("rate/minimal", median(rr), "x")
		r.Detail["rate_ratio_min"], r.Detail["rate_ratio_max"] = slices.Min(rr), slices.Max(rr)
	}
	if len(cpus) > 0 {
		r.metric("server CPU/request", median(cpus)*1e9, "ns")
	}
	if len(cr) > 0 {
		// The rate one whole core would give, relative to the minimal
		// handler's: the ratio of CPU per request. Less noisy than the
		// measured rates when the core is shared.
		r.metric("rate/minimal by CPU", median(cr), "x")
		r.Detail["cpu_ratio_min"], r.Detail["cpu_ratio_max"] = slices.Min(cr), slices.Max(cr)
	}
	if len(pr) > 0 {
		r.metric("p99/minimal", median(pr), "x")
		r.Detail["p99_ratio_min"], r.Detail["p99_ratio_max"] = slices.Min(pr), slices.Max(pr)
	}
	return r
}

// median of xs (not empty); the mean of the middle two for an even count.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// loadGen drives url for d with wrk (when installed) or the Go client,
// pinned to core 1.
func (b *bench) loadGen(ctx context.Context, pin pinning, wrk, self, bodies, url string, d time.Duration) (loadResult, error) {
	var cmd *exec.Cmd
	if wrk != "" {
		secs := max(1, int(d.Round(time.Second)/time.Second))
		cmd = pin.command(ctx, "1", wrk, "-t1", "-c"+strconv.Itoa(pinnedConns), "-d"+strconv.Itoa(secs)+"s",
			"--timeout", "10s", "-s", bodies+".lua", url)
	} else {
		cmd = pin.command(ctx, "1", self, childLoad, "-url", url, "-bodies", bodies,
			"-key", b.key, "-conns", strconv.Itoa(pinnedConns), "-duration", d.String())
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "OUTPOST_BENCH_KEY="+b.key)
	if err := cmd.Run(); err != nil {
		return loadResult{}, fmt.Errorf("load generator: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	// The result is the last line starting with '{'.
	var lr loadResult
	lines := bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if bytes.HasPrefix(lines[i], []byte("{")) {
			if err := json.Unmarshal(lines[i], &lr); err != nil {
				return lr, fmt.Errorf("load generator output %q: %w", lines[i], err)
			}
			if lr.Seconds <= 0 || lr.Requests == 0 {
				return lr, fmt.Errorf("load generator made no requests: %s", stdout.Bytes())
			}
			return lr, nil
		}
	}
	return lr, fmt.Errorf("load generator printed no result: %s %s", stdout.Bytes(), stderr.Bytes())
}

// profile fetches a CPU profile of the server child during a run into
// -pprof-dir; the returned func waits for it.
func (b *bench) profile(ctx context.Context, minimalBase, name string) func() {
	if b.c.pprofDir == "" {
		return func() {}
	}
	secs := max(1, int(b.c.duration/time.Second))
	path := filepath.Join(b.c.pprofDir, fmt.Sprintf("http-%s-%dk.pprof", name, b.facts/1000))
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, minimalBase+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), nil)
		if err != nil {
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.logf("profile %s: %v", name, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			b.logf("profile %s: %v", name, err)
			return
		}
		io.Copy(f, resp.Body)
		f.Close()
		b.logf("profile %s: %s", name, path)
	}()
	return func() { <-done }
}

// writeCheckpoint writes st as a checkpoint file for the server child.
func writeCheckpoint(path string, st *replica.State) error {
	v := st.Acquire()
	ex := v.Export()
	v.Release()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	_, err = snapshotter.Write(w, ex, snapshotter.Header{Env: benchEnv})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// writeBodies writes the request bodies one per line, and the wrk script
// cycling through them (bodies+".lua").
func writeBodies(path string, reqs []request) error {
	var lines, lua bytes.Buffer
	lua.WriteString("local bodies = {\n")
	for _, rq := range reqs {
		lines.Write(rq.body)
		lines.WriteByte('\n')
		lua.WriteString("[==[")
		lua.Write(rq.body)
		lua.WriteString("]==],\n")
	}
	lua.WriteString(wrkScript)
	if err := os.WriteFile(path, lines.Bytes(), 0o600); err != nil {
		return err
	}
	return os.WriteFile(path+".lua", lua.Bytes(), 0o600)
}

// wrkScript follows the bodies table; the key is read from the
// environment so that it is not written to disk.
const wrkScript = `}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("OUTPOST_BENCH_KEY")
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"seconds":%f,"errors":%d,"p50_us":%f,"p99_us":%f}\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`

// rssSampler samples a process's VmRSS every 50 ms while started.
type rssSampler struct {
	mu   sync.Mutex
	max  uint64
	quit chan struct{}
	done chan struct{}
}

func (s *rssSampler) start(pid int) {
	s.quit, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if v := pidRSS(pid); v > 0 {
				s.mu.Lock()
				s.max = max(s.max, v)
				s.mu.Unlock()
			}
			select {
			case <-s.quit:
				return
			case <-t.C:
			}
		}
	}()
}

func (s *rssSampler) stop() {
	close(s.quit)
	<-s.done
}

func (s *rssSampler) peak() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

// pidRSS reads VmRSS of pid in bytes.
func pidRSS(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
