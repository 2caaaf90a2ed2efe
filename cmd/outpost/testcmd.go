package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/outpost-authz/outpost/query/polar"
)

// runTests implements `outpost test FILE...`: every file is parsed and
// compiled on its own, then its test blocks run. The exit status is 1 when
// a test fails or a file does not compile, 2 for usage errors.
func runTests(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("outpost test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "print every assertion, not only failures")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: outpost test [-v] FILE.polar...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	failed, passed, broken := 0, 0, 0
	for _, name := range fs.Args() {
		src, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(stderr, "outpost test: %v\n", err)
			broken++
			continue
		}
		file, err := polar.Parse(name, string(src))
		if err == nil {
			var p *polar.Policy
			p, err = polar.Compile([]*polar.File{file}, polar.CompileOptions{})
			if err == nil {
				for _, w := range p.Warnings() {
					fmt.Fprintf(stdout, "WARN %s\n", w.Error())
				}
				f, ok := reportTests(stdout, name, p.RunTests(nil), *verbose)
				failed += f
				passed += ok
				continue
			}
		}
		fmt.Fprintf(stdout, "FAIL %s: the policy does not compile\n", name)
		fmt.Fprintln(stdout, indent(err.Error()))
		broken++
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed+broken)
	if failed > 0 || broken > 0 {
		return 1
	}
	return 0
}

func reportTests(w io.Writer, file string, results []polar.TestResult, verbose bool) (failed, passed int) {
	if len(results) == 0 {
		fmt.Fprintf(w, "?    %s: no test blocks\n", file)
	}
	for _, r := range results {
		if r.OK() {
			passed++
			fmt.Fprintf(w, "PASS %s: %s (%d/%d)\n", file, r.Name, r.Passed, r.Total)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s: %s (%d/%d)\n", file, r.Name, r.Passed, r.Total)
		for _, f := range r.Failures {
			fmt.Fprintf(w, "    %s:%d:%d: %s\n        %s\n", file, f.Pos.Line, f.Pos.Col, f.Assertion, f.Message)
		}
	}
	_ = verbose
	return failed, passed
}

func indent(s string) string {
	out := "    "
	for _, c := range s {
		out += string(c)
		if c == '\n' {
			out += "    "
		}
	}
	return out
}

func printVersion(w io.Writer) {
	goVersion := runtime.Version()
	if info, ok := debug.ReadBuildInfo(); ok && info.GoVersion != "" {
		goVersion = info.GoVersion
	}
	fmt.Fprintf(w, "outpost %s (commit %s, %s %s/%s)\n", version, commit, goVersion, runtime.GOOS, runtime.GOARCH)
}
