// Command outpost-bench measures Outpost against the targets of DESIGN.md
// §10 on the synthetic gitclub data set (testenv/datasets, seed 1) and
// writes a markdown table (scenario, facts, metric, value, target, met?) and
// a JSON report whose field names match bench/opa's.
//
//	outpost-bench [-scenarios load,check,http,ingest,lag,checkpoint,writes]
//	    [-facts 100000,1000000] [-out results.json] [-md results.md]
//	    [-duration 5s] [-iterations 20000] [-lag-writes 200] [-tmp DIR]
//	    [-cpuprofile FILE] [-pprof-dir DIR]
//
// Scenarios, each run once per data set size:
//
//	load        write a checkpoint of the data set, then time snapshotter.Read
//	            of it: facts/s (wall and CPU), RSS and heap per fact
//	check       in-process query.Engine: authorize (direct, inherit, denied,
//	            a 4,096-question mix), list, actions; uncached and cached
//	http        the Check API over real keep-alive connections from a Go
//	            client in the same process at concurrency 1, 4, 16 and 64,
//	            then open-loop at half the peak; then pinned: the server in
//	            a child process on core 0 (taskset), wrk (else a Go client
//	            child) on core 1, 16 connections, the node cached and
//	            uncached against a minimal net/http handler in the same run
//	ingest      a Runner applying a backlog of 100-fact events from poll,
//	            Kafka and NATS
//	lag         control plane write → visible on a node, per source
//	checkpoint  checkpoint write time, and query p99 while writing vs idle
//	writes      authorize p99 while a writer applies 50k facts/s of 100-fact
//	            events to the same state vs idle (writes.go)
//	hierarchy   deep folder trees, chains and nested groups (hierarchy.go;
//	            only when named in -scenarios)
//	isolation   authorize p99 while four cross-product queries run
//	            (hierarchy.go; only when named in -scenarios)
//
// Missed targets never change the exit status; only errors (a failed
// component, a wrong answer, a timeout) do. See docs/performance.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/outpost-authz/outpost/internal/memtune"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, child := runChild(ctx, os.Args[1:], os.Stdout, os.Stderr) // pinned.go
	if !child {
		code = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	os.Exit(code)
}

// allScenarios in the order they run. writes comes before checkpoint,
// whose back-to-back checkpoint files leave the disk writing back for a
// while.
var allScenarios = []string{"load", "check", "http", "writes", "checkpoint", "ingest", "lag", "hierarchy", "isolation"}

// defaultScenarios run without -scenarios: DESIGN.md §10. hierarchy and
// isolation (issues #15, #17) run when named.
var defaultScenarios = allScenarios[:7]

type config struct {
	scenarios    []string
	facts        []int
	out, md      string
	duration     time.Duration // per HTTP level, and the minimum checkpoint window
	warmup       time.Duration // unmeasured start of each HTTP run
	iterations   int           // timed calls per in-process check
	lagWrites    int
	tmpDir       string
	timeout      time.Duration
	seed         int64
	log          io.Writer
	pprofDir     string // CPU profiles of the pinned HTTP server
	cpuProfile   string // CPU profile of this process, the whole run
	pinnedRounds int    // rounds of the pinned HTTP comparison
	loadGen      string // auto (wrk when installed), wrk or go
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("outpost-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scen := fs.String("scenarios", strings.Join(defaultScenarios, ","), "comma-separated `list` of scenarios (also: hierarchy, isolation)")
	facts := fs.String("facts", "100000,1000000", "comma-separated data set `sizes` in facts")
	c := config{log: stderr, seed: 1}
	fs.StringVar(&c.out, "out", "", "write the JSON report to `file`")
	fs.StringVar(&c.md, "md", "", "write the markdown table to `file` (it is always printed)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "measured duration of each HTTP run")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured warm-up before each HTTP run")
	fs.IntVar(&c.iterations, "iterations", 20_000, "timed calls per in-process check (list: 1/100 of it, at least 20)")
	fs.IntVar(&c.lagWrites, "lag-writes", 200, "control plane writes timed by the lag scenario")
	fs.StringVar(&c.tmpDir, "tmp", "", "`directory` for checkpoints, event logs and broker data (default: the system's)")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Hour, "give up after this long")
	fs.IntVar(&c.pinnedRounds, "pinned-rounds", 5, "rounds of the pinned HTTP comparison (each round: minimal, minimal with headers, then the node uncached and cached on each question set); medians are reported")
	fs.StringVar(&c.loadGen, "load-generator", "auto", "pinned HTTP load generator: auto (wrk when installed, else go), wrk or go")
	fs.StringVar(&c.pprofDir, "pprof-dir", "", "write CPU profiles of the pinned HTTP server's runs to `directory`")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (every in-process scenario) to `file`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var err error
	if c.scenarios, err = parseScenarios(*scen); err == nil {
		c.facts, err = parseSizes(*facts)
	}
	if err == nil && (c.duration <= 0 || c.iterations <= 0 || c.lagWrites <= 0 || c.pinnedRounds <= 0) {
		err = errors.New("-duration, -iterations, -lag-writes and -pinned-rounds must be positive")
	}
	if err == nil && c.loadGen != "auto" && c.loadGen != "wrk" && c.loadGen != "go" {
		err = fmt.Errorf("-load-generator %q: want auto, wrk or go", c.loadGen)
	}
	if err != nil {
		fmt.Fprintln(stderr, "outpost-bench:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "outpost-bench: -cpuprofile:", err)
			return 2
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	// The in-process scenarios measure a node's parts, so they run under
	// the node's memory policy (collector target, soft limit), as the
	// pinned server child does; GOGC and GOMEMLIMIT still override it.
	if _, err := memtune.Apply(memtune.Config{}); err != nil {
		fmt.Fprintln(stderr, "outpost-bench:", err)
		return 2
	}
	rep := newReport(c.seed, args)
	err = runAll(ctx, &c, rep)
	rep.LoadAvgEnd = loadAvg()
	for i := range rep.Results {
		judge(&rep.Results[i])
	}
	rep.writeMarkdown(stdout)
	if werr := writeOutputs(&c, rep); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		fmt.Fprintln(stderr, "outpost-bench:", err)
		return 1
	}
	return 0
}

// runAll runs every scenario on every size, appending results as they come
// so that a failure still reports what was measured before it.
func runAll(ctx context.Context, c *config, rep *Report) error {
	for _, n := range c.facts {
		b, err := newBench(c, n)
		if err != nil {
			return err
		}
		err = b.runScenarios(ctx, func(rs ...Result) { rep.Results = append(rep.Results, rs...) })
		b.close()
		if err != nil {
			return fmt.Errorf("%d facts: %w", n, err)
		}
	}
	return nil
}

func writeOutputs(c *config, rep *Report) error {
	if c.out != "" {
		if err := rep.writeJSON(c.out); err != nil {
			return err
		}
	}
	if c.md != "" {
		f, err := os.Create(c.md)
		if err != nil {
			return fmt.Errorf("write markdown: %w", err)
		}
		rep.writeMarkdown(f)
		if err := f.Close(); err != nil {
			return fmt.Errorf("write markdown: %w", err)
		}
	}
	return nil
}

func parseScenarios(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(allScenarios, p) {
			return nil, fmt.Errorf("unknown scenario %q (want some of %s)", p, strings.Join(allScenarios, ","))
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("no scenarios")
	}
	return out, nil
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(strings.ReplaceAll(p, "_", ""))
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 2000 {
			return nil, fmt.Errorf("bad size %q: want a number of facts ≥ 2000", p)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no sizes")
	}
	return out, nil
}
