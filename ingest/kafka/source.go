package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/replica"
)

// Defaults.
const (
	DefaultMaxWait     = 500 * time.Millisecond
	DefaultMaxBytes    = 8 << 20
	DefaultDialTimeout = 5 * time.Second
	DefaultClientID    = "outpost"
	heartbeatEvery     = time.Second
	// requestSlack bounds a fetch beyond its MaxWait.
	requestSlack = 10 * time.Second
)

// Config configures a Source.
type Config struct {
	// Brokers are bootstrap addresses, host:port. Required.
	Brokers []string
	// Env is the environment; it names the default topic.
	Env string
	// Topic to read. Default "outpost.<Env>.events"; one of Topic and Env is
	// required.
	Topic string
	// Partition to read. Default 0 (the topic has one partition).
	Partition int
	// MaxWait is how long a fetch waits for new records. Default 500 ms.
	MaxWait time.Duration
	// MaxBytes bounds one fetch's answer. Default 8 MiB; a record batch
	// larger than this is still returned whole by the broker.
	MaxBytes int
	// DialTimeout bounds connecting to a broker. Default 5 s.
	DialTimeout time.Duration
	// ClientID is sent to the brokers. Default "outpost".
	ClientID string
	// TLS, when set, encrypts every broker connection (and presents its
	// client certificate, if any). Default: plain TCP.
	TLS *tls.Config
	// SASL, when set, authenticates every broker connection (see SASL for
	// PLAIN and SCRAM). Default: none.
	SASL sasl.Mechanism
	// Backoff paces reconnects and redeliveries of rejected messages.
	// The zero value uses 100 ms initial and 10 s maximum delays.
	Backoff ingest.Backoff
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("kafka: Brokers is required"))
	}
	for _, b := range c.Brokers {
		if b == "" || !strings.Contains(b, ":") {
			errs = append(errs, fmt.Errorf("kafka: broker %q: want host:port", b))
		}
	}
	if c.Topic == "" && c.Env == "" {
		errs = append(errs, errors.New("kafka: Topic or Env is required"))
	}
	if c.Partition < 0 {
		errs = append(errs, fmt.Errorf("kafka: Partition %d is negative", c.Partition))
	}
	if c.MaxWait < 0 || c.MaxBytes < 0 || c.DialTimeout < 0 {
		errs = append(errs, errors.New("kafka: MaxWait, MaxBytes and DialTimeout must not be negative"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Topic == "" {
		c.Topic = "outpost." + c.Env + ".events"
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	return c
}

// Source reads one partition of a Kafka topic.
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
	return &Source{cfg: cfg, retry: ingest.Retrier{Source: "kafka", Log: log, Backoff: cfg.Backoff}}, nil
}

// Name returns "kafka".
func (s *Source) Name() string { return "kafka" }

// Health reports the connection's health.
func (s *Source) Health() ingest.Health { return s.retry.Health() }

// Run delivers the partition's records after from to h until ctx ends.
// See the package documentation for positions and errors.
func (s *Source) Run(ctx context.Context, from replica.Position, h ingest.Handler) error {
	tr := &kafka.Transport{DialTimeout: s.cfg.DialTimeout, IdleTimeout: 30 * time.Second, ClientID: s.cfg.ClientID,
		TLS: s.cfg.TLS, SASL: s.cfg.SASL}
	defer tr.CloseIdleConnections()
	r := &reader{
		Source: s,
		client: &kafka.Client{Addr: kafka.TCP(s.cfg.Brokers...), Transport: tr},
		offset: from.KafkaOffset,
	}
	if r.offset < 0 {
		r.skipTo = from.Seq
	}
	for ctx.Err() == nil {
		err := r.checkedStep(ctx, h)
		if err == nil || ctx.Err() != nil {
			continue
		}
		if errors.Is(err, ingest.ErrResync) || errors.Is(err, ingest.ErrTerminal) {
			return err
		}
		if !s.retry.Fail(ctx, err) {
			return nil
		}
	}
	return nil
}

// reader is the state of one Run.
type reader struct {
	*Source
	client    *kafka.Client
	offset    int64  // next offset to read; -1 until the first offset is known
	skipTo    uint64 // skip records with event seq <= skipTo until one is delivered
	seen      bool   // the topic has answered once
	connected bool   // the last step succeeded: no need to check the connection
	lastBeat  time.Time
	lastEmpty time.Time
}

// step fetches once and delivers what came back. It returns nil after
// progress, an idle fetch or a rejected message (having waited the
// redelivery delay), and the transport's error otherwise.
func (r *reader) step(ctx context.Context, h ingest.Handler) error {
	if r.offset < 0 {
		first, err := r.firstOffset(ctx)
		if err != nil {
			return r.classify(err)
		}
		r.offset = first
	}
	fctx, cancel := context.WithTimeout(ctx, r.cfg.MaxWait+requestSlack)
	defer cancel()
	res, err := r.client.Fetch(fctx, &kafka.FetchRequest{
		Topic:     r.cfg.Topic,
		Partition: r.cfg.Partition,
		Offset:    r.offset,
		MinBytes:  1,
		MaxBytes:  int64(r.cfg.MaxBytes),
		MaxWait:   r.cfg.MaxWait,
	})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return r.classify(fmt.Errorf("fetch %s/%d at offset %d: %w", r.cfg.Topic, r.cfg.Partition, r.offset, err))
	}
	if c, ok := res.Records.(io.Closer); ok {
		defer c.Close()
	}
	r.seen = true
	r.retry.Connected()

	delivered := 0
	for {
		rec, err := res.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read records of %s/%d at offset %d: %w", r.cfg.Topic, r.cfg.Partition, r.offset, err)
		}
		if rec.Offset < r.offset {
			continue // Fetch returns whole batches
		}
		data, err := value(rec)
		if err != nil {
			return fmt.Errorf("read record %d: %w", rec.Offset, err)
		}
		next := rec.Offset + 1
		origin := recordOrigin(rec.Headers)
		if r.skipTo > 0 {
			// A republished marker is delivered even at or below skipTo:
			// it says what came before it may be another log's (fork).
			seq, ok := ingest.PeekSeq(data)
			if below := ok && seq <= r.skipTo; below && !origin.IsRepublished() {
				r.offset = next
				continue
			} else if !below {
				r.skipTo = 0
			}
		}
		m := ingest.Message{Data: data, After: position(next), Behind: max(res.HighWatermark-next, 0), Origin: origin}
		if err := h(ctx, m); err != nil {
			if ctx.Err() == nil {
				r.retry.Reject(ctx)
			}
			return nil // fetch again from the rejected record
		}
		r.retry.Accepted()
		r.offset = next
		delivered++
	}
	if delivered > 0 || r.offset < res.HighWatermark {
		return nil
	}
	// Idle: the fetch waited and found nothing past the high-water mark.
	now := time.Now()
	if now.Sub(r.lastBeat) >= heartbeatEvery {
		r.lastBeat = now
		_ = h(ctx, ingest.Message{After: position(r.offset), Behind: 0})
	}
	// Pace idle fetches that come back at once.
	if since := now.Sub(r.lastEmpty); since < r.cfg.MaxWait/2 {
		ingest.Sleep(ctx, r.cfg.MaxWait/2-since)
	}
	r.lastEmpty = time.Now()
	return nil
}

