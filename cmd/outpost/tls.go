package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go/sasl"

	"github.com/outpost-authz/outpost/ingest/kafka"
	natssource "github.com/outpost-authz/outpost/ingest/nats"
	"github.com/outpost-authz/outpost/internal/tlsfiles"
)

// security is the configuration of every secured edge (DESIGN.md §10):
// the node's listener, the control-plane client, Kafka and NATS. Secrets
// (passwords, tokens) come from the environment or from files; they are
// never logged, reported in /status or quoted in errors.
type security struct {
	TLSCertFile     string
	TLSKeyFile      string
	TLSClientCAFile string

	ControlPlaneCAFile string

	KafkaTLS              bool
	KafkaCAFile           string
	KafkaCertFile         string
	KafkaKeyFile          string
	KafkaSASLMechanism    string
	KafkaSASLUser         string
	KafkaSASLPassword     string
	KafkaSASLPasswordFile string

	NATSTLS          bool
	NATSCAFile       string
	NATSCertFile     string
	NATSKeyFile      string
	NATSUser         string
	NATSPassword     string
	NATSPasswordFile string
	NATSToken        string
	NATSTokenFile    string
	NATSNKeySeedFile string
	NATSCredsFile    string

	// cpClient is the one HTTP client every request to the control plane
	// uses (snapshot, event feed, status, export); parseConfig builds it.
	cpClient *http.Client
}

// securityFlags registers the flags of s on fs, with defaults from env.
func (s *security) securityFlags(fs *flag.FlagSet, env envLookup, errs *[]error) {
	str := func(p *string, name, envName, usage string) {
		def, _ := env(envName)
		fs.StringVar(p, name, def, usage+" (env "+envName+")")
	}
	boolean := func(p *bool, name, envName, usage string) {
		def := false
		if v, ok := env(envName); ok {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				*errs = append(*errs, fmt.Errorf("%s=%q is not a boolean (true or false)", envName, v))
			}
			def = b
		}
		fs.BoolVar(p, name, def, usage+" (env "+envName+")")
	}
	str(&s.TLSCertFile, "tls-cert-file", "OUTPOST_TLS_CERT_FILE", "serve HTTPS with this PEM certificate (chain); reloaded when the file changes")
	str(&s.TLSKeyFile, "tls-key-file", "OUTPOST_TLS_KEY_FILE", "PEM key of --tls-cert-file; reloaded when the file changes")
	str(&s.TLSClientCAFile, "tls-client-ca-file", "OUTPOST_TLS_CLIENT_CA_FILE", "require client certificates signed by these CAs (mTLS) on every path but /healthcheck; reloaded when the file changes")
	str(&s.ControlPlaneCAFile, "control-plane-ca-file", "OUTPOST_CONTROL_PLANE_CA_FILE", "PEM CAs to trust for an https:// control plane (default: system roots)")

	boolean(&s.KafkaTLS, "kafka-tls", "OUTPOST_KAFKA_TLS", "connect to Kafka with TLS (implied by --kafka-ca-file and --kafka-cert-file)")
	str(&s.KafkaCAFile, "kafka-ca-file", "OUTPOST_KAFKA_CA_FILE", "PEM CAs to trust for Kafka brokers (default: system roots)")
	str(&s.KafkaCertFile, "kafka-cert-file", "OUTPOST_KAFKA_CERT_FILE", "PEM client certificate for Kafka (mTLS)")
	str(&s.KafkaKeyFile, "kafka-key-file", "OUTPOST_KAFKA_KEY_FILE", "PEM key of --kafka-cert-file")
	str(&s.KafkaSASLMechanism, "kafka-sasl-mechanism", "OUTPOST_KAFKA_SASL_MECHANISM", "Kafka SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default: none)")
	str(&s.KafkaSASLUser, "kafka-sasl-user", "OUTPOST_KAFKA_SASL_USER", "Kafka SASL user")
	secretFlag(fs, env, &s.KafkaSASLPassword, "kafka-sasl-password", "OUTPOST_KAFKA_SASL_PASSWORD", "Kafka SASL password (prefer the variable or --kafka-sasl-password-file)")
	str(&s.KafkaSASLPasswordFile, "kafka-sasl-password-file", "OUTPOST_KAFKA_SASL_PASSWORD_FILE", "file holding the Kafka SASL password")

	boolean(&s.NATSTLS, "nats-tls", "OUTPOST_NATS_TLS", "connect to NATS with TLS (implied by tls:// URLs, --nats-ca-file and --nats-cert-file)")
	str(&s.NATSCAFile, "nats-ca-file", "OUTPOST_NATS_CA_FILE", "PEM CAs to trust for NATS servers (default: system roots)")
	str(&s.NATSCertFile, "nats-cert-file", "OUTPOST_NATS_CERT_FILE", "PEM client certificate for NATS (mTLS)")
	str(&s.NATSKeyFile, "nats-key-file", "OUTPOST_NATS_KEY_FILE", "PEM key of --nats-cert-file")
	str(&s.NATSUser, "nats-user", "OUTPOST_NATS_USER", "NATS user")
	secretFlag(fs, env, &s.NATSPassword, "nats-password", "OUTPOST_NATS_PASSWORD", "NATS password (prefer the variable or --nats-password-file)")
	str(&s.NATSPasswordFile, "nats-password-file", "OUTPOST_NATS_PASSWORD_FILE", "file holding the NATS password")
	secretFlag(fs, env, &s.NATSToken, "nats-token", "OUTPOST_NATS_TOKEN", "NATS token (prefer the variable or --nats-token-file)")
	str(&s.NATSTokenFile, "nats-token-file", "OUTPOST_NATS_TOKEN_FILE", "file holding the NATS token")
	str(&s.NATSNKeySeedFile, "nats-nkey-seed-file", "OUTPOST_NATS_NKEY_SEED_FILE", "file holding a NATS user NKey seed (SU...)")
	str(&s.NATSCredsFile, "nats-creds-file", "OUTPOST_NATS_CREDS_FILE", "NATS .creds file (user JWT and NKey seed)")
}

