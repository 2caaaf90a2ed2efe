package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/outpost-authz/outpost/ingest/kafka"
	natssource "github.com/outpost-authz/outpost/ingest/nats"
	"github.com/outpost-authz/outpost/internal/tlsfiles"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

// pubSecurity is the TLS and authentication of the publishers, with the
// same settings (and variables) as the node's sources. Passwords and
// tokens come from variables or files only.
type pubSecurity struct {
	kafkaTLS                                bool
	kafkaCA, kafkaCert, kafkaKey            string
	kafkaMech, kafkaUser, kafkaPasswordFile string

	natsTLS                           bool
	natsCA, natsCert, natsKey         string
	natsUser, natsPasswordFile        string
	natsTokenFile, natsSeed, natsCred string
}

func (s *pubSecurity) register(fs *flag.FlagSet) {
	str := func(p *string, name, envName, usage string) {
		fs.StringVar(p, name, env(envName, ""), usage+" ("+envName+")")
	}
	fs.BoolVar(&s.kafkaTLS, "kafka-tls", envBool("OUTPOST_KAFKA_TLS"), "connect to Kafka with TLS (OUTPOST_KAFKA_TLS)")
	str(&s.kafkaCA, "kafka-ca-file", "OUTPOST_KAFKA_CA_FILE", "PEM CAs to trust for Kafka")
	str(&s.kafkaCert, "kafka-cert-file", "OUTPOST_KAFKA_CERT_FILE", "PEM client certificate for Kafka")
	str(&s.kafkaKey, "kafka-key-file", "OUTPOST_KAFKA_KEY_FILE", "PEM key of -kafka-cert-file")
	str(&s.kafkaMech, "kafka-sasl-mechanism", "OUTPOST_KAFKA_SASL_MECHANISM", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	str(&s.kafkaUser, "kafka-sasl-user", "OUTPOST_KAFKA_SASL_USER", "Kafka SASL user; the password comes from OUTPOST_KAFKA_SASL_PASSWORD or -kafka-sasl-password-file")
	str(&s.kafkaPasswordFile, "kafka-sasl-password-file", "OUTPOST_KAFKA_SASL_PASSWORD_FILE", "file holding the Kafka SASL password")
	fs.BoolVar(&s.natsTLS, "nats-tls", envBool("OUTPOST_NATS_TLS"), "connect to NATS with TLS (OUTPOST_NATS_TLS)")
	str(&s.natsCA, "nats-ca-file", "OUTPOST_NATS_CA_FILE", "PEM CAs to trust for NATS")
	str(&s.natsCert, "nats-cert-file", "OUTPOST_NATS_CERT_FILE", "PEM client certificate for NATS")
	str(&s.natsKey, "nats-key-file", "OUTPOST_NATS_KEY_FILE", "PEM key of -nats-cert-file")
	str(&s.natsUser, "nats-user", "OUTPOST_NATS_USER", "NATS user; the password comes from OUTPOST_NATS_PASSWORD or -nats-password-file")
	str(&s.natsPasswordFile, "nats-password-file", "OUTPOST_NATS_PASSWORD_FILE", "file holding the NATS password")
	str(&s.natsTokenFile, "nats-token-file", "OUTPOST_NATS_TOKEN_FILE", "file holding a NATS token (or OUTPOST_NATS_TOKEN)")
	str(&s.natsSeed, "nats-nkey-seed-file", "OUTPOST_NATS_NKEY_SEED_FILE", "file holding a NATS user NKey seed")
	str(&s.natsCred, "nats-creds-file", "OUTPOST_NATS_CREDS_FILE", "NATS .creds file")
}

// secret returns the variable's value, or the file's contents.
func secret(envName, file string) (string, error) {
	if file == "" {
		return os.Getenv(envName), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// apply sets the publishers' TLS and credentials in cfg.
func (s *pubSecurity) apply(cfg *controlplane.Config) error {
	if k := cfg.Kafka; k != nil {
		if s.kafkaTLS || s.kafkaCA != "" || s.kafkaCert != "" {
			tc, err := tlsfiles.Client{CAFile: s.kafkaCA, CertFile: s.kafkaCert, KeyFile: s.kafkaKey}.Config()
			if err != nil {
				return fmt.Errorf("kafka: %w", err)
			}
			k.TLS = tc
		}
		password, err := secret("OUTPOST_KAFKA_SASL_PASSWORD", s.kafkaPasswordFile)
		if err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		if s.kafkaMech == "" {
			password = "" // a variable left in the environment is not a configuration error
		}
		if k.SASL, err = kafka.SASL(s.kafkaMech, s.kafkaUser, password); err != nil {
			return err
		}
	}
	if n := cfg.NATS; n != nil {
		password, err := secret("OUTPOST_NATS_PASSWORD", s.natsPasswordFile)
		if err != nil {
			return fmt.Errorf("nats: %w", err)
		}
		token, err := secret("OUTPOST_NATS_TOKEN", s.natsTokenFile)
		if err != nil {
			return fmt.Errorf("nats: %w", err)
		}
		if s.natsUser == "" {
			password = ""
		}
		auth := natssource.Auth{TLS: s.natsTLS || strings.HasPrefix(n.URL, "tls://"), CAFile: s.natsCA, CertFile: s.natsCert, KeyFile: s.natsKey,
			User: s.natsUser, Password: password, Token: token, NKeySeedFile: s.natsSeed, CredsFile: s.natsCred}
		if n.Options, err = auth.Options(); err != nil {
			return err
		}
	}
	return nil
}
