package brokers

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSConfig configures an embedded NATS server with JetStream.
type NATSConfig struct {
	// Addr is the client listen address, host:port. Default
	// "127.0.0.1:0": an ephemeral port, chosen at the first start and
	// kept by Restart.
	Addr string
	// StoreDir is the JetStream file store directory; streams and messages
	// in it survive Stop and Restart. Default: a new temporary directory
	// that Close removes.
	StoreDir string
	// Logger receives the server's log lines. Default: none.
	Logger *slog.Logger
	// StartTimeout bounds how long StartNATS and Restart wait for the
	// server to accept clients. Default 10s.
	StartTimeout time.Duration

	// TLS, when set, makes the server require TLS, served with this
	// configuration; with ClientCAs and ClientAuth set it verifies client
	// certificates (mTLS).
	TLS *tls.Config
	// Users, NKeys (user public keys), Token and Trust (operator mode,
	// .creds files) switch authentication on. Users and NKeys combine;
	// Token and Trust stand alone.
	Users []NATSUser
	NKeys []string
	Token string
	Trust *NATSTrust
	// ClientOptions are the credentials and TLS options the broker's own
	// helper connections (EnsureStream) use.
	ClientOptions []nats.Option
}

// Validate reports whether the configuration can be used.
func (c NATSConfig) Validate() error {
	if c.Addr != "" {
		if _, _, err := splitAddr(c.Addr); err != nil {
			return err
		}
	}
	if c.StartTimeout < 0 {
		return fmt.Errorf("nats: negative start timeout %s", c.StartTimeout)
	}
	return c.validateAuth()
}

// NATS is a running (or stopped, restartable) embedded nats-server with
// JetStream enabled on file storage. All methods are safe for concurrent use.
type NATS struct {
	cfg      NATSConfig // defaults applied
	host     string
	storeDir string
	ownDir   bool // storeDir was created by us and Close removes it

	mu     sync.Mutex     // guards the fields below
	port   int            // 0 until the first start picked one
	srv    *server.Server // nil while stopped
	closed bool
}

// StartNATS starts a NATS server as configured and waits until it accepts
// clients.
func StartNATS(cfg NATSConfig) (*NATS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 10 * time.Second
	}
	host, port, err := splitAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	dir, owned, err := storeDir(cfg.StoreDir, "outpost-nats-*")
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	n := &NATS{cfg: cfg, host: host, port: port, storeDir: dir, ownDir: owned}
	n.mu.Lock()
	err = n.startLocked()
	n.mu.Unlock()
	if err != nil {
		if owned {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	return n, nil
}

func (n *NATS) startLocked() error {
	port := n.port
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
	}
	opts := &server.Options{
		ServerName: "outpost-embedded",
		Host:       n.host,
		Port:       port,
		JetStream:  true,
		StoreDir:   n.storeDir,
		NoSigs:     true,
		NoLog:      n.cfg.Logger == nil,
	}
	if err := n.cfg.configureAuth(opts); err != nil {
		return err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("nats: configure server: %w", err)
	}
	if n.cfg.Logger != nil {
		debug := n.cfg.Logger.Enabled(context.Background(), slog.LevelDebug)
		srv.SetLoggerV2(natsLogger{n.cfg.Logger}, debug, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(n.cfg.StartTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("nats: server on %s not ready after %s", net.JoinHostPort(n.host, strconv.Itoa(n.port)), n.cfg.StartTimeout)
	}
	if n.port == 0 {
		addr, ok := srv.Addr().(*net.TCPAddr)
		if !ok {
			srv.Shutdown()
			srv.WaitForShutdown()
			return fmt.Errorf("nats: unexpected listen address %v", srv.Addr())
		}
		n.port = addr.Port
	}
	n.srv = srv
	return nil
}

// URL returns the client URL, nats://host:port. It stays the same across
// Stop and Restart.
func (n *NATS) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return "nats://" + net.JoinHostPort(n.host, strconv.Itoa(n.port))
}

// StoreDir returns the JetStream store directory.
func (n *NATS) StoreDir() string { return n.storeDir }

// Running reports whether the server is currently started.
func (n *NATS) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv != nil
}

// Stop shuts the server down and waits until it has finished, closing all
// client connections. The store directory is kept, so Restart brings the
// streams and their messages back. Stopping a stopped server does nothing.
func (n *NATS) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopLocked()
}

func (n *NATS) stopLocked() {
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

// Restart starts the server again on the same address and store
// directory; when it is running it is stopped first. Clients that
// reconnect find their streams and messages where they left them.
func (n *NATS) Restart() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	n.stopLocked()
	return n.startLocked()
}

// Close stops the server for good and removes the store directory when
// StartNATS created it. Close is idempotent.
func (n *NATS) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopLocked()
	if n.closed {
		return
	}
	n.closed = true
	if n.ownDir {
		_ = os.RemoveAll(n.storeDir)
	}
}

// EnsureStream creates the JetStream stream name on file storage capturing
// subjects, or updates an existing stream's subjects. It connects as an
// ordinary client.
func (n *NATS) EnsureStream(name string, subjects []string) error {
	n.mu.Lock()
	running, closed := n.srv != nil, n.closed
	n.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case !running:
		return ErrStopped
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(n.URL(), append([]nats.Option{nats.Name("outpost-brokers"), nats.NoReconnect()}, n.cfg.ClientOptions...)...)
	if err != nil {
		return fmt.Errorf("ensure stream %s: connect: %w", name, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", name, err)
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     name,
		Subjects: subjects,
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", name, err)
	}
	return nil
}
