package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/replica"
)

// Defaults.
const (
	DefaultIdleWait      = time.Second
	DefaultName          = "outpost"
	DefaultReconnectWait = 250 * time.Millisecond
	requestTimeout       = 5 * time.Second
	heartbeatEvery       = time.Second
)

// Config configures a Source.
type Config struct {
	// URL is the server URL, or several separated by commas. Required.
	URL string
	// Env is the environment; it names the default stream and subject.
	Env string
	// Stream to read. Default "OUTPOST_<ENV>": Env upper-cased, with every
	// character other than letters, digits, '_' and '-' replaced by '_', as
	// the control plane names it.
	Stream string
	// Subject the consumer filters on. Default "outpost.<Env>.events".
	Subject string
	// Name is the connection's name. Default "outpost".
	Name string
	// IdleWait is how long Run waits for a message before checking whether
	// it is caught up (and delivering a heartbeat). Default 1 s.
	IdleWait time.Duration
	// ReconnectWait is the client's delay between reconnect attempts.
	// Default 250 ms.
	ReconnectWait time.Duration
	// Options are added to the connection's options after the Source's
	// own: credentials, TLS.
	Options []nats.Option
	// Backoff paces consumer restarts and redeliveries of rejected
	// messages. The zero value uses 100 ms initial and 10 s maximum delays.
	Backoff ingest.Backoff
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("nats: URL is required"))
	}
	if c.Env == "" && (c.Stream == "" || c.Subject == "") {
		errs = append(errs, errors.New("nats: Env, or both Stream and Subject, are required"))
	}
	if strings.ContainsAny(c.Stream, " \t.*>/\\") {
		errs = append(errs, fmt.Errorf("nats: stream name %q holds a character streams cannot", c.Stream))
	}
	if c.IdleWait < 0 || c.ReconnectWait < 0 {
		errs = append(errs, errors.New("nats: IdleWait and ReconnectWait must not be negative"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = "OUTPOST_" + strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
				return r
			}
			return '_'
		}, strings.ToUpper(c.Env))
	}
	if c.Subject == "" {
		c.Subject = "outpost." + c.Env + ".events"
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.IdleWait == 0 {
		c.IdleWait = DefaultIdleWait
	}
	if c.ReconnectWait == 0 {
		c.ReconnectWait = DefaultReconnectWait
	}
	return c
}

// Source reads a JetStream stream with an ordered consumer.
type Source struct {
	cfg   Config
	retry ingest.Retrier
}

var (
	_ ingest.Source         = (*Source)(nil)
	_ ingest.HealthReporter = (*Source)(nil)
)

// New returns a Source for cfg. A nil log discards log lines.
func New(cfg Config, log *slog.Logger) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Source{cfg: cfg, retry: ingest.Retrier{Source: "nats", Log: log, Backoff: cfg.Backoff}}, nil
}

// Name returns "nats".
func (s *Source) Name() string { return "nats" }

// Health reports the connection's health.
func (s *Source) Health() ingest.Health { return s.retry.Health() }

// errRejected ends a consumer after the Handler rejected a message.
var errRejected = errors.New("message rejected")

// Run delivers the stream's messages after from to h until ctx ends. See
// the package documentation for positions and errors.
func (s *Source) Run(ctx context.Context, from replica.Position, h ingest.Handler) error {
	var nc *nats.Conn
	for nc == nil {
		var err error
		if nc, err = s.connect(); err != nil {
			if !s.retry.Fail(ctx, err) {
				return nil
			}
		}
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("nats: jetstream: %w: %w", err, ingest.ErrTerminal)
	}
	c := &consumer{Source: s, nc: nc, js: js, next: from.JetStreamSeq, exact: from.JetStreamSeq > 0}
	if !c.exact {
		c.skipTo = from.Seq
	}
	for ctx.Err() == nil {
		err := c.run(ctx, h)
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, errRejected):
			// The redelivery delay has passed; recreate at the same message.
		case errors.Is(err, ingest.ErrResync), errors.Is(err, ingest.ErrTerminal):
			return err
		default:
			if !s.retry.Fail(ctx, err) {
				return nil
			}
		}
	}
	return nil
}

