package gitclub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/server"
)

// Server is OPA's REST server (the one `opa run --server` runs), in this
// process, serving an Engine's store: POST AllowPath with {"input": ...}.
// It runs no plugins, no decision logging and no authentication, the
// fastest configuration of an OPA sidecar.
type Server struct {
	Addr string // host:port it listens on

	srv     *server.Server
	manager *plugins.Manager
	wg      sync.WaitGroup
	errs    chan error
}

// StartServer starts an OPA server over e's store on addr (for example
// "127.0.0.1:0"). Close stops it.
func StartServer(ctx context.Context, e *Engine, addr string) (*Server, error) {
	logger := logging.New()
	logger.SetLevel(logging.Error)
	m, err := plugins.New(nil, "opabench", e.store, plugins.Logger(logger), plugins.ConsoleLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("start opa server: %w", err)
	}
	if err := m.Start(ctx); err != nil {
		return nil, fmt.Errorf("start opa plugins: %w", err)
	}
	srv, err := server.New().
		WithStore(e.store).
		WithManager(m).
		WithAddresses([]string{addr}).
		Init(ctx)
	if err != nil {
		m.Stop(ctx)
		return nil, fmt.Errorf("init opa server: %w", err)
	}
	loops, err := srv.Listeners()
	if err != nil {
		m.Stop(ctx)
		return nil, fmt.Errorf("listen opa server: %w", err)
	}
	s := &Server{srv: srv, manager: m, errs: make(chan error, len(loops))}
	for _, loop := range loops {
		s.wg.Go(func() {
			if err := loop(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.errs <- err
			}
		})
	}
	// The loops listen when they start; wait until one has an address.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if addrs := srv.Addrs(); len(addrs) > 0 {
			s.Addr = addrs[0]
			return s, nil
		}
		select {
		case err := <-s.errs:
			_ = s.Close(ctx)
			return nil, fmt.Errorf("start opa server: %w", err)
		case <-ctx.Done():
			_ = s.Close(ctx)
			return nil, ctx.Err()
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			_ = s.Close(ctx)
			return nil, errors.New("start opa server: not listening after 10s")
		}
	}
}

// Close shuts the server down gracefully and waits for its loops.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.wg.Wait()
	s.manager.Stop(ctx)
	close(s.errs)
	for e := range s.errs {
		err = errors.Join(err, e)
	}
	return err
}
