package chaos

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Mode says what the proxy does with a connection.
type Mode string

// Modes; see the package documentation.
const (
	ModePass    Mode = "pass"
	ModeRefuse  Mode = "refuse"
	ModeReset   Mode = "reset"
	ModeDelay   Mode = "delay"
	ModeHang    Mode = "hang"
	ModeHTTP5xx Mode = "http5xx"
)

// DefaultStatus is the status http5xx mode answers when Setting.Status is 0.
const DefaultStatus = 503

// ErrClosed is returned by Set after Close.
var ErrClosed = errors.New("chaos proxy closed")

// Setting is a mode with its parameters.
type Setting struct {
	Mode Mode
	// Delay is how long delay mode holds a connection before forwarding
	// it. Must be > 0 in delay mode; ignored otherwise.
	Delay time.Duration
	// Status is the HTTP status http5xx mode answers: 500-599, 0 means
	// DefaultStatus. Ignored otherwise.
	Status int
}

// Validate checks s and fills in defaults: an empty mode is pass, status 0
// in http5xx mode is DefaultStatus.
func (s *Setting) Validate() error {
	if s.Mode == "" {
		s.Mode = ModePass
	}
	switch s.Mode {
	case ModePass, ModeRefuse, ModeReset, ModeHang:
	case ModeDelay:
		if s.Delay <= 0 {
			return errors.New("delay mode needs a delay > 0 (use hang to hold connections forever)")
		}
	case ModeHTTP5xx:
		if s.Status == 0 {
			s.Status = DefaultStatus
		}
		if s.Status < 500 || s.Status > 599 {
			return fmt.Errorf("http5xx status %d is not in 500-599", s.Status)
		}
	default:
		return fmt.Errorf("unknown mode %q (want pass, refuse, reset, delay, hang or http5xx)", s.Mode)
	}
	if s.Mode != ModeDelay {
		s.Delay = 0
	}
	if s.Mode != ModeHTTP5xx {
		s.Status = 0
	}
	return nil
}

// String describes s, for logs.
func (s Setting) String() string {
	switch s.Mode {
	case ModeDelay:
		return fmt.Sprintf("delay %v", s.Delay)
	case ModeHTTP5xx:
		return fmt.Sprintf("http5xx %d", s.Status)
	}
	return string(s.Mode)
}

