package main

// End-to-end tests of the secured edges: a control plane behind HTTPS
// publishing to a Kafka broker that requires TLS and SCRAM, and to a NATS
// server that requires TLS and .creds (JWT) authentication, with nodes
// reading them as the binary wires them (flags, files, environment).

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/outpost-authz/outpost/ingest/kafka"
	"github.com/outpost-authz/outpost/internal/tlsfiles/tlstest"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/brokers"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

// secureCluster is a cluster whose every edge is secured, and the node
// arguments that carry the right and the wrong credentials.
type secureCluster struct {
	*cluster
	https        string // the control plane behind TLS
	good, bad    []string
	secrets      []string // what must never show in logs, /status or /metrics
	badLogMarker string   // a word of the failure the bad node must report
}

func writeSecret(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func startSecureCluster(t *testing.T, source string) *secureCluster {
	t.Helper()
	dir := t.TempDir()
	ca, err := tlstest.NewCA("secure cluster CA")
	if err != nil {
		t.Fatal(err)
	}
	files, err := ca.WriteLeaf(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	brokerTLS, err := ca.ServerConfig("broker")
	if err != nil {
		t.Fatal(err)
	}
	clientTLS := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool()}
	c := &cluster{owner: t, source: source, hc: newTestHTTPClient(t)}
	s := &secureCluster{cluster: c}
	cfg := controlplane.Config{Env: convEnv, Logger: testLogger(t, "control plane")}
	switch source {
	case "kafka":
		const password = "kafka-pa55word-91"
		k, err := brokers.StartKafka(brokers.KafkaConfig{DataDir: t.TempDir(), TLS: brokerTLS,
			Users: []brokers.KafkaUser{{Mechanism: kafka.MechanismSCRAMSHA512, User: "outpost", Password: password}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(k.Close)
		mech, err := kafka.SASL(kafka.MechanismSCRAMSHA512, "outpost", password)
		if err != nil {
			t.Fatal(err)
		}
		c.kafka = k
		c.kafkaCfg = &controlplane.KafkaConfig{Brokers: []string{k.Addr()}, TLS: clientTLS, SASL: mech}
		cfg.Kafka = c.kafkaCfg
		common := []string{"--kafka-ca-file", files.CA, "--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", "outpost"}
		s.good = append(common, "--kafka-sasl-password-file", writeSecret(t, dir, "kafka-password", []byte(password+"\n")))
		s.bad = append(common, "--kafka-sasl-password", "wrong-pa55word-17")
		s.secrets = []string{password, "wrong-pa55word-17"}
	case "poll":
		// the control plane's feed itself, behind TLS (below)
	case "nats":
		trust, err := brokers.NewNATSTrust()
		if err != nil {
			t.Fatal(err)
		}
		creds, err := trust.Creds("outpost")
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := trust.ForeignCreds("intruder")
		if err != nil {
			t.Fatal(err)
		}
		credsFile := writeSecret(t, dir, "outpost.creds", creds)
		opts := []nats.Option{nats.Secure(clientTLS), nats.UserCredentials(credsFile)}
		n, err := brokers.StartNATS(brokers.NATSConfig{StoreDir: t.TempDir(), TLS: brokerTLS, Trust: trust, ClientOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		c.nats = n
		c.natsCfg = &controlplane.NATSConfig{URL: n.URL(), Options: opts}
		cfg.NATS = c.natsCfg
		s.good = []string{"--nats-ca-file", files.CA, "--nats-creds-file", credsFile}
		s.bad = []string{"--nats-ca-file", files.CA, "--nats-creds-file", writeSecret(t, dir, "foreign.creds", foreign)}
		s.secrets = []string{seedOf(t, creds), seedOf(t, foreign)}
	}
	c.cp = controlplane.Start(t, cfg)

	// the control plane's feed, behind TLS
	target, _ := url.Parse(c.cp.URL)
	front := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	if front.TLS, err = ca.ServerConfig("control plane"); err != nil {
		t.Fatal(err)
	}
	front.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshakes of TestPollOverHTTPS
	front.StartTLS()
	t.Cleanup(front.Close)
	s.https = front.URL
	tlsArgs := []string{"--control-plane-url", s.https, "--control-plane-ca-file", files.CA}
	s.good, s.bad = append(tlsArgs, s.good...), append(tlsArgs, s.bad...)
	s.secrets = append(s.secrets, c.cp.ReadKey)
	return s
}

// seedOf returns the NKey seed in a .creds file.
func seedOf(t *testing.T, creds []byte) string {
	t.Helper()
	for _, l := range strings.Split(string(creds), "\n") {
		if strings.HasPrefix(l, "SU") {
			return l
		}
	}
	t.Fatal("no seed in the .creds file")
	return ""
}

// TestPollOverHTTPS: a node polling an https:// control plane converges
// when it trusts the control plane's CA (--control-plane-ca-file), and
// refuses to start, naming the certificate problem, when it does not.
func TestPollOverHTTPS(t *testing.T) {
	s := startSecureCluster(t, "poll")
	if _, err := s.cp.Client.SetPolicy(lifecyclePolicy); err != nil {
		t.Fatal(err)
	}
	var log syncLog
	n := s.startLoggedNode(t, &log, append(s.good, "--source", "poll")...)
	first := s.converge(t, n, nil)
	if _, err := s.cp.Client.Insert(replica.Fact{Predicate: "has_role", Args: []replica.Value{{Type: "User", ID: "carol"}, str("reader"), {Type: "Repo", ID: "r3"}}}); err != nil {
		t.Fatal(err)
	}
	if got := s.converge(t, n, []question{{"User", "carol", "read", "Repo", "r3"}}); got <= first {
		t.Fatalf("converged at %d, then at %d", first, got)
	}

	code, plain, stderr := hardeningRun(t, "--listen", "127.0.0.1:0", "--environment", convEnv, "--directory", t.TempDir(),
		"--control-plane-url", s.https, "--api-token", s.cp.ReadKey)
	if code != 1 || len(plain) != 1 || !strings.Contains(plain[0], "certificate") {
		t.Fatalf("a node that does not trust the control plane: exit %d, %q\n%s", code, plain, stderr)
	}
	if strings.Contains(stderr, s.cp.ReadKey) {
		t.Fatal("the failed node's output shows the API key")
	}
}

func TestSecuredSourcesConverge(t *testing.T) {
	for _, source := range []string{"kafka", "nats"} {
		t.Run(source, func(t *testing.T) {
			s := startSecureCluster(t, source)
			if _, err := s.cp.Client.SetPolicy(lifecyclePolicy); err != nil {
				t.Fatal(err)
			}
			role := func(u, r string) replica.Fact {
				return replica.Fact{Predicate: "has_role", Args: []replica.Value{{Type: "User", ID: u}, str("reader"), {Type: "Repo", ID: r}}}
			}
			if _, err := s.cp.Client.Insert(role("alice", "r1")); err != nil {
				t.Fatal(err)
			}
			s.waitPublished(t)

			var goodLog, badLog syncLog
			good := s.startLoggedNode(t, &goodLog, s.good...)
			bad := s.startLoggedNode(t, &badLog, s.bad...)
			first := s.converge(t, good, nil)
			if st := bad.mustStatus(t); st.Revision != first {
				t.Fatalf("the node with wrong credentials did not start from the control plane's snapshot: revision %d, want %d", st.Revision, first)
			}

			// more writes: the right node follows, the wrong one keeps serving
			// what it has and says why it is behind
			if _, err := s.cp.Client.Insert(role("bob", "r2")); err != nil {
				t.Fatal(err)
			}
			s.waitPublished(t)
			second := s.converge(t, good, []question{{"User", "bob", "read", "Repo", "r2"}})
			if second <= first {
				t.Fatalf("control plane at %d after a write from %d", second, first)
			}
			eventually(t, 30*time.Second, func() error {
				st := bad.mustStatus(t)
				if st.Ingest.State != "failing" || st.Ingest.LastError == "" {
					return fmt.Errorf("bad node: ingest %s, last error %q", st.Ingest.State, st.Ingest.LastError)
				}
				if bad.metric(t, "outpost_ingest_errors_total", `kind="transport"`) < 2 {
					return fmt.Errorf("bad node: fewer than 2 transport errors counted")
				}
				return nil
			})
			st := bad.mustStatus(t)
			if st.Revision != first {
				t.Fatalf("the node with wrong credentials moved to %d", st.Revision)
			}
			if allowed, _, err := s.authorize(bad.URL, question{"User", "alice", "read", "Repo", "r1"}, nil); err != nil || !allowed {
				t.Fatalf("the node with wrong credentials stopped serving its last state: %v %v", allowed, err)
			}
			t.Logf("bad node reports: %s", st.Ingest.LastError)

			// the failure is logged once per series, without the secret;
			// nothing secret is in /status or /metrics either
			if n := strings.Count(badLog.String(), "ingest source failing"); n != 1 {
				t.Errorf("bad node logged the failure %d times, want once:\n%s", n, badLog.String())
			}
			pages := map[string]string{"good node log": goodLog.String(), "bad node log": badLog.String()}
			for _, n := range []*convNode{good, bad} {
				for _, path := range []string{"/status", "/metrics", "/"} {
					resp, err := n.get(path)
					if err != nil {
						t.Fatal(err)
					}
					pages[n.Dir+path] = string(resp.Body)
				}
			}
			for name, text := range pages {
				for _, secret := range s.secrets {
					if strings.Contains(text, secret) {
						t.Errorf("%s shows a secret (%.6s…)", name, secret)
					}
				}
			}
		})
	}
}

// startLoggedNode starts a node of the cluster, as cluster.startNode does,
// with its JSON log at debug level in w.
func (s *secureCluster) startLoggedNode(t *testing.T, w *syncLog, extra ...string) *convNode {
	t.Helper()
	dir := t.TempDir()
	cfg, err := parseConfig(append(s.nodeArgs(dir, extra...), "--log-level", "debug"), env(nil), io.Discard)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &convNode{Dir: dir, cancel: cancel, done: make(chan error, 1), hc: newTestHTTPClient(t)}
	addr := make(chan string, 1)
	go func() { n.done <- serve(ctx, cfg, newLogger(w, "debug"), func(a string) { addr <- a }) }()
	select {
	case a := <-addr:
		n.URL = "http://" + a
	case err := <-n.done:
		cancel()
		t.Fatalf("node did not start: %v", err)
	}
	t.Cleanup(func() {
		n.stop(t)
		if t.Failed() {
			t.Logf("--- node %s log ---\n%s", filepath.Base(dir), w.String())
		}
	})
	eventually(t, 30*time.Second, func() error {
		resp, err := n.get("/healthcheck")
		if err != nil {
			return err
		}
		if resp.Status != http.StatusOK {
			return fmt.Errorf("healthcheck answered %d", resp.Status)
		}
		return nil
	})
	return n
}

func newTestHTTPClient(t *testing.T) *http.Client {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}
