// Command outpost-chaos runs the fault-injecting TCP proxy of testenv/chaos
// in front of one upstream (typically the control plane), with its control
// API on a second address. It prints one line per address and runs until
// SIGINT or SIGTERM.
//
//	outpost-chaos -upstream HOST:PORT [-listen 127.0.0.1:0] [-control 127.0.0.1:0]
//	    [-mode pass|refuse|reset|delay|hang|http5xx] [-delay 2s] [-status 503] [-v]
//
// Output, for scripts that start it with port 0:
//
//	proxy http://127.0.0.1:40123 upstream=127.0.0.1:8081 mode=pass
//	control http://127.0.0.1:40124
//
// Switch modes with the control API, for example:
//
//	curl -X PUT -d '{"mode":"refuse"}' http://127.0.0.1:40124/mode
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/outpost-authz/outpost/testenv/chaos"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run starts the proxy and its control API and returns the exit status
// when ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("outpost-chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "proxy listen `address`")
	upstream := fs.String("upstream", "", "upstream `host:port` to forward to (required)")
	controlAddr := fs.String("control", "127.0.0.1:0", "control API listen `address`")
	mode := fs.String("mode", "pass", "initial `mode`: pass, refuse, reset, delay, hang or http5xx")
	delay := fs.Duration("delay", 0, "hold time of delay mode")
	status := fs.Int("status", 0, "status of http5xx mode (default 503)")
	verbose := fs.Bool("v", false, "log mode changes and upstream errors to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "outpost-chaos: unexpected arguments %q\n", fs.Args())
		return 2
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	cfg := chaos.Config{
		Listen:   *listen,
		Upstream: *upstream,
		Initial:  chaos.Setting{Mode: chaos.Mode(*mode), Delay: *delay, Status: *status},
		Logger:   logger,
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "outpost-chaos: %v\n", err)
		return 2
	}
	p, err := chaos.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "outpost-chaos: %v\n", err)
		return 1
	}
	defer p.Close()
	ln, err := net.Listen("tcp", *controlAddr)
	if err != nil {
		fmt.Fprintf(stderr, "outpost-chaos: control: listen: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: p.ControlHandler(), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "proxy %s upstream=%s mode=%s\n", p.URL(), p.Upstream(), p.Setting())
	fmt.Fprintf(stdout, "control http://%s\n", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(stderr, "outpost-chaos: control: %v\n", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-served
	return 0
}
