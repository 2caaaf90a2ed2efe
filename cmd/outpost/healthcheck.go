package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// runHealthcheck implements `outpost healthcheck`: it asks a node's
// /healthcheck and exits 0 when it answers 200. It exists for container
// HEALTHCHECKs on images without curl. Without --url it asks the address
// the node serves on, worked out as the node does (healthURL).
func runHealthcheck(ctx context.Context, args []string, env envLookup, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("outpost healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "health endpoint to ask (default: the node's own address and scheme, from its flags and environment)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for an answer")
	caFile := fs.String("ca-file", "", "PEM CAs to trust for an https:// URL (default: the node's own certificate, OUTPOST_TLS_CERT_FILE, else system roots)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	certFile, _ := env("OUTPOST_TLS_CERT_FILE")
	if *url == "" {
		*url, certFile = nodeHealth(procRoot, env)
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

// procRoot is the /proc directory of the process serving in a container
// (PID 1); tests replace it.
var procRoot = "/proc/1"

// healthURL is the /healthcheck URL of the node this healthcheck belongs
// to. In a container the node is PID 1: when that is an outpost process,
// its command line and environment are parsed exactly as it parsed them,
// so --port, --listen, OSO_PORT and OUTPOST_LISTEN are honoured whichever
// was used. Otherwise this process's own environment is used. A wildcard
// listen host (":8080", "0.0.0.0") is asked on 127.0.0.1.
func healthURL(proc string, env envLookup) string {
	u, _ := nodeHealth(proc, env)
	return u
}

// nodeHealth is healthURL and the node's TLS certificate file: with
// --tls-cert-file (or OUTPOST_TLS_CERT_FILE) the node serves https, and the
// healthcheck trusts exactly that certificate.
func nodeHealth(proc string, env envLookup) (url, certFile string) {
	var args []string
	if cmd, err := os.ReadFile(filepath.Join(proc, "cmdline")); err == nil {
		parts := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
		if len(parts) > 0 && filepath.Base(parts[0]) == "outpost" {
			args = parts[1:]
			if len(args) > 0 && args[0] == "serve" {
				args = args[1:]
			}
			if b, err := os.ReadFile(filepath.Join(proc, "environ")); err == nil {
				env = environLookup(b)
			}
		}
	}
	c, _ := parseConfig(args, env, io.Discard)
	listen, scheme := ":8080", "http"
	if c != nil {
		listen = c.Listen
		if c.TLSCertFile != "" {
			scheme, certFile = "https", c.TLSCertFile
		}
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		host, port = "", "8080"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/healthcheck", certFile
}

// environLookup reads a /proc/PID/environ (NUL-separated NAME=value).
func environLookup(b []byte) envLookup {
	m := map[string]string{}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			m[k] = v
		}
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}
