package kafka_test

import (
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/ingesttest"
	"github.com/outpost-authz/outpost/ingest/kafka"
	"github.com/outpost-authz/outpost/internal/tlsfiles"
	"github.com/outpost-authz/outpost/internal/tlsfiles/tlstest"
	"github.com/outpost-authz/outpost/testenv/brokers"
)

// TestSecuredBroker runs the source against a broker that requires TLS and
// SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) or a client certificate: with
// the right credentials it delivers the topic; with wrong ones it reports
// the failure in Health and logs it once, never with the password.
func TestSecuredBroker(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	dir := t.TempDir()
	ca, err := tlstest.NewCA("kafka test CA")
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := ca.ServerConfig("kafka")
	if err != nil {
		t.Fatal(err)
	}
	files, err := ca.WriteLeaf(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	trustCA, err := tlsfiles.Client{CAFile: files.CA}.Config()
	if err != nil {
		t.Fatal(err)
	}
	withCert, err := tlsfiles.Client{CAFile: files.CA, CertFile: files.Cert, KeyFile: files.Key}.Config()
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := tlstest.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	untrusting := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: otherCA.Pool()}
	mtls := srvTLS.Clone()
	mtls.ClientCAs, mtls.ClientAuth = ca.Pool(), tls.RequireAndVerifyClientCert

	type side struct {
		tls                  *tls.Config
		mech, user, password string
	}
	cases := []struct {
		name      string
		serverTLS *tls.Config
		users     []brokers.KafkaUser
		good, bad side
		secret    string
	}{
		{"SASL PLAIN", srvTLS, []brokers.KafkaUser{{Mechanism: "PLAIN", User: "outpost", Password: "plain-s3cret"}},
			side{trustCA, "PLAIN", "outpost", "plain-s3cret"}, side{trustCA, "PLAIN", "outpost", "wrong-s3cret"}, "s3cret"},
		{"SCRAM-SHA-256", srvTLS, []brokers.KafkaUser{{Mechanism: "SCRAM-SHA-256", User: "outpost", Password: "scram256-s3cret"}},
			side{trustCA, "SCRAM-SHA-256", "outpost", "scram256-s3cret"}, side{trustCA, "SCRAM-SHA-256", "outpost", "wrong-s3cret"}, "s3cret"},
		{"SCRAM-SHA-512", srvTLS, []brokers.KafkaUser{{Mechanism: "SCRAM-SHA-512", User: "outpost", Password: "scram512-s3cret"}},
			side{trustCA, "scram-sha-512", "outpost", "scram512-s3cret"}, side{trustCA, "SCRAM-SHA-512", "nobody", "wrong-s3cret"}, "s3cret"},
		{"client certificate", mtls, nil, side{tls: withCert}, side{tls: trustCA}, "PRIVATE KEY"},
		{"untrusted broker", srvTLS, nil, side{tls: trustCA}, side{tls: untrusting}, "PRIVATE KEY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := brokers.StartKafka(brokers.KafkaConfig{DataDir: t.TempDir(), TLS: tc.serverTLS, Users: tc.users})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(k.Close)
			if err := k.CreateTopic("outpost.prod.events", 1); err != nil {
				t.Fatal(err)
			}
			cfg := func(s side) kafka.Config {
				t.Helper()
				m, err := kafka.SASL(s.mech, s.user, s.password)
				if err != nil {
					t.Fatal(err)
				}
				return kafka.Config{Brokers: []string{k.Addr()}, Env: "prod", TLS: s.tls, SASL: m,
					MaxWait: 100 * time.Millisecond, DialTimeout: 2 * time.Second, Backoff: testBackoff}
			}
			good := cfg(tc.good)
			produce(t, good, ingesttest.Events("prod", 1, 3))

			t.Run("right credentials", func(t *testing.T) {
				got := runUntil(t, good, func(n int64, _ ingest.Health) bool { return n >= 3 })
				if got.Delivered < 3 {
					t.Fatalf("delivered %d events, want 3 (health %+v)", got.Delivered, got.Health)
				}
			})
			t.Run("wrong credentials", func(t *testing.T) {
				got := runUntil(t, cfg(tc.bad), func(_ int64, h ingest.Health) bool { return h.Failures >= 3 })
				ingesttest.CheckRefused(t, got, tc.secret)
			})
		})
	}
}

