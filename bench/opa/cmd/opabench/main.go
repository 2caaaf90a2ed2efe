// Command opabench measures OPA on Outpost's gitclub data sets: load time,
// memory per fact, in-process authorize and list latency, and (with -http)
// OPA's REST server under a keep-alive load. Every answer OPA gives on a
// sample of questions is checked against datasets.Reference before anything
// is timed. See ../../README.md for the commands and results.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-authz/outpost/bench/opa/gitclub"
)

// config is everything the flags choose.
type config struct {
	facts        []int
	seed         int64
	store        gitclub.StoreMode
	queries      int
	listQueries  int
	verify       int
	http         bool
	httpDuration time.Duration
	httpWarmup   time.Duration
	httpConc     int
	out          string
	cpuProfile   string
	tmpDir       string
	runs         int
}

func main() {
	var cfg config
	var facts, store string
	flag.StringVar(&facts, "facts", "100000", "comma-separated data set sizes in facts (suffixes k and m allowed: 100k,1m)")
	flag.Int64Var(&cfg.seed, "seed", 1, "data set seed (datasets.Config.Seed)")
	flag.StringVar(&store, "store", "raw", "OPA in-memory store mode: raw (opa run's default) or ast (--optimize-store-for-read-speed)")
	flag.IntVar(&cfg.queries, "queries", 20_000, "timed in-process authorize evaluations per scenario")
	flag.IntVar(&cfg.listQueries, "list-queries", 200, "timed in-process list evaluations")
	flag.IntVar(&cfg.verify, "verify", 10_000, "sample questions checked against the reference before timing")
	flag.BoolVar(&cfg.http, "http", false, "also run OPA's REST server in-process and load it over HTTP")
	flag.DurationVar(&cfg.httpDuration, "http-duration", 10*time.Second, "measured duration of each HTTP scenario")
	flag.DurationVar(&cfg.httpWarmup, "http-warmup", 2*time.Second, "unmeasured warm-up before each HTTP scenario")
	flag.IntVar(&cfg.httpConc, "http-concurrency", 16, "concurrent keep-alive HTTP connections")
	flag.StringVar(&cfg.out, "out", "", "write the JSON report to this file")
	flag.StringVar(&cfg.tmpDir, "tmpdir", "", "directory for the temporary data.json (default: the system's)")
	flag.IntVar(&cfg.runs, "runs", 1, "repeat each timed scenario this many times and report the best run (lowest p50; HTTP: most req/s)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()

	var err error
	if cfg.facts, err = parseSizes(facts); err != nil {
		log.Fatalf("opabench: -facts: %v", err)
	}
	cfg.store = gitclub.StoreMode(store)
	if cfg.store != gitclub.StoreRaw && cfg.store != gitclub.StoreAST {
		log.Fatalf("opabench: -store must be raw or ast, not %q", store)
	}
	if cfg.queries <= 0 || cfg.listQueries <= 0 || cfg.verify <= 0 || cfg.httpConc <= 0 || cfg.runs <= 0 {
		log.Fatal("opabench: -queries, -list-queries, -verify, -http-concurrency and -runs must be positive")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		log.Fatalf("opabench: %v", err)
	}
}

func run(ctx context.Context, cfg config) error {
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep := newReport(cfg)
	fmt.Fprintf(os.Stderr, "opabench: OPA %s, %s, %s, %d cores, store %s\n",
		rep.EngineVersion, rep.GoVersion, rep.CPU, rep.Cores, rep.Store)
	for _, n := range cfg.facts {
		results, err := benchSize(ctx, cfg, n)
		for i := range results {
			results[i].Engine = rep.Engine
		}
		rep.Results = append(rep.Results, results...)
		if err != nil {
			return fmt.Errorf("%d facts: %w", n, err)
		}
	}
	rep.writeMarkdown(os.Stdout)
	if cfg.out != "" {
		if err := rep.writeJSON(cfg.out); err != nil {
			return err
		}
	}
	return nil
}

// parseSizes parses "100000,1m,10M" into fact counts.
func parseSizes(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.ToLower(strings.TrimSpace(strings.ReplaceAll(f, "_", "")))
		mult := 1
		switch {
		case strings.HasSuffix(f, "k"):
			mult, f = 1_000, strings.TrimSuffix(f, "k")
		case strings.HasSuffix(f, "m"):
			mult, f = 1_000_000, strings.TrimSuffix(f, "m")
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad size %q", f)
		}
		out = append(out, n*mult)
	}
	return out, nil
}
