package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// runHealthcheck implements `outpost healthcheck`: it asks a node's
// /healthcheck and exits 0 when it answers 200. It exists for container
// HEALTHCHECKs on images without curl.
func runHealthcheck(ctx context.Context, args []string, env envLookup, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("outpost healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := 8080
	if v, ok := env("OSO_PORT"); ok {
		if p, err := strconv.Atoi(v); err == nil {
			port = p
		}
	}
	scheme := "http"
	certFile, _ := env("OUTPOST_TLS_CERT_FILE")
	if certFile != "" {
		scheme = "https"
	}
	url := fs.String("url", fmt.Sprintf("%s://127.0.0.1:%d/healthcheck", scheme, port), "health endpoint to ask")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for an answer")
	caFile := fs.String("ca-file", "", "PEM CAs to trust for an https:// URL (default: the node's own certificate, OUTPOST_TLS_CERT_FILE, else system roots)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	hc, err := healthcheckClient(*caFile, certFile)
	if err != nil {
		fmt.Fprintf(stderr, "outpost healthcheck: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", *url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "outpost healthcheck: %v\n", err)
		return 2
	}
	resp, err := hc.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "outpost healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "outpost healthcheck: %s answered %d: %s\n", *url, resp.StatusCode, body)
		return 1
	}
	fmt.Fprintf(stdout, "ok\n")
	return 0
}
