// Command outpost is the Outpost node: a read-only, event-sourced replica
// that answers Oso's Check API. See README.md and docs/configuration.md.
//
//	outpost [flags]                  serve (the default)
//	outpost --export FILE [flags]    write the current state to a checkpoint file
//	outpost --import FILE [flags]    serve, seeded from a checkpoint file
//	outpost inspect FILE             describe and verify a checkpoint file
//	outpost healthcheck [--url URL]  exit 0 when a node's /healthcheck answers 200
//	outpost test FILE...             run the test blocks of policy files
//	outpost verify [flags]           compare a node's answers with its control plane's
//	outpost version                  print version information
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Set by the linker (see Makefile).
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], osEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, env envLookup, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "test":
			return runTests(args[1:], stdout, stderr)
		case "inspect":
			return runInspect(args[1:], stdout, stderr)
		case "healthcheck":
			return runHealthcheck(ctx, args[1:], env, stdout, stderr)
		case "verify":
			return runVerify(ctx, args[1:], env, stdout, stderr)
		case "version":
			printVersion(stdout)
			return 0
		}
	}
	c, err := parseConfig(args, env, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "outpost: %v\n", err)
		return 2
	}
	if c.PolicyFile != "" {
		// A missing or bad --policy or --events file is one line naming the
		// file and the problem, exit 1 (#17 item 5).
		st, err := fromPolicyFile(c)
		if err != nil {
			fmt.Fprintf(stderr, "outpost: %s\n", oneLine(err.Error()))
			return 1
		}
		c.policyState = st
	}
	log := newLogger(stderr, c.LogLevel)
	if c.Export != "" {
		if err := export(ctx, c, log); err != nil {
			fmt.Fprintf(stderr, "outpost: export: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s\n", c.Export)
		return 0
	}
	if err := applyMemoryPolicy(c, env, log); err != nil {
		fmt.Fprintf(stderr, "outpost: %v\n", err)
		return 2
	}
	if err := serve(ctx, c, log, nil); err != nil {
		log.Error("outpost stopped", "err", err)
		fmt.Fprintf(stderr, "outpost: %v\n", err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch level {
	case "error":
		l = slog.LevelError
	case "warn":
		l = slog.LevelWarn
	case "debug":
		l = slog.LevelDebug
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// oneLine joins the lines of a multi-line message (a compiler's list of
// errors) with "; ".
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