func (r *reader) firstOffset(ctx context.Context) (int64, error) {
	lctx, cancel := context.WithTimeout(ctx, requestSlack)
	defer cancel()
	res, err := r.client.ListOffsets(lctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{r.cfg.Topic: {kafka.FirstOffsetOf(r.cfg.Partition)}},
	})
	if err != nil {
		return 0, fmt.Errorf("list offsets of %s/%d: %w", r.cfg.Topic, r.cfg.Partition, err)
	}
	for _, p := range res.Topics[r.cfg.Topic] {
		if p.Partition == r.cfg.Partition {
			if p.Error != nil {
				return 0, fmt.Errorf("list offsets of %s/%d: %w", r.cfg.Topic, r.cfg.Partition, p.Error)
			}
			return p.FirstOffset, nil
		}
	}
	return 0, fmt.Errorf("list offsets of %s/%d: %w", r.cfg.Topic, r.cfg.Partition, kafka.UnknownTopicOrPartition)
}

// classify marks the errors Run cannot retry.
func (r *reader) classify(err error) error {
	switch {
	case errors.Is(err, kafka.OffsetOutOfRange):
		return fmt.Errorf("%w: %w", err, ingest.ErrResync)
	case !r.seen && errors.Is(err, kafka.UnknownTopicOrPartition):
		return fmt.Errorf("%w: %w", err, ingest.ErrTerminal)
	}
	return err
}

// value copies a record's value; a record without one is an empty payload,
// which the replica rejects as poison (nil would be a heartbeat).
func value(rec *kafka.Record) ([]byte, error) {
	if rec.Value == nil {
		return []byte{}, nil
	}
	defer rec.Value.Close()
	return io.ReadAll(rec.Value) // never nil
}

func position(next int64) replica.Position {
	return replica.Position{KafkaOffset: next}
}
