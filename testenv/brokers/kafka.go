package brokers

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
)

// KafkaConfig configures an in-process Kafka-protocol broker (kfake).
type KafkaConfig struct {
	// Addr is the listen address, host:port. Default "127.0.0.1:0": an
	// ephemeral port, chosen at the first start and kept by Restart. The
	// host is advertised to clients in metadata responses, so it must be
	// an address clients can dial: an unspecified host (0.0.0.0, ::) is
	// rejected.
	Addr string
	// DataDir is where the broker persists topics and records; they
	// survive Stop and Restart. Default: a new temporary directory that
	// Close removes.
	DataDir string
	// Logger receives the broker's log lines (kfake's per-request lines
	// at debug). Default: none.
	Logger *slog.Logger
	// TLS, when set, makes the broker accept only TLS connections, served
	// with this configuration (set ClientCAs and ClientAuth for mTLS).
	TLS *tls.Config
	// Users, when any, switch SASL authentication on: clients must
	// authenticate as one of them before any other request. Each is a
	// superuser (kfake checks no ACLs for them).
	Users []KafkaUser
}

// KafkaUser is a SASL user of the in-process broker.
type KafkaUser struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string
	User      string
	Password  string
}

// Validate reports whether the configuration can be used.
func (c KafkaConfig) Validate() error {
	for _, u := range c.Users {
		switch u.Mechanism {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			return fmt.Errorf("kafka: user %q: mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", u.User, u.Mechanism)
		}
		if u.User == "" || u.Password == "" {
			return errors.New("kafka: a SASL user needs a name and a password")
		}
	}
	if c.Addr == "" {
		return nil
	}
	host, _, err := splitAddr(c.Addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("kafka: listen host %s is advertised to clients and must be dialable", host)
	}
	return nil
}

// Kafka is a running (or stopped, restartable) single-broker kfake cluster
// persisting to a data directory. All methods are safe for concurrent use.
type Kafka struct {
	cfg     KafkaConfig
	host    string
	dataDir string
	ownDir  bool // dataDir was created by us and Close removes it

	mu     sync.Mutex     // guards the fields below and every call into c
	port   int            // 0 until the first start picked one
	c      *kfake.Cluster // nil while stopped
	closed bool
}

// StartKafka starts a one-broker kfake cluster as configured. It accepts
// connections when StartKafka returns.
func StartKafka(cfg KafkaConfig) (*Kafka, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	host, port, err := splitAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	dir, owned, err := storeDir(cfg.DataDir, "outpost-kafka-*")
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	k := &Kafka{cfg: cfg, host: host, port: port, dataDir: dir, ownDir: owned}
	k.mu.Lock()
	err = k.startLocked()
	k.mu.Unlock()
	if err != nil {
		if owned {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	return k, nil
}

func (k *Kafka) startLocked() error {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(k.port),
		kfake.ClusterID("outpost-kfake"),
		kfake.DataDir(k.dataDir),
		// kfake always binds 127.0.0.1; listen on the configured host.
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, port, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(k.host, port))
		}),
	}
	if k.cfg.Logger != nil {
		opts = append(opts, kfake.WithLogger(kfakeLogger{k.cfg.Logger}))
	}
	if k.cfg.TLS != nil {
		opts = append(opts, kfake.TLS(k.cfg.TLS))
	}
	if len(k.cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range k.cfg.Users {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.User, u.Password))
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("kafka: start cluster on %s: %w", net.JoinHostPort(k.host, strconv.Itoa(k.port)), err)
	}
	if k.port == 0 {
		addrs := c.ListenAddrs()
		if len(addrs) != 1 {
			c.Close()
			return fmt.Errorf("kafka: cluster listens on %d addresses, want 1", len(addrs))
		}
		_, p, err := net.SplitHostPort(addrs[0])
		if err == nil {
			k.port, err = strconv.Atoi(p)
		}
		if err != nil {
			c.Close()
			return fmt.Errorf("kafka: parse listen address %q: %w", addrs[0], err)
		}
	}
	k.c = c
	return nil
}

// Addr returns the bootstrap address, host:port, for Kafka clients. It
// stays the same across Stop and Restart.
func (k *Kafka) Addr() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return net.JoinHostPort(k.host, strconv.Itoa(k.port))
}

// DataDir returns the directory the broker persists to.
func (k *Kafka) DataDir() string { return k.dataDir }

// Running reports whether the broker is currently started.
func (k *Kafka) Running() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.c != nil
}

// Stop shuts the broker down: it stops listening, closes every client
// connection, writes its state to the data directory and returns when that
// is done. Restart brings topics and records back. Stopping a stopped
// broker does nothing.
func (k *Kafka) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopLocked()
}

func (k *Kafka) stopLocked() {
	if k.c == nil {
		return
	}
	k.c.Close()
	k.c = nil
}

// Restart starts the broker again on the same address and data directory;
// when it is running it is stopped first. Topics, records and offsets are
// as they were at Stop.
func (k *Kafka) Restart() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return ErrClosed
	}
	k.stopLocked()
	return k.startLocked()
}

// Close stops the broker for good and removes the data directory when
// StartKafka created it. Close is idempotent.
func (k *Kafka) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopLocked()
	if k.closed {
		return
	}
	k.closed = true
	if k.ownDir {
		_ = os.RemoveAll(k.dataDir)
	}
}

// runningLocked returns the cluster, or the error for a stopped or closed broker.
// The caller must hold k.mu: kfake blocks forever on admin calls to a
// closed cluster.
func (k *Kafka) runningLocked() (*kfake.Cluster, error) {
	switch {
	case k.closed:
		return nil, ErrClosed
	case k.c == nil:
		return nil, ErrStopped
	}
	return k.c, nil
}

// CreateTopic creates topic with the given number of partitions (replication
// factor 1). It is idempotent: a topic that already exists with the same
// number of partitions is not an error; one with a different number is.
func (k *Kafka) CreateTopic(name string, partitions int) error {
	if partitions < 1 {
		return fmt.Errorf("create topic %s: partitions %d < 1", name, partitions)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	c, err := k.runningLocked()
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	err = c.CreateTopic(name, int32(partitions), nil)
	if errors.Is(err, kerr.TopicAlreadyExists) {
		if have := len(c.PartitionInfos(name)); have != partitions {
			return fmt.Errorf("create topic %s: exists with %d partitions, want %d", name, have, partitions)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	return nil
}

// HighWatermark returns the offset the next record produced to the
// partition gets.
func (k *Kafka) HighWatermark(topic string, partition int) (int64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, err := k.runningLocked()
	if err != nil {
		return 0, fmt.Errorf("high watermark %s/%d: %w", topic, partition, err)
	}
	pi := c.PartitionInfo(topic, int32(partition))
	if pi == nil {
		return 0, fmt.Errorf("high watermark %s/%d: %w", topic, partition, kerr.UnknownTopicOrPartition)
	}
	return pi.HighWatermark, nil
}
