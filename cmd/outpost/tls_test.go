package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/internal/tlsfiles/tlstest"
)

// startTLSNode starts a node from a policy file with the given extra
// arguments and returns its https:// URL once it listens.
func startTLSNode(t *testing.T, log io.Writer, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	policy := filepath.Join(dir, "main.polar")
	if err := os.WriteFile(policy, []byte(lifecyclePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseConfig(append([]string{"--listen", "127.0.0.1:0", "--auth", "none", "--directory", filepath.Join(dir, "data"),
		"--policy", policy}, args...), env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, c, newLogger(log, "info"), func(a string) { addr <- a }) }()
	var url string
	select {
	case a := <-addr:
		url = "https://" + a
	case err := <-done:
		cancel()
		t.Fatalf("node did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
	})
	return url
}

// tlsClient makes a new connection (a new handshake) for every request.
func tlsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// writeLeaf writes a new certificate named cn for the node to certFile and
// keyFile the way rotation tools do: new files renamed over the old ones,
// the certificate first.
func writeLeaf(t *testing.T, ca *tlstest.CA, cn, certFile, keyFile string) {
	t.Helper()
	c, k, err := ca.Issue(cn)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{certFile, c}, {keyFile, k}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTLSListenerRotatesCertificateWhileServing(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlstest.NewCA("node test CA")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeLeaf(t, ca, "node-1", certFile, keyFile)
	var log syncLog
	url := startTLSNode(t, &log, "--tls-cert-file", certFile, "--tls-key-file", keyFile)
	trusting := tlsClient(&tls.Config{RootCAs: ca.Pool()})

	waitFor(t, 10*time.Second, func() bool {
		resp, err := trusting.Get(url + "/healthcheck")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	// clients keep connecting while the certificate is rotated on disk
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		seen     = map[string]int{}
		failures []string
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := trusting.Get(url + "/healthcheck")
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					seen[resp.TLS.PeerCertificates[0].Subject.CommonName]++
					if resp.StatusCode != 200 {
						failures = append(failures, resp.Status)
					}
					resp.Body.Close()
				}
				mu.Unlock()
			}
		}()
	}
	count := func(cn string) int {
		mu.Lock()
		defer mu.Unlock()
		return seen[cn]
	}
	waitFor(t, 10*time.Second, func() bool { return count("node-1") >= 20 })
	writeLeaf(t, ca, "node-2", certFile, keyFile)
	waitFor(t, 10*time.Second, func() bool { return count("node-2") >= 20 })
	stop.Store(true)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed during the rotation, first: %s", len(failures), failures[0])
	}
	t.Logf("answers by certificate: %v", seen)

	// /status reports the certificate served now
	resp, err := trusting.Get(url + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		TLS struct {
			Subject string `json:"subject"`
			Reloads int    `json:"reloads"`
		} `json:"tls"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.TLS.Subject != "CN=node-2" || st.TLS.Reloads != 1 {
		t.Fatalf("/status tls = %+v (%v), want CN=node-2 after 1 reload", st.TLS, err)
	}
	if !strings.Contains(log.String(), "tls: certificate reloaded") {
		t.Errorf("the reload was not logged:\n%s", log.String())
	}

	// TLS 1.1 and older are refused
	old := tlsClient(&tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11})
	if resp, err := old.Get(url + "/healthcheck"); err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1 client was served")
	}

	// `outpost healthcheck` checks a TLS node: pinned to the node's own
	// certificate file, or against a CA file
	caFile, err := ca.WriteCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, err := tlstest.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(dir, "other-ca.pem")
	if err := os.WriteFile(otherFile, other.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"pinned to the certificate file", []string{"--url", url + "/healthcheck"}, map[string]string{"OUTPOST_TLS_CERT_FILE": certFile}, 0},
		{"CA file", []string{"--url", url + "/healthcheck", "--ca-file", caFile}, nil, 0},
		{"wrong CA", []string{"--url", url + "/healthcheck", "--ca-file", otherFile}, nil, 1},
		{"another certificate file", []string{"--url", url + "/healthcheck"}, map[string]string{"OUTPOST_TLS_CERT_FILE": otherFile}, 1},
	} {
		t.Run("healthcheck "+tc.name, func(t *testing.T) {
			var out, errb strings.Builder
			if code := run(t.Context(), append([]string{"healthcheck"}, tc.args...), env(tc.env), &out, &errb); code != tc.want {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.want, errb.String())
			}
		})
	}
}

func TestTLSListenerClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlstest.NewCA("node test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.WriteLeaf(dir, "node")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.WriteLeaf(t.TempDir(), "app")
	if err != nil {
		t.Fatal(err)
	}
	other, err := tlstest.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.WriteLeaf(t.TempDir(), "stranger")
	if err != nil {
		t.Fatal(err)
	}
	url := startTLSNode(t, io.Discard, "--tls-cert-file", srv.Cert, "--tls-key-file", srv.Key, "--tls-client-ca-file", srv.CA)
	load := func(f tlstest.Files) []tls.Certificate {
		c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{c}
	}
	body := `{"actor_type":"User","actor_id":"u","action":"read","resource_type":"Repo","resource_id":"r"}`
	for _, tc := range []struct {
		name       string
		certs      []tls.Certificate
		path       string
		want       int // 0: the handshake fails
		wantInBody string
	}{
		{"client certificate: check", load(client), "/api/authorize", 200, `"allowed":false`},
		{"client certificate: status", load(client), "/status", 200, `"client_certificates":true`},
		{"no certificate: check", nil, "/api/authorize", 401, "requires a client certificate"},
		{"no certificate: metrics", nil, "/metrics", 401, "requires a client certificate"},
		{"no certificate: healthcheck", nil, "/healthcheck", 200, ""},
		{"another CA's certificate", load(stranger), "/healthcheck", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: ca.Pool()}
			if tc.certs != nil {
				// present the certificate even when the server's list of
				// CAs does not name its issuer
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tc.certs[0], nil }
			}
			hc := tlsClient(cfg)
			req, _ := http.NewRequest("GET", url+tc.path, nil)
			if tc.path == "/api/authorize" {
				req, _ = http.NewRequest("POST", url+tc.path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := hc.Do(req)
			if tc.want == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("served a client with a certificate from another CA: %d", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.wantInBody) {
				t.Fatalf("%d %s, want %d with %q", resp.StatusCode, b, tc.want, tc.wantInBody)
			}
		})
	}
}

// TestTLSListenerClientCARotation: replacing the client CA file switches
// which client certificates are accepted, without a restart.
func TestTLSListenerClientCARotation(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlstest.NewCA("node test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.WriteLeaf(dir, "node")
	if err != nil {
		t.Fatal(err)
	}
	oldCA, err := tlstest.NewCA("old client CA")
	if err != nil {
		t.Fatal(err)
	}
	newCA, err := tlstest.NewCA("new client CA")
	if err != nil {
		t.Fatal(err)
	}
	clientCAFile := filepath.Join(dir, "clients.pem")
	if err := os.WriteFile(clientCAFile, oldCA.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	url := startTLSNode(t, io.Discard, "--tls-cert-file", srv.Cert, "--tls-key-file", srv.Key, "--tls-client-ca-file", clientCAFile)
	client := func(issuer *tlstest.CA) *http.Client {
		c, k, err := issuer.Issue("app")
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return tlsClient(&tls.Config{RootCAs: ca.Pool(),
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
	}
	accepted := func(hc *http.Client) bool {
		resp, err := hc.Get(url + "/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	oldClient, newClient := client(oldCA), client(newCA)
	if !accepted(oldClient) || accepted(newClient) {
		t.Fatal("before the rotation: want the old CA's client accepted and the new one's refused")
	}
	tmp := clientCAFile + ".tmp"
	if err := os.WriteFile(tmp, newCA.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, clientCAFile); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return accepted(newClient) })
	if accepted(oldClient) {
		t.Fatal("after the rotation the old CA's client is still accepted")
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--tls-cert-file", "c.pem"}, "--tls-cert-file and --tls-key-file (OUTPOST_TLS_KEY_FILE) go together"},
		{"client CA without cert", []string{"--tls-client-ca-file", "ca.pem"}, "--tls-client-ca-file needs"},
		{"kafka cert without key", []string{"--kafka-cert-file", "c.pem"}, "--kafka-cert-file and --kafka-key-file"},
		{"control plane CA missing", []string{"--control-plane-url", "https://cp", "--api-token", "k", "--control-plane-ca-file", filepath.Join(dir, "none.pem")}, "--control-plane-ca-file"},
		{"control plane CA without URL", []string{"--control-plane-ca-file", "ca.pem"}, "needs --control-plane-url"},
		{"bool env", nil, "OUTPOST_KAFKA_TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			if tc.args == nil {
				e["OUTPOST_KAFKA_TLS"] = "perhaps"
			}
			_, err := parseConfig(tc.args, env(e), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// syncLog is a log destination safe for concurrent writes.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTLSListenerBadCertificate: a node whose certificate cannot be loaded
// stops at start with one line naming the files, not their contents.
func TestTLSListenerBadCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(cert, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END EC PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "main.polar")
	if err := os.WriteFile(policy, []byte(lifecyclePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	code, plain, stderr := hardeningRun(t, "--listen", "127.0.0.1:0", "--directory", t.TempDir(), "--policy", policy, "--auth", "none",
		"--tls-cert-file", cert, "--tls-key-file", key)
	if code != 1 || len(plain) != 1 || !strings.Contains(plain[0], "tls.crt") || strings.Contains(stderr, "c2VjcmV0") {
		t.Fatalf("exit %d, %q; stderr:\n%s", code, plain, stderr)
	}
}
