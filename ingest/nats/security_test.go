package nats_test

import (
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/ingesttest"
	"github.com/outpost-authz/outpost/ingest/nats"
	"github.com/outpost-authz/outpost/internal/tlsfiles/tlstest"
	"github.com/outpost-authz/outpost/testenv/brokers"
)

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecuredServer runs the source against a server that requires TLS and
// each authentication method: with the right credentials it delivers the
// stream; with wrong ones it reports the failure in Health and logs it
// once, never with the secret.
func TestSecuredServer(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	dir := t.TempDir()
	ca, err := tlstest.NewCA("nats test CA")
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := ca.ServerConfig("nats")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.WriteLeaf(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := tlstest.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	otherCAFile := writeFile(t, dir, "other-ca.pem", otherCA.CertPEM())
	mtls := srvTLS.Clone()
	mtls.ClientCAs, mtls.ClientAuth = ca.Pool(), tls.RequireAndVerifyClientCert

	nkeyPub, nkeySeed, err := brokers.NewNKeyUser()
	if err != nil {
		t.Fatal(err)
	}
	_, wrongSeed, err := brokers.NewNKeyUser()
	if err != nil {
		t.Fatal(err)
	}
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
	tlsOnly := nats.Auth{CAFile: client.CA}

	cases := []struct {
		name   string
		server brokers.NATSConfig
		good   nats.Auth
		bad    nats.Auth
		secret string // must never show in errors or logs
	}{
		{"user and password",
			brokers.NATSConfig{Users: []brokers.NATSUser{{User: "outpost", Password: "s3cret-pass"}}},
			nats.Auth{CAFile: client.CA, User: "outpost", Password: "s3cret-pass"},
			nats.Auth{CAFile: client.CA, User: "outpost", Password: "wrong-pass-77"}, "pass"},
		{"token",
			brokers.NATSConfig{Token: "tok-s3cret-123"},
			nats.Auth{CAFile: client.CA, Token: "tok-s3cret-123"},
			nats.Auth{CAFile: client.CA, Token: "tok-wrong-456"}, "tok-"},
		{"nkey seed file",
			brokers.NATSConfig{NKeys: []string{nkeyPub}},
			nats.Auth{CAFile: client.CA, NKeySeedFile: writeFile(t, dir, "user.nk", nkeySeed)},
			nats.Auth{CAFile: client.CA, NKeySeedFile: writeFile(t, dir, "wrong.nk", wrongSeed)}, string(wrongSeed[:12])},
		{"creds file",
			brokers.NATSConfig{Trust: trust},
			nats.Auth{CAFile: client.CA, CredsFile: writeFile(t, dir, "user.creds", creds)},
			nats.Auth{CAFile: client.CA, CredsFile: writeFile(t, dir, "foreign.creds", foreign)}, "SUA"},
		{"client certificate",
			brokers.NATSConfig{TLS: mtls},
			nats.Auth{CAFile: client.CA, CertFile: client.Cert, KeyFile: client.Key},
			tlsOnly, "PRIVATE KEY"},
		{"untrusted server",
			brokers.NATSConfig{},
			tlsOnly,
			nats.Auth{CAFile: otherCAFile}, "PRIVATE KEY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := tc.server
			sc.StoreDir = t.TempDir()
			if sc.TLS == nil {
				sc.TLS = srvTLS
			}
			good, err := tc.good.Options()
			if err != nil {
				t.Fatal(err)
			}
			sc.ClientOptions = good
			srv, err := brokers.StartNATS(sc)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
			if err := srv.EnsureStream("OUTPOST_PROD", []string{"outpost.prod.events"}); err != nil {
				t.Fatal(err)
			}
			publish(t, srv.URL(), good, ingesttest.Events("prod", 1, 3))

			t.Run("right credentials", func(t *testing.T) {
				got := runUntil(t, srv.URL(), tc.good, func(n int64, _ ingest.Health) bool { return n >= 3 })
				if got.Delivered < 3 {
					t.Fatalf("delivered %d events, want 3", got.Delivered)
				}
			})
			t.Run("wrong credentials", func(t *testing.T) {
				got := runUntil(t, srv.URL(), tc.bad, func(_ int64, h ingest.Health) bool { return h.Failures >= 3 })
				ingesttest.CheckRefused(t, got, tc.secret)
			})
		})
	}
}