// produce writes payloads to the prod topic as a client configured like cfg.
func produce(t *testing.T, cfg kafka.Config, payloads [][]byte) {
	t.Helper()
	tr := &kafkago.Transport{TLS: cfg.TLS, SASL: cfg.SASL}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: tr, Timeout: 10 * time.Second}
	recs := make([]kafkago.Record, len(payloads))
	for i, p := range payloads {
		recs[i] = kafkago.Record{Key: kafkago.NewBytes([]byte("prod")), Value: kafkago.NewBytes(p)}
	}
	res, err := cl.Produce(t.Context(), &kafkago.ProduceRequest{Topic: "outpost.prod.events", Partition: 0,
		RequiredAcks: kafkago.RequireAll, Records: kafkago.NewRecordReader(recs...)})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// runUntil runs a source until done holds (or 30 s pass).
func runUntil(t *testing.T, cfg kafka.Config, done func(int64, ingest.Health) bool) ingesttest.RunResult {
	t.Helper()
	var logs ingesttest.LogBuffer
	src, err := kafka.New(cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return ingesttest.RunUntil(t, src, &logs, 30*time.Second, done)
}

func TestSASLErrors(t *testing.T) {
	for _, tc := range []struct {
		name, mech, user, pass, want string
	}{
		{"unknown mechanism", "GSSAPI", "u", "p", "use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
		{"no password", "PLAIN", "u", "", "needs a user and a password"},
		{"password without mechanism", "", "u", "hunter2", "without a SASL mechanism"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kafka.SASL(tc.mech, tc.user, tc.pass)
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.pass != "" && strings.Contains(err.Error(), tc.pass)) {
				t.Fatalf("got %v, want an error containing %q and not the password", err, tc.want)
			}
		})
	}
}

// securedTopic is a topic of a broker requiring TLS and SASL, written and
// read with credentials.
type securedTopic struct {
	*topicTransport
	tls  *tls.Config
	sasl kafka.Config
}

func (s *securedTopic) NewSource(t testing.TB, log *slog.Logger) ingest.Source {
	t.Helper()
	cfg := s.sasl
	cfg.Brokers, cfg.Env, cfg.MaxWait, cfg.Backoff = []string{s.k.Addr()}, s.env, 200*time.Millisecond, testBackoff
	src, err := kafka.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestContractSecured runs the Source contract (order, resumption,
// redelivery, outages across broker restarts, ...) against a broker that
// requires TLS and SCRAM-SHA-256: security changes nothing of the
// behaviour.
func TestContractSecured(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	ca, err := tlstest.NewCA("contract CA")
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := ca.ServerConfig("kafka")
	if err != nil {
		t.Fatal(err)
	}
	k, err := brokers.StartKafka(brokers.KafkaConfig{DataDir: t.TempDir(), TLS: srvTLS,
		Users: []brokers.KafkaUser{{Mechanism: kafka.MechanismSCRAMSHA256, User: "outpost", Password: "contract-pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	mech, err := kafka.SASL(kafka.MechanismSCRAMSHA256, "outpost", "contract-pw")
	if err != nil {
		t.Fatal(err)
	}
	clientTLS := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool()}
	ingesttest.Run(t, ingesttest.Harness{
		Open: func(t *testing.T, env string) ingesttest.Transport {
			tp := openTopic(t, k, env)
			tr := &kafkago.Transport{TLS: clientTLS, SASL: mech}
			tp.w.Transport = tr
			t.Cleanup(tr.CloseIdleConnections)
			return &securedTopic{topicTransport: tp, tls: clientTLS, sasl: kafka.Config{TLS: clientTLS, SASL: mech}}
		},
		Backoff: testBackoff,
	})
}