// secretValue is a flag.Value that never shows its value: the usage text
// the flag package prints (on -h, and on any flag error, into the
// container's log) would otherwise quote the default taken from the
// environment.
type secretValue struct{ p *string }

func (v secretValue) String() string     { return "" }
func (v secretValue) Set(s string) error { *v.p = s; return nil }

// secretFlag registers a flag holding a secret, with its default from env.
func secretFlag(fs *flag.FlagSet, env envLookup, p *string, name, envName, usage string) {
	if v, ok := env(envName); ok {
		*p = v
	}
	fs.Var(secretValue{p}, name, usage+" (env "+envName+")")
}

// validateSecurity reports settings that cannot work together. It reads
// no files.
func (s *security) validateSecurity(c *config) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		bad("--tls-cert-file and --tls-key-file go together")
	}
	if s.TLSClientCAFile != "" && s.TLSCertFile == "" {
		bad("--tls-client-ca-file needs --tls-cert-file and --tls-key-file")
	}
	if (s.KafkaCertFile == "") != (s.KafkaKeyFile == "") {
		bad("--kafka-cert-file and --kafka-key-file go together")
	}
	if s.KafkaSASLPassword != "" && s.KafkaSASLPasswordFile != "" {
		bad("--kafka-sasl-password and --kafka-sasl-password-file are exclusive")
	}
	if (s.NATSCertFile == "") != (s.NATSKeyFile == "") {
		bad("--nats-cert-file and --nats-key-file go together")
	}
	if s.NATSPassword != "" && s.NATSPasswordFile != "" || s.NATSToken != "" && s.NATSTokenFile != "" {
		bad("a NATS password or token comes from a flag or a file, not both")
	}
	if s.ControlPlaneCAFile != "" && c.ControlPlaneURL == "" {
		bad("--control-plane-ca-file needs --control-plane-url")
	}
	return errs
}

// loadSecurity reads what must be read at start: the control-plane CA.
// The other files are read when their edge is set up (serve, source), so
// that their errors come with the edge's name.
func (s *security) loadSecurity() error {
	pool, err := tlsfiles.CertPool(s.ControlPlaneCAFile)
	if err != nil {
		return fmt.Errorf("--control-plane-ca-file: %w", err)
	}
	s.cpClient = &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{MinVersion: tlsfiles.MinVersion, RootCAs: pool},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}}
	return nil
}

// controlPlaneClient returns the control-plane HTTP client.
func (s *security) controlPlaneClient() *http.Client {
	if s.cpClient == nil {
		return http.DefaultClient // a config built without parseConfig
	}
	return s.cpClient
}

// readSecret returns value, or the contents of file (surrounding
// whitespace trimmed). Errors name the file, never its contents.
func readSecret(value, file, flagName string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flagName, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("--%s: %s is empty", flagName, file)
	}
	return v, nil
}

