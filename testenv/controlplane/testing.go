package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// API keys Start configures when Config.Keys is empty.
const (
	TestWriteKey = "test-write-key"
	TestReadKey  = "test-read-key"
)

// Running is a control plane started by Start: a real HTTP server on
// 127.0.0.1 with its publishers running. Stop and Restart simulate outages
// and crashes-with-clean-shutdown; t.Cleanup stops it for good.
type Running struct {
	t   testing.TB
	cfg Config

	// URL is the base URL, http://127.0.0.1:PORT; it stays the same across
	// Restart.
	URL string
	// Addr is host:port.
	Addr string
	// Client writes with the write key; ReadClient uses the read key.
	Client, ReadClient *Client
	// WriteKey and ReadKey are the keys (the first of each access in
	// Config.Keys).
	WriteKey, ReadKey string

	mu sync.Mutex
	// Guarded by mu.
	srv     *Server
	httpSrv *http.Server
	cancel  context.CancelFunc
	done    chan struct{}
}

// Start starts a control plane for a test. Empty fields of cfg get test
// defaults: Env "test", DataDir a t.TempDir(), Keys {TestWriteKey: write,
// TestReadKey: read}. It fails the test on error and stops the server in
// t.Cleanup.
func Start(t testing.TB, cfg Config) *Running {
	t.Helper()
	if cfg.Env == "" {
		cfg.Env = "test"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if len(cfg.Keys) == 0 {
		cfg.Keys = map[string]string{TestWriteKey: AccessWrite, TestReadKey: AccessRead}
	}
	r := &Running{t: t, cfg: cfg}
	for k, a := range cfg.Keys {
		switch {
		case a == AccessWrite && (r.WriteKey == "" || k < r.WriteKey):
			r.WriteKey = k
		case a == AccessRead && (r.ReadKey == "" || k < r.ReadKey):
			r.ReadKey = k
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("control plane: listen: %v", err)
	}
	r.Addr = ln.Addr().String()
	r.URL = "http://" + r.Addr
	r.Client = NewClient(r.URL, r.WriteKey)
	r.ReadClient = NewClient(r.URL, r.ReadKey)
	if err := r.start(ln); err != nil {
		ln.Close()
		t.Fatalf("control plane: %v", err)
	}
	t.Cleanup(r.Stop)
	return r
}

func (r *Running) start(ln net.Listener) error {
	srv, err := New(r.cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.t.Errorf("control plane: serve: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := srv.Run(ctx); err != nil {
			r.t.Errorf("control plane: run: %v", err)
		}
	}()
	go func() { wg.Wait(); close(done) }()
	r.mu.Lock()
	r.srv, r.httpSrv, r.cancel, r.done = srv, hs, cancel, done
	r.mu.Unlock()
	return nil
}

// Server returns the running Server (a new one after each Restart), or nil
// while stopped.
func (r *Running) Server() *Server {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srv
}

// Stop shuts the control plane down: in-flight long-polls end, the
// publishers stop, the log is closed. Stopping a stopped one does nothing.
func (r *Running) Stop() {
	r.mu.Lock()
	srv, hs, cancel, done := r.srv, r.httpSrv, r.cancel, r.done
	r.srv, r.httpSrv, r.cancel, r.done = nil, nil, nil, nil
	r.mu.Unlock()
	if srv == nil {
		return
	}
	cancel() // ends long-polls (BaseContext) and Run
	ctx, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
	if err := hs.Shutdown(ctx); err != nil {
		hs.Close()
	}
	cancelShutdown()
	<-done
	if err := srv.Close(); err != nil {
		r.t.Errorf("control plane: close: %v", err)
	}
	// A kept-alive connection to the stopped server would make the next
	// write after a restart fail with EOF (a POST is not retried).
	r.Client.HTTP.CloseIdleConnections()
	r.ReadClient.HTTP.CloseIdleConnections()
}

// Restart stops the control plane (when running) and starts it again on
// the same address and data directory. It fails the test on error.
func (r *Running) Restart() {
	r.t.Helper()
	if err := r.TryRestart(); err != nil {
		r.t.Fatalf("control plane: restart: %v", err)
	}
}

// RestartWith changes the configuration (keys, publishers, retention...)
// and restarts with it. The address and data directory stay.
func (r *Running) RestartWith(change func(*Config)) {
	r.t.Helper()
	change(&r.cfg)
	r.Restart()
}

// TryRestart is Restart returning the error (e.g. a corrupt log) instead of
// failing the test; the control plane stays stopped then.
func (r *Running) TryRestart() error {
	r.Stop()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		ln, err = net.Listen("tcp", r.Addr)
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("listen on %s again: %w", r.Addr, err)
	}
	if err := r.start(ln); err != nil {
		ln.Close()
		return err
	}
	return nil
}

// DataDir returns the data directory.
func (r *Running) DataDir() string { return r.cfg.DataDir }

// Config returns the configuration with Start's defaults filled in.
func (r *Running) Config() Config { return r.cfg }

func (r *Running) running() *Server {
	r.t.Helper()
	srv := r.Server()
	if srv == nil {
		r.t.Fatalf("control plane is stopped")
	}
	return srv
}

// Digest returns the state digest.
func (r *Running) Digest() string {
	d, _ := r.running().Digest()
	return d
}

// Seq returns the seq of the last committed event.
func (r *Running) Seq() uint64 { return r.running().Seq() }

// LogID returns the event log's id.
func (r *Running) LogID() string { return r.running().LogID() }

// SeedGitclub loads the n-fact gitclub data set (see Client.SeedGitclub)
// and returns the last seq. It fails the test on error.
func (r *Running) SeedGitclub(n int) uint64 {
	r.t.Helper()
	seq, err := r.Client.SeedGitclub(n)
	if err != nil {
		r.t.Fatalf("control plane: %v", err)
	}
	return seq
}

// Requests returns how many requests the running server answered on a
// route path template (e.g. "/api/authorize"), over all status codes.
func (r *Running) Requests(path string) float64 {
	r.t.Helper()
	mfs, err := r.running().Registry().Gather()
	if err != nil {
		r.t.Fatalf("control plane: gather metrics: %v", err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "controlplane_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelValue(m, "path") == path {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
