package main

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/outpost-authz/outpost/internal/tlsfiles/tlstest"
	"github.com/outpost-authz/outpost/testenv/brokers"
)

// TestPublishesToSecuredBrokers runs the control plane against a Kafka
// broker requiring TLS and SCRAM-SHA-256 and a NATS server requiring TLS
// and a token, with the secrets in files and the environment, and checks
// that both receive the seeded events and that no secret is printed.
func TestPublishesToSecuredBrokers(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlstest.NewCA("cp test CA")
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := ca.ServerConfig("broker")
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	const kafkaPassword, natsToken = "cp-kafka-s3cret", "cp-nats-t0ken"
	k, err := brokers.StartKafka(brokers.KafkaConfig{DataDir: t.TempDir(), TLS: srvTLS,
		Users: []brokers.KafkaUser{{Mechanism: "SCRAM-SHA-256", User: "cp", Password: kafkaPassword}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	clientTLS := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool()}
	n, err := brokers.StartNATS(brokers.NATSConfig{StoreDir: t.TempDir(), TLS: srvTLS, Token: natsToken,
		ClientOptions: []nats.Option{nats.Secure(clientTLS), nats.Token(natsToken)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	tokenFile := filepath.Join(dir, "nats-token")
	if err := os.WriteFile(tokenFile, []byte(natsToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OUTPOST_KAFKA_SASL_PASSWORD", kafkaPassword)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-data", t.TempDir(), "-env", "demo", "-key", "w-key:write",
			"-kafka", k.Addr(), "-kafka-ca-file", caFile, "-kafka-sasl-mechanism", "SCRAM-SHA-256", "-kafka-sasl-user", "cp",
			"-nats", n.URL(), "-nats-ca-file", caFile, "-nats-token-file", tokenFile,
			"-seed-gitclub", "2000", "-v"}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(60 * time.Second)
	published := func() bool {
		hw, err := k.HighWatermark("outpost.demo.events", 0)
		if err != nil || hw == 0 {
			return false
		}
		nc, err := nats.Connect(n.URL(), nats.Secure(clientTLS), nats.Token(natsToken))
		if err != nil {
			return false
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		s, err := js.Stream(ctx, "OUTPOST_DEMO")
		return err == nil && s.CachedInfo().State.Msgs > 0
	}
	for !strings.Contains(stdout.String(), "seeded gitclub") || !published() {
		if time.Now().After(deadline) {
			t.Fatalf("not published to both brokers after 60s; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	for _, s := range []string{kafkaPassword, natsToken} {
		if strings.Contains(stdout.String()+stderr.String(), s) {
			t.Errorf("the control plane printed a secret")
		}
	}
}

func TestSecurityFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-kafka", "127.0.0.1:1", "-kafka-sasl-mechanism", "GSSAPI", "-kafka-sasl-user", "u", "-kafka-sasl-password-file", "/dev/null"}, "kafka: SASL"},
		{[]string{"-kafka", "127.0.0.1:1", "-kafka-ca-file", "/nonexistent/ca.pem"}, "CA file"},
		{[]string{"-nats", "nats://127.0.0.1:1", "-nats-creds-file", "/nonexistent/x.creds"}, ".creds file"},
	} {
		var out, errb syncBuffer
		code := run(context.Background(), append(tc.args, "-key", "k:write", "-data", t.TempDir(), "-listen", "127.0.0.1:0"), &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("run(%q) = %d, stderr %q; want an error containing %q", tc.args, code, errb.String(), tc.want)
		}
	}
}
