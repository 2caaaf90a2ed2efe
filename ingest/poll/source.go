package poll

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/replica"
)

// heartbeatEvery bounds how often idle answers become heartbeats, and how
// fast the Source polls when the feed answers empty without waiting.
const heartbeatEvery = time.Second

// Source long-polls the control plane's event feed.
type Source struct {
	client *Client
	retry  ingest.Retrier
}

var (
	_ ingest.Source         = (*Source)(nil)
	_ ingest.HealthReporter = (*Source)(nil)
)

// New returns a Source for cfg. A nil log discards log lines.
func New(cfg Config, log *slog.Logger) (*Source, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Source{client: c, retry: ingest.Retrier{Source: "poll", Log: log, Backoff: cfg.Backoff}}, nil
}

// Name returns "poll".
func (s *Source) Name() string { return "poll" }

// Client returns the Source's client, for use as the Runner's feed.
func (s *Source) Client() *Client { return s.client }

// Health reports the connection's health.
func (s *Source) Health() ingest.Health { return s.retry.Health() }

// Run delivers the events after from.Seq to h until ctx ends. See the
// package documentation for errors and heartbeats.
func (s *Source) Run(ctx context.Context, from replica.Position, h ingest.Handler) error {
	defer s.client.CloseIdleConnections()
	after := from.Seq
	var wait time.Duration // the first poll answers at once
	var lastEmpty time.Time
	// While a page is delivered, the page after it is already being fetched
	// (and split) in the background, so the network and the control plane's
	// work overlap with applying. A prefetch is used only if delivery ended
	// where it starts; otherwise (an event refused) it is dropped.
	var ahead *prefetch
	defer func() { ahead.drop() }()
	for ctx.Err() == nil {
		var events []json.RawMessage
		var origin ingest.Origin
		var err error
		if ahead != nil && ahead.after == after {
			events, origin, err = ahead.wait()
		} else {
			ahead.drop()
			events, origin, err = s.client.pollOrigin(ctx, after, 0, wait)
		}
		ahead = nil
		head := origin.Head
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ingest.ErrTerminal) || errors.Is(err, ingest.ErrResync) {
				return err
			}
			if !s.retry.Fail(ctx, err) {
				return nil
			}
			continue
		}
		s.retry.Connected()
		wait = s.client.cfg.Wait

		if len(events) == 0 {
			// An idle poll. Pace answers that came back at once (a feed
			// that ignores wait), so heartbeats stay about once a second.
			if since := time.Since(lastEmpty); since < heartbeatEvery {
				if !ingest.Sleep(ctx, heartbeatEvery-since) {
					return nil
				}
			}
			lastEmpty = time.Now()
			behind := int64(0)
			if head > after {
				behind = int64(head - after)
			}
			// A heartbeat is accepted or not; there is nothing to redeliver.
			_ = h(ctx, ingest.Message{After: position(after), Behind: behind, Origin: &origin})
			continue
		}

		if last, ok := ingest.PeekSeq(events[len(events)-1]); ok && last > after {
			ahead = s.prefetch(ctx, last, wait)
		}
		for _, raw := range events {
			seq, ok := ingest.PeekSeq(raw)
			if !ok {
				// Not an event we can read: it stands at the next seq, and
				// the Handler will reject it as poison.
				seq = after + 1
			}
			behind := int64(0)
			if head > seq {
				behind = int64(head - seq)
			}
			if err := h(ctx, ingest.Message{Data: raw, After: position(seq), Behind: behind, Origin: &origin}); err != nil {
				if ctx.Err() != nil || !s.retry.Reject(ctx) {
					return nil
				}
				break // poll again from the last accepted event
			}
			s.retry.Accepted()
			after = max(after, seq)
		}
	}
	return nil
}

// prefetch is a poll running in the background.
type prefetch struct {
	after  uint64
	cancel context.CancelFunc
	done   chan struct{}
	events []json.RawMessage
	origin ingest.Origin
	err    error
}

// prefetch starts polling for the events after after.
func (s *Source) prefetch(ctx context.Context, after uint64, wait time.Duration) *prefetch {
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetch{after: after, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.events, p.origin, p.err = s.client.pollOrigin(ctx, after, 0, wait)
	}()
	return p
}

// wait returns the prefetched answer and what it says about the log.
func (p *prefetch) wait() ([]json.RawMessage, ingest.Origin, error) {
	<-p.done
	p.cancel()
	return p.events, p.origin, p.err
}

// drop abandons a prefetch (nil does nothing) and waits for its goroutine.
func (p *prefetch) drop() {
	if p != nil {
		p.cancel()
		<-p.done
	}
}

func position(seq uint64) replica.Position {
	return replica.Position{Seq: seq, KafkaOffset: -1}
}
