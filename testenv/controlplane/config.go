package controlplane

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/segmentio/kafka-go/sasl"
)

// Access levels of API keys.
const (
	AccessRead  = "read"
	AccessWrite = "write"
)

// Defaults.
const (
	// DefaultFeedLimit is the events feed's page size when the request names
	// none; MaxFeedLimit caps it.
	DefaultFeedLimit = 1000
	MaxFeedLimit     = 10000
	// MaxFeedWait caps a long-poll's wait parameter.
	MaxFeedWait = 60 * time.Second
	// MaxBodyBytes is the largest request body accepted (check-api.md §2.7);
	// larger bodies get 413.
	MaxBodyBytes = 10 << 20
	// DefaultCheckpointEvery is Config.CheckpointEvery's default.
	DefaultCheckpointEvery = 1000
)

// Config configures a control plane for one environment.
type Config struct {
	// Env names the environment (required). Feed paths naming another
	// environment get 404.
	Env string
	// Tenant is recorded in snapshot headers. Optional.
	Tenant string
	// DataDir holds the event log (required). It is created if missing.
	DataDir string
	// Keys maps API keys to their access, AccessRead or AccessWrite
	// (at least one key is required). Their SHA-256 hashes reach nodes in a
	// tokens event; the keys themselves are never logged or stored.
	Keys map[string]string
	// Retain is how many of the newest events the feed keeps available;
	// a request for events after an older seq gets 410 Gone. 0 keeps all.
	// Retention is logical: the log file keeps every event so that a restart
	// can replay it.
	Retain int
	// DisableClearData turns POST /api/clear_data off (it answers 403).
	// The zero value leaves it on, as a test control plane wants.
	DisableClearData bool
	// Kafka, when set, publishes every event to a Kafka topic.
	Kafka *KafkaConfig
	// NATS, when set, publishes every event to a JetStream stream.
	NATS *NATSConfig
	// Logger receives one line per state change. Default: discard.
	Logger *slog.Logger
	// CheckpointEvery is how many events the control plane commits between
	// checkpoints of its own state (used to restart without replaying the
	// whole log). 0 means DefaultCheckpointEvery; negative disables them.
	CheckpointEvery int
	// FactsLimit, when positive, caps the facts one GET /api/facts may
	// return: a request matching more is answered 400 with a JSON message,
	// like the result cap of Oso's developer plans (check-api.md §4.7). 0
	// answers every request in full.
	FactsLimit int
	// PublishBackoffMax caps the publishers' retry delay. Default 2s.
	PublishBackoffMax time.Duration
}

// KafkaConfig configures publishing to Kafka.
type KafkaConfig struct {
	// Brokers are bootstrap addresses, host:port (required).
	Brokers []string
	// Topic defaults to "outpost.<env>.events". It is created with one
	// partition when missing.
	Topic string
	// TLS, when set, encrypts the broker connections (and presents its
	// client certificate, if any).
	TLS *tls.Config
	// SASL, when set, authenticates them (see ingest/kafka.SASL).
	SASL sasl.Mechanism
}

// NATSConfig configures publishing to NATS JetStream.
type NATSConfig struct {
	// URL of the NATS server, nats://host:port (required).
	URL string
	// Stream defaults to "OUTPOST_<ENV>" (upper case, other characters
	// than letters, digits, '-' and '_' replaced by '_'). It captures the
	// subject "outpost.<env>.events" and is created or updated on connect.
	Stream string
	// Options are added to the connection's options: TLS and credentials
	// (see ingest/nats.Auth).
	Options []nats.Option
}

var envName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Validate reports configuration errors.
func (c Config) Validate() error {
	var errs []error
	if !envName.MatchString(c.Env) {
		errs = append(errs, fmt.Errorf("env %q must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Env))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is required"))
	}
	if len(c.Keys) == 0 {
		errs = append(errs, errors.New("at least one API key is required"))
	}
	for k, a := range c.Keys {
		if strings.TrimSpace(k) != k || k == "" || strings.ContainsAny(k, " \t\r\n") {
			errs = append(errs, errors.New("an API key is empty or contains white space"))
		}
		if a != AccessRead && a != AccessWrite {
			errs = append(errs, fmt.Errorf("API key access %q is not %q or %q", a, AccessRead, AccessWrite))
		}
	}
	if c.FactsLimit < 0 {
		errs = append(errs, fmt.Errorf("facts limit %d is negative", c.FactsLimit))
	}
	if c.Retain < 0 {
		errs = append(errs, fmt.Errorf("retain %d is negative", c.Retain))
	}
	if c.Kafka != nil && len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("kafka: no brokers"))
	}
	if c.NATS != nil && c.NATS.URL == "" {
		errs = append(errs, errors.New("nats: no URL"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("control plane config: %w", err)
	}
	return nil
}

// withDefaults returns c with documented defaults filled in.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = DefaultCheckpointEvery
	}
	if c.PublishBackoffMax <= 0 {
		c.PublishBackoffMax = 2 * time.Second
	}
	if c.Kafka != nil {
		k := *c.Kafka
		if k.Topic == "" {
			k.Topic = DefaultTopic(c.Env)
		}
		c.Kafka = &k
	}
	if c.NATS != nil {
		n := *c.NATS
		if n.Stream == "" {
			n.Stream = DefaultStream(c.Env)
		}
		c.NATS = &n
	}
	return c
}

// DefaultTopic is the Kafka topic of an environment: outpost.<env>.events.
func DefaultTopic(env string) string { return "outpost." + env + ".events" }

// Subject is the NATS subject of an environment: outpost.<env>.events.
func Subject(env string) string { return "outpost." + env + ".events" }

// DefaultStream is the JetStream stream of an environment: OUTPOST_<ENV>.
func DefaultStream(env string) string {
	b := []byte("OUTPOST_" + strings.ToUpper(env))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
