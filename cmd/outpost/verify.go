package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/outpost-authz/outpost/internal/tlsfiles"
	"github.com/outpost-authz/outpost/query/verify"
)

// runVerify implements `outpost verify`: it samples a running node's facts,
// asks the node and its control plane (Oso, or the reference control plane)
// the same questions, prints every disagreement and exits 1 if there was
// any (or any question could not be compared), 0 when all agree.
func runVerify(ctx context.Context, args []string, env envLookup, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("outpost verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	get := func(name, def string) string {
		if v, ok := env(name); ok {
			return v
		}
		return def
	}
	port := get("OSO_PORT", "8080")
	nodeURL := fs.String("node-url", "http://127.0.0.1:"+port, "base URL of the node to verify")
	cpURL := fs.String("control-plane-url", get("OUTPOST_CONTROL_PLANE_URL", ""), "base URL of the control plane's Check API, e.g. https://api.osohq.com (env OUTPOST_CONTROL_PLANE_URL)")
	token := fs.String("api-token", get("OSO_API_TOKEN", ""), "API key for the control plane (env OSO_API_TOKEN)")
	nodeToken := fs.String("node-token", "", "API key for the node (default: --api-token)")
	n := fs.Int("questions", 200, "how many questions to ask")
	seed := fs.Uint64("seed", 0, "seed of the question generator (0: random)")
	asJSON := fs.Bool("json", false, "print every result as a JSON line")
	cpCA := fs.String("control-plane-ca-file", get("OUTPOST_CONTROL_PLANE_CA_FILE", ""), "PEM CAs to trust for an https:// control plane (default: system roots; env OUTPOST_CONTROL_PLANE_CA_FILE)")
	nodeCA := fs.String("node-ca-file", "", "PEM CAs to trust for an https:// node (default: system roots)")
	nodeCert := fs.String("node-cert-file", "", "client certificate (PEM) for a node that requires one (--tls-client-ca-file)")
	nodeKey := fs.String("node-key-file", "", "key (PEM) of --node-cert-file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *cpURL == "" || *n < 1 {
		fmt.Fprintln(stderr, "outpost verify: usage: outpost verify --control-plane-url URL [--node-url URL] [--api-token KEY] [--questions N]")
		return 2
	}
	if *nodeToken == "" {
		*nodeToken = *token
	}
	cpClient, err := verifyClient(*cpCA, "", "")
	var nodeClient *http.Client
	if err == nil {
		nodeClient, err = verifyClient(*nodeCA, *nodeCert, *nodeKey)
	}
	if err != nil {
		fmt.Fprintf(stderr, "outpost verify: %v\n", err)
		return 2
	}
	node := verify.HTTPAnswerer{URL: *nodeURL, Token: *nodeToken, Client: nodeClient}
	v, err := verify.New(verify.Config{
		Local:    node,
		Upstream: verify.HTTPAnswerer{URL: *cpURL, Token: *token, Client: cpClient},
		Sample: func(ctx context.Context, rng *rand.Rand) (verify.Sample, error) {
			return verify.SampleHTTP(ctx, node, rng)
		},
		Seed: *seed,
	})
	if err != nil {
		fmt.Fprintf(stderr, "outpost verify: %v\n", err)
		return 2
	}
	qs, err := v.Questions(ctx, *n)
	if err != nil {
		fmt.Fprintf(stderr, "outpost verify: %v\n", err)
		return 2
	}
	if len(qs) == 0 {
		fmt.Fprintln(stderr, "outpost verify: the node has no has_role facts to build questions from")
		return 2
	}
	counts := map[string]int{}
	enc := json.NewEncoder(stdout)
	for _, q := range qs {
		r := v.Check(ctx, q)
		counts[r.Outcome]++
		switch {
		case *asJSON:
			enc.Encode(r)
		case r.Outcome == verify.OutcomeMismatch:
			fmt.Fprintf(stdout, "MISMATCH %s: node %s (revision %s), control plane %s (revision %s)\n",
				q, show(q, r.Local), rev(r.Local.Revision), show(q, r.Upstream), rev(r.Upstream.Revision))
		case r.Outcome == verify.OutcomeError:
			fmt.Fprintf(stdout, "ERROR %s: %s\n", q, r.Error)
		}
	}
	fmt.Fprintf(stdout, "%d questions: %d match, %d mismatch, %d error\n", len(qs),
		counts[verify.OutcomeMatch], counts[verify.OutcomeMismatch], counts[verify.OutcomeError])
	if counts[verify.OutcomeMatch] != len(qs) {
		return 1
	}
	return 0
}

// verifyClient is an HTTP client trusting the CAs in caFile (system roots
// without one) and presenting the certificate in certFile and keyFile
// when given (tlsfiles.Client); errors name the file.
func verifyClient(caFile, certFile, keyFile string) (*http.Client, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("--node-cert-file and --node-key-file go together")
	}
	tc, err := tlsfiles.Client{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}.Config()
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}, nil
}

func show(q verify.Question, a verify.Answer) string {
	if q.Kind == verify.KindAuthorize {
		return strconv.FormatBool(a.Allowed)
	}
	b, _ := json.Marshal(a.Results)
	if a.Results == nil {
		b = []byte("[]")
	}
	return string(b)
}

func rev(r string) string {
	if r == "" {
		return "unknown"
	}
	return r
}
