// Command outpost is the Outpost node: a read-only, event-sourced replica
// that answers Oso's Check API. See README.md and docs/configuration.md.
//
//	outpost [flags]            serve
//	outpost test FILE...       run the test blocks of policy files
//	outpost version            print version information
package main

import (
	"fmt"
	"io"
	"os"
)

// Set by the linker (see Makefile).
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "test":
			return runTests(args[1:], stdout, stderr)
		case "version":
			printVersion(stdout)
			return 0
		}
	}
	fmt.Fprintln(stderr, "outpost: serve mode is not built yet; use `outpost test FILE...` or `outpost version`")
	return 2
}