// Config configures a Proxy.
type Config struct {
	// Listen is the address to listen on; default "127.0.0.1:0". The port
	// chosen for port 0 is kept when refuse mode re-opens the listener.
	Listen string
	// Upstream is the host:port connections are forwarded to. Required.
	Upstream string
	// DialTimeout bounds connecting to the upstream; default 5s.
	DialTimeout time.Duration
	// Initial is the mode at start; default pass.
	Initial Setting
	// Logger receives one line per mode change and per upstream dial
	// error (nil: discard).
	Logger *slog.Logger
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	if c.Upstream == "" {
		return errors.New("chaos: no upstream address")
	}
	if _, _, err := net.SplitHostPort(c.Upstream); err != nil {
		return fmt.Errorf("chaos: upstream %q: %w", c.Upstream, err)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if err := c.Initial.Validate(); err != nil {
		return fmt.Errorf("chaos: initial mode: %w", err)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Stats counts what the proxy did since it started.
type Stats struct {
	// Accepted counts accepted client connections.
	Accepted uint64 `json:"accepted"`
	// Forwarded counts connections forwarded to the upstream (pass and
	// delay modes), including those whose upstream dial failed.
	Forwarded uint64 `json:"forwarded"`
	// DialErrors counts failed upstream dials.
	DialErrors uint64 `json:"dial_errors"`
	// Reset counts connections reset on purpose (reset mode).
	Reset uint64 `json:"reset"`
	// Held counts connections held by delay or hang mode.
	Held uint64 `json:"held"`
	// Answered counts HTTP requests answered by http5xx mode.
	Answered uint64 `json:"answered"`
	// Dropped counts open connections closed by a mode change.
	Dropped uint64 `json:"dropped"`
	// Reopened counts listener re-opens after refuse mode.
	Reopened uint64 `json:"reopened"`
}

// Proxy is a running chaos proxy. See the package documentation.
type Proxy struct {
	cfg  Config
	addr string // fixed after New

	mu sync.Mutex
	// Guarded by mu.
	setting Setting
	ln      net.Listener               // nil while refusing or after Close
	conns   map[net.Conn]chan struct{} // closed when the conn is dropped; nil for upstream conns
	stats   Stats
	closed  bool

	wg sync.WaitGroup // accept loops and connection handlers
}

// New listens on cfg.Listen and starts proxying in cfg.Initial's mode (a
// refuse mode at start listens once to fix the port, then closes).
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("chaos: listen: %w", err)
	}
	p := &Proxy{
		cfg:     cfg,
		addr:    ln.Addr().String(),
		setting: cfg.Initial,
		conns:   map[net.Conn]chan struct{}{},
	}
	if cfg.Initial.Mode == ModeRefuse {
		ln.Close()
		return p, nil
	}
	p.ln = ln
	p.wg.Add(1)
	go p.accept(ln)
	return p, nil
}

// Addr returns the proxy's host:port; it does not change.
func (p *Proxy) Addr() string { return p.addr }

// URL returns "http://" + Addr().
func (p *Proxy) URL() string { return "http://" + p.addr }

// Upstream returns the upstream host:port.
func (p *Proxy) Upstream() string { return p.cfg.Upstream }

// Setting returns the current mode.
func (p *Proxy) Setting() Setting {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.setting
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Set switches the mode. It closes every open connection (see the package
// documentation), closes the listener when switching to refuse and
// re-opens it on the same address when switching away from refuse. When
// the address cannot be bound again, Set returns the error and the proxy
// stays in refuse mode.
func (p *Proxy) Set(s Setting) error {
	if err := s.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	var ln net.Listener
	switch {
	case s.Mode == ModeRefuse && p.ln != nil:
		p.ln.Close() // the accept loop ends
		p.ln = nil
	case s.Mode != ModeRefuse && p.ln == nil:
		var err error
		ln, err = net.Listen("tcp", p.addr)
		if err != nil {
			p.mu.Unlock()
			return fmt.Errorf("chaos: re-open listener on %s: %w", p.addr, err)
		}
		p.ln = ln
		p.stats.Reopened++
	}
	old := p.setting
	p.setting = s
	dropped := p.conns
	p.conns = map[net.Conn]chan struct{}{}
	p.stats.Dropped += uint64(len(dropped))
	if ln != nil {
		p.wg.Add(1)
		go p.accept(ln)
	}
	p.mu.Unlock()

	closeAll(dropped)
	p.cfg.Logger.Info("chaos mode", "from", old.String(), "to", s.String(), "dropped", len(dropped))
	return nil
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	closeAll(conns)
	p.wg.Wait()
	return nil
}

// accept serves one listener until it is closed.
func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed by Set or Close
		}
		p.mu.Lock()
		if p.closed || p.ln != ln {
			// Accepted just before the listener was closed.
			p.mu.Unlock()
			c.Close()
			continue
		}
		s := p.setting
		done := make(chan struct{})
		p.conns[c] = done
		p.stats.Accepted++
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(c, s, done)
	}
}

// serve handles one client connection in mode s and forgets it after.
// done is closed when the connection is dropped.
func (p *Proxy) serve(c net.Conn, s Setting, done <-chan struct{}) {
	defer p.wg.Done()
	defer p.forget(c)
	switch s.Mode {
	case ModePass:
		p.forward(c)
	case ModeDelay:
		p.count(func(st *Stats) { st.Held++ })
		t := time.NewTimer(s.Delay)
		defer t.Stop()
		select {
		case <-t.C:
			p.forward(c)
		case <-done:
		}
	case ModeHang:
		p.count(func(st *Stats) { st.Held++ })
		hang(c)
	case ModeReset:
		p.count(func(st *Stats) { st.Reset++ })
		reset(c)
	case ModeHTTP5xx:
		p.answer(c, s.Status)
	default: // refuse: accepted just before the switch
		reset(c)
	}
}

// forget closes c and removes it from the open set.
func (p *Proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// track adds a connection the proxy opened (to the upstream) to the open
// set, so that mode changes and Close reach it; false when the proxy is
// closed or c's client connection was already dropped.
func (p *Proxy) track(client, c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.conns[client]; !ok {
		return false
	}
	p.conns[c] = nil
	return true
}

// closeAll closes every connection of conns and signals its handler.
func closeAll(conns map[net.Conn]chan struct{}) {
	for c, done := range conns {
		if done != nil {
			close(done)
		}
		c.Close()
	}
}

func (p *Proxy) count(f func(*Stats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// reset closes c with SO_LINGER 0, which sends a TCP RST.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
