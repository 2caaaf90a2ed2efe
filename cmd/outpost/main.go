// Command outpost is the Outpost node: a read-only, event-sourced replica
// that answers Oso's Check API. See README.md and docs/configuration.md.
//
//	outpost [serve] [flags]          serve (the default)
//	outpost --export FILE [flags]    write the current state to a checkpoint file
//	outpost --import FILE [flags]    serve, seeded from a checkpoint file
//	outpost inspect FILE             describe and verify a checkpoint file
//	outpost healthcheck [--url URL]  exit 0 when a node's /healthcheck answers 200
//	outpost test FILE...             run the test blocks of policy files
//	outpost verify [flags]           compare a node's answers with its control plane's
//	outpost version                  print version information
//	outpost help, -h, --help         print usage
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
		case "help":
			args = []string{"-h"}
		case "serve":
			args = args[1:]
		}
	}
	var out bytes.Buffer // the flag package's own messages and usage
	c, err := parseConfig(args, env, &out)
	if errors.Is(err, flag.ErrHelp) {
		stdout.Write(out.Bytes())
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "outpost: %v\n", err)
		fmt.Fprintf(stderr, "outpost: see outpost -h and docs/configuration.md\n")
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
		// the one line that says why the node stopped
		fmt.Fprintf(stderr, "outpost: %v\n", err)
		return 1
	}
	return 0
}

// usage prints the commands and every serve flag (fs.PrintDefaults).
func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, `Outpost %s: an authorization fallback node for Oso Cloud-compatible control planes.

Usage:
  outpost [serve] [flags]          serve the Check API (the default command)
  outpost --export FILE [flags]    write the current state to a checkpoint file
  outpost --import FILE [flags]    serve, starting from a checkpoint file if it is newest
  outpost test FILE.polar...       run the test blocks of policy files
  outpost inspect FILE             describe and verify a checkpoint file
  outpost verify [flags]           compare this node's answers with the control plane's
  outpost healthcheck [--url URL]  exit 0 when a node's /healthcheck answers 200
  outpost version                  print version information
  outpost help                     print this text

Every flag also reads an environment variable (shown after each flag); a
flag wins over its variable. docs/configuration.md describes each one.

Flags of serve:
`, version)
	fs.PrintDefaults()
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
