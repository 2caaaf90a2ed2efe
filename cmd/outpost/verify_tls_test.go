package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/internal/tlsfiles/tlstest"
)

// TestVerifyOverTLS: `outpost verify` reaches a node that serves https and
// requires client certificates, and a control plane behind https with a
// private CA (here a second node with the same policy and facts), given
// --node-ca-file, --node-cert-file/--node-key-file and
// --control-plane-ca-file; without the client certificate it fails
// clearly.
func TestVerifyOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlstest.NewCA("verify test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.WriteLeaf(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.WriteLeaf(t.TempDir(), "verifier")
	if err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(dir, "events.jsonl")
	facts := `{"env":"default","seq":2,"kind":"batch","inserts":[` +
		`{"predicate":"has_role","args":[{"type":"User","id":"ana"},{"type":"String","id":"admin"},{"type":"Repo","id":"r1"}]},` +
		`{"predicate":"has_role","args":[{"type":"User","id":"bo"},{"type":"String","id":"reader"},{"type":"Repo","id":"r2"}]}]}` + "\n"
	if err := os.WriteFile(events, []byte(facts), 0o600); err != nil {
		t.Fatal(err)
	}
	node := startTLSNode(t, io.Discard, "--events", events, "--tls-cert-file", srv.Cert, "--tls-key-file", srv.Key, "--tls-client-ca-file", srv.CA)
	upstream := startTLSNode(t, io.Discard, "--events", events, "--tls-cert-file", srv.Cert, "--tls-key-file", srv.Key)
	// Both nodes listen before they have applied the events: wait until
	// each serves both facts.
	pair, err := tls.LoadX509KeyPair(client.Cert, client.Key)
	if err != nil {
		t.Fatal(err)
	}
	hc := tlsClient(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{pair}})
	for _, base := range []string{node, upstream} {
		eventually(t, 10*time.Second, func() error {
			resp, err := hc.Get(base + "/api/facts?predicate=has_role")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || strings.Count(string(b), `"predicate"`) != 2 {
				return fmt.Errorf("%s: %d %s", base, resp.StatusCode, b)
			}
			return nil
		})
	}

	verifyCmd := func(extra ...string) (int, string) {
		var out, errOut bytes.Buffer
		args := append([]string{"verify", "--node-url", node, "--control-plane-url", upstream, "--questions", "20", "--seed", "5",
			"--node-ca-file", srv.CA, "--control-plane-ca-file", srv.CA}, extra...)
		code := run(t.Context(), args, func(string) (string, bool) { return "", false }, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := verifyCmd("--node-cert-file", client.Cert, "--node-key-file", client.Key); code != 0 || !strings.Contains(out, "20 questions: 20 match") {
		t.Errorf("verify over TLS with a client certificate: exit %d\n%s", code, out)
	}
	if code, out := verifyCmd(); code != 2 || !strings.Contains(out, "requires a client certificate") {
		t.Errorf("verify without the client certificate: exit %d, want 2 naming the certificate\n%s", code, out)
	}
	if code, out := verifyCmd("--node-cert-file", client.Cert); code != 2 || !strings.Contains(out, "go together") {
		t.Errorf("verify with a certificate and no key: exit %d\n%s", code, out)
	}
}