// kafkaSecurity returns the Kafka source's TLS configuration and SASL
// mechanism (nil and nil for plain, unauthenticated Kafka).
func (s *security) kafkaSecurity() (*tls.Config, sasl.Mechanism, error) {
	var tc *tls.Config
	if s.KafkaTLS || s.KafkaCAFile != "" || s.KafkaCertFile != "" {
		var err error
		if tc, err = (tlsfiles.Client{CAFile: s.KafkaCAFile, CertFile: s.KafkaCertFile, KeyFile: s.KafkaKeyFile}).Config(); err != nil {
			return nil, nil, fmt.Errorf("kafka: %w", err)
		}
	}
	password, err := readSecret(s.KafkaSASLPassword, s.KafkaSASLPasswordFile, "kafka-sasl-password-file")
	if err != nil {
		return nil, nil, err
	}
	m, err := kafka.SASL(s.KafkaSASLMechanism, s.KafkaSASLUser, password)
	if err != nil {
		return nil, nil, err
	}
	return tc, m, nil
}

// natsAuth returns the NATS source's TLS and authentication.
func (s *security) natsAuth(url string) (natssource.Auth, error) {
	password, err := readSecret(s.NATSPassword, s.NATSPasswordFile, "nats-password-file")
	if err != nil {
		return natssource.Auth{}, err
	}
	token, err := readSecret(s.NATSToken, s.NATSTokenFile, "nats-token-file")
	if err != nil {
		return natssource.Auth{}, err
	}
	return natssource.Auth{
		TLS:    s.NATSTLS || strings.HasPrefix(url, "tls://"),
		CAFile: s.NATSCAFile, CertFile: s.NATSCertFile, KeyFile: s.NATSKeyFile,
		User: s.NATSUser, Password: password, Token: token,
		NKeySeedFile: s.NATSNKeySeedFile, CredsFile: s.NATSCredsFile,
	}, nil
}

// listenTLS wraps ln in TLS when a certificate is configured, and returns
// the handler to serve: h itself, or, with client CAs, h behind a check
// that every path but /healthcheck was reached with a verified client
// certificate. The third result describes the certificate for /status
// (nil without TLS). On error ln is closed.
func (s *security) listenTLS(ln net.Listener, h http.Handler, log *slog.Logger) (net.Listener, http.Handler, func() map[string]any, error) {
	if s.TLSCertFile == "" {
		return ln, h, nil, nil
	}
	cfg, reloader, err := tlsfiles.Server{CertFile: s.TLSCertFile, KeyFile: s.TLSKeyFile, ClientCAFile: s.TLSClientCAFile}.Config(log)
	if err != nil {
		ln.Close()
		return nil, nil, nil, err
	}
	cfg.NextProtos = []string{"h2", "http/1.1"}
	if s.TLSClientCAFile != "" {
		h = requireClientCert(h)
	}
	status := func() map[string]any {
		m := map[string]any{"cert_file": s.TLSCertFile, "reloads": reloader.Reloads(), "client_certificates": s.TLSClientCAFile != ""}
		if cert := reloader.Current(); cert.Leaf != nil {
			m["subject"] = cert.Leaf.Subject.String()
			m["not_after"] = cert.Leaf.NotAfter.UTC().Format(time.RFC3339)
		}
		return m
	}
	return tls.NewListener(ln, cfg), h, status, nil
}

// requireClientCert answers 401 to requests without a verified client
// certificate, except /healthcheck, which load balancers and orchestrators
// probe without one. (The handshake already refused certificates that
// do not chain to the client CAs.)
func requireClientCert(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthcheck" && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"this node requires a client certificate (mTLS)"}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// healthcheckClient is the HTTP client of `outpost healthcheck`. With a CA
// file it trusts those CAs. Otherwise, when the node's own certificate file
// is known (the container's OUTPOST_TLS_CERT_FILE), it accepts exactly the
// certificate in that file, whatever name it holds: the check asks
// 127.0.0.1, which a real certificate rarely names. Else system roots.
func healthcheckClient(caFile, certFile string) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tlsfiles.MinVersion}
	switch {
	case caFile != "":
		pool, err := tlsfiles.CertPool(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		tc.RootCAs = pool
	case certFile != "":
		tc.InsecureSkipVerify = true // replaced by the pin below
		tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			want, err := tlsfiles.LeafDER(certFile)
			if err != nil {
				return err
			}
			if len(raw) == 0 || !bytes.Equal(raw[0], want) {
				return fmt.Errorf("the server's certificate is not the one in %s", certFile)
			}
			return nil
		}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}, nil
}
