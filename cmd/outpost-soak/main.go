// Command outpost-soak runs the soak test of testenv/soak: a control plane
// with embedded NATS, two outpost nodes, mixed checks at half of measured
// capacity, continuous writes, checkpoints, one node restart halfway, a row
// of figures every interval and a digest comparison at the end. It exits 1
// when the run had errors or the digests differ, 2 on bad flags.
//
//	outpost-soak [-bin bin] [-duration 10m] [-interval 30s] [-facts 100000] [-rate 0] [-md FILE] [-keep]
//
// SOAK_DURATION sets the default of -duration (`make soak SOAK_DURATION=2m`).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/outpost-authz/outpost/testenv/soak"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("outpost-soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := 10 * time.Minute
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintf(stderr, "outpost-soak: SOAK_DURATION=%q is not a duration (e.g. 2m)\n", v)
			return 2
		}
		def = d
	}
	var c soak.Config
	var md string
	fs.StringVar(&c.BinDir, "bin", "bin", "directory holding the outpost and outpost-controlplane binaries")
	fs.StringVar(&c.WorkDir, "dir", "", "work directory for data and logs (default: a temporary one, removed after a passing run)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the temporary work directory")
	fs.DurationVar(&c.Duration, "duration", def, "how long the load runs (env SOAK_DURATION)")
	fs.DurationVar(&c.Interval, "interval", 30*time.Second, "time between report rows")
	fs.IntVar(&c.Facts, "facts", 100_000, "gitclub facts seeded into the control plane")
	fs.Float64Var(&c.Rate, "rate", 0, "checks/s over all nodes (0: half of the capacity measured first)")
	fs.DurationVar(&c.MeasureFor, "measure", 5*time.Second, "how long to measure capacity")
	fs.IntVar(&c.Workers, "workers", 64, "checks in flight at most")
	fs.DurationVar(&c.WriteEvery, "write-every", 100*time.Millisecond, "pause between writes")
	fs.DurationVar(&c.PolicyEvery, "policy-every", 2*time.Minute, "pause between policy changes")
	fs.DurationVar(&c.CheckpointInterval, "checkpoint-interval", 30*time.Second, "the nodes' checkpoint interval")
	fs.DurationVar(&c.Warmup, "warmup", 5*time.Minute, "excluded from the RSS verdict (at most half the duration)")
	fs.StringVar(&md, "md", "", "also write the report as Markdown to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "outpost-soak: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	c.Out = stdout
	rep, err := soak.Run(ctx, c)
	if rep == nil {
		fmt.Fprintf(stderr, "outpost-soak: %v\n", err)
		return 2
	}
	out := rep.Markdown()
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, out)
	if md != "" {
		if werr := os.WriteFile(md, []byte(out), 0o644); werr != nil {
			fmt.Fprintf(stderr, "outpost-soak: %v\n", werr)
		}
	}
	if err != nil || !rep.Passed {
		if rep.WorkDir != "" {
			fmt.Fprintf(stderr, "outpost-soak: FAILED; data and logs are in %s\n", rep.WorkDir)
		}
		return 1
	}
	fmt.Fprintln(stdout, "soak: PASSED")
	return 0
}