// publish publishes payloads to the prod stream as a client with opts.
func publish(t *testing.T, url string, opts []natsgo.Option, payloads [][]byte) {
	t.Helper()
	nc, err := natsgo.Connect(url, opts...)
	if err != nil {
		t.Fatalf("publisher connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range payloads {
		if _, err := js.Publish(t.Context(), "outpost.prod.events", p); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

// runUntil runs a source with auth until done holds (or 20 s pass).
func runUntil(t *testing.T, url string, auth nats.Auth, done func(int64, ingest.Health) bool) ingesttest.RunResult {
	t.Helper()
	opts, err := auth.Options()
	if err != nil {
		t.Fatal(err)
	}
	var logs ingesttest.LogBuffer
	src, err := nats.New(nats.Config{URL: url, Env: "prod", Options: opts, IdleWait: 100 * time.Millisecond,
		ReconnectWait: 20 * time.Millisecond, Backoff: testBackoff}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return ingesttest.RunUntil(t, src, &logs, 20*time.Second, done)
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://u:s3cret@n1:4222,tls://tok3n@n2:4222", "nats://u:xxxxx@n1:4222,tls://xxxxx@n2:4222"},
		{"nats://u:s3cret@[bad", "(unparsable URL)"},
	} {
		if got := nats.RedactURL(tc.in); got != tc.want || strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAuthValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth nats.Auth
		want string
	}{
		{"two methods", nats.Auth{Token: "t", CredsFile: "x.creds"}, "use one of"},
		{"user without password", nats.Auth{User: "u"}, "needs a password"},
		{"cert without key", nats.Auth{CertFile: "c.pem"}, "both a certificate file and a key file"},
		{"missing creds", nats.Auth{CredsFile: "/nonexistent/x.creds"}, ".creds file"},
		{"missing seed", nats.Auth{NKeySeedFile: "/nonexistent/x.nk"}, "NKey seed file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.auth.Options()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// securedStream is a stream of a server requiring TLS and .creds
// authentication, written and read with credentials.
type securedStream struct {
	*streamTransport
	opts []natsgo.Option
}

func (s *securedStream) NewSource(t testing.TB, log *slog.Logger) ingest.Source {
	t.Helper()
	src, err := nats.New(nats.Config{URL: s.n.URL(), Env: s.env, IdleWait: 250 * time.Millisecond,
		ReconnectWait: 50 * time.Millisecond, Backoff: testBackoff, Options: s.opts}, log)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestContractSecured runs the Source contract against a server that
// requires TLS and .creds (JWT) authentication, restarts included.
func TestContractSecured(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	dir := t.TempDir()
	ca, err := tlstest.NewCA("contract CA")
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := ca.ServerConfig("nats")
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := brokers.NewNATSTrust()
	if err != nil {
		t.Fatal(err)
	}
	creds, err := trust.Creds("outpost")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := nats.Auth{CAFile: caFile, CredsFile: writeFile(t, dir, "outpost.creds", creds)}.Options()
	if err != nil {
		t.Fatal(err)
	}
	n, err := brokers.StartNATS(brokers.NATSConfig{StoreDir: t.TempDir(), TLS: srvTLS, Trust: trust, ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	ingesttest.Run(t, ingesttest.Harness{
		Open: func(t *testing.T, env string) ingesttest.Transport {
			subject := "outpost." + env + ".events"
			if err := n.EnsureStream("OUTPOST_"+strings.ToUpper(env), []string{subject}); err != nil {
				t.Fatalf("EnsureStream: %v", err)
			}
			nc, err := natsgo.Connect(n.URL(), append([]natsgo.Option{natsgo.MaxReconnects(-1), natsgo.ReconnectWait(20 * time.Millisecond)}, opts...)...)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			t.Cleanup(nc.Close)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			return &securedStream{streamTransport: &streamTransport{n: n, env: env, subject: subject, js: js}, opts: opts}
		},
		Dedupes: true,
		Backoff: testBackoff,
	})
}