func (s *Source) connect() (*nats.Conn, error) {
	opts := append([]nats.Option{
		nats.Name(s.cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(s.cfg.ReconnectWait),
		nats.Timeout(requestTimeout),
		nats.NoCallbacksAfterClientClose(),
	}, s.cfg.Options...)
	nc, err := nats.Connect(s.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect %s: %w", RedactURL(s.cfg.URL), err)
	}
	return nc, nil
}

// consumer is the state of one Run.
type consumer struct {
	*Source
	nc       *nats.Conn
	js       jetstream.JetStream
	next     uint64 // stream sequence of the next message; 0: from the start
	exact    bool   // next is a real position (not "from the start")
	skipTo   uint64 // skip messages with event seq <= skipTo until one is delivered
	seen     bool   // the stream has answered once
	lastBeat time.Time
}

// run creates an ordered consumer at c.next and delivers its messages
// until ctx ends, the Handler rejects one, or the transport fails.
func (c *consumer) run(ctx context.Context, h ingest.Handler) error {
	cons, err := c.open(ctx)
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("nats: consume %s: %w", c.cfg.Stream, err)
	}
	defer it.Stop()
	c.retry.Connected()
	for {
		nctx, cancel := context.WithTimeout(ctx, c.cfg.IdleWait)
		msg, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, context.DeadlineExceeded) {
			if !c.nc.IsConnected() {
				return fmt.Errorf("nats: %s: %w", c.nc.Status(), nats.ErrDisconnected)
			}
			c.idle(ctx, cons, h)
			continue
		}
		if err != nil {
			return fmt.Errorf("nats: next message of %s: %w", c.cfg.Stream, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("nats: message metadata: %w", err)
		}
		sseq := md.Sequence.Stream
		data := msg.Data()
		if data == nil {
			data = []byte{} // an empty payload is poison, not a heartbeat
		}
		origin := msgOrigin(msg.Headers())
		if c.skipTo > 0 {
			// A republished marker is delivered even at or below skipTo:
			// it says what came before it may be another log's (fork).
			seq, ok := ingest.PeekSeq(data)
			if below := ok && seq <= c.skipTo; below && !origin.IsRepublished() {
				c.next, c.exact = sseq+1, true
				continue
			} else if !below {
				c.skipTo = 0
			}
		}
		m := ingest.Message{Data: data, After: position(sseq + 1), Behind: int64(md.NumPending), Origin: origin}
		if err := h(ctx, m); err != nil {
			if ctx.Err() != nil || !c.retry.Reject(ctx) {
				return nil
			}
			c.next, c.exact = sseq, true
			return errRejected
		}
		c.retry.Accepted()
		c.next, c.exact = sseq+1, true
	}
}

// open checks that the stream still holds c.next and creates an ordered
// consumer there.
func (c *consumer) open(ctx context.Context) (jetstream.Consumer, error) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	stream, err := c.js.Stream(rctx, c.cfg.Stream)
	if err != nil {
		err = fmt.Errorf("nats: stream %s: %w", c.cfg.Stream, err)
		if !c.seen && errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("%w: %w", err, ingest.ErrTerminal)
		}
		return nil, err
	}
	c.seen = true
	state := stream.CachedInfo().State
	if c.exact && (c.next < state.FirstSeq || c.next > state.LastSeq+1) {
		return nil, fmt.Errorf("nats: stream %s holds sequences %d to %d, not %d: %w",
			c.cfg.Stream, state.FirstSeq, state.LastSeq, c.next, ingest.ErrResync)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{c.cfg.Subject}}
	if c.next > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = c.next
	}
	cons, err := c.js.OrderedConsumer(rctx, c.cfg.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("nats: ordered consumer on %s at %d: %w", c.cfg.Stream, c.next, err)
	}
	return cons, nil
}

// idle delivers a heartbeat, at most about once a second, when the
// consumer has nothing pending.
func (c *consumer) idle(ctx context.Context, cons jetstream.Consumer, h ingest.Handler) {
	if time.Since(c.lastBeat) < heartbeatEvery {
		return
	}
	ictx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	info, err := cons.Info(ictx)
	if err != nil || info.NumPending > 0 {
		return
	}
	c.lastBeat = time.Now()
	next := c.next
	if next == 0 {
		next = info.Delivered.Stream + 1
	}
	_ = h(ctx, ingest.Message{After: position(next), Behind: 0})
}

func position(next uint64) replica.Position {
	return replica.Position{KafkaOffset: -1, JetStreamSeq: next}
}
