package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/outpost-authz/outpost/ingest"
)

// transport is one message bus the control plane publishes the log to.
// Implementations are used by one publisher goroutine only.
type transport interface {
	name() string
	// connect dials the broker, ensures the topic or stream exists, and
	// reports the seq of the last event the broker holds (0 for none), its
	// bytes, and the transport position just after it.
	connect(ctx context.Context) (last uint64, lastData []byte, next int64, err error)
	// publish sends events (consecutive seqs, in order) and returns, for
	// each, the transport position just after it once the broker has
	// acknowledged it. On error nothing may be assumed about which events
	// were stored; the publisher reconnects and asks the broker. Every
	// message carries meta.logID (ingest.HeaderLogID); the first one is
	// marked ingest.HeaderRepublished when meta.republished.
	publish(ctx context.Context, events [][]byte, meta publishMeta) (nexts []int64, err error)
	// close releases connections. connect may be called again after it.
	close()
}

// publishMeta is what a publish call sends besides the events.
type publishMeta struct {
	logID       string
	republished bool // mark the first event: another log's events precede it
}

// Publishing limits per publish call.
const (
	publishMaxEvents = 256
	publishMaxBytes  = 512 << 10
)

// publisher publishes the event log to one transport in seq order: it never
// sends seq n+1 before seq n is acknowledged, retries with capped, jittered
// backoff, and after any failure or restart asks the broker which seq it
// holds last and resumes right after it (so duplicates are rare, and nothing
// is skipped even if the broker lost records).
type publisher struct {
	s      *Server
	t      transport
	logger *slog.Logger

	mu sync.Mutex
	// Guarded by mu: the position just after each acknowledged seq (recent
	// ones), and the last acknowledged seq.
	after   map[uint64]int64
	lastAck uint64
}

func newPublisher(s *Server, t transport) *publisher {
	return &publisher{s: s, t: t, logger: s.logger.With("transport", t.name()), after: map[uint64]int64{}}
}

// acked returns the seq of the last acknowledged event.
func (p *publisher) acked() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastAck
}

// positionAfter returns the transport position just after seq, if seq is
// known to be acknowledged.
func (p *publisher) positionAfter(seq uint64) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pos, ok := p.after[seq]
	return pos, ok
}

const keepPositions = 4096

func (p *publisher) record(seq uint64, next int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.after[seq] = next
	p.lastAck = seq
	if len(p.after) > 2*keepPositions {
		for s := range p.after {
			if s+keepPositions < seq {
				delete(p.after, s)
			}
		}
	}
	p.s.m.published.WithLabelValues(p.t.name()).Set(float64(seq))
}

// Run publishes until ctx ends, then returns nil.
func (p *publisher) Run(ctx context.Context) error {
	defer p.t.close()
	b := ingest.Backoff{Initial: 50 * time.Millisecond, Max: p.s.cfg.PublishBackoffMax}
	failing := false
	fail := func(what string, err error) {
		p.s.m.pubErrors.WithLabelValues(p.t.name()).Inc()
		if !failing {
			p.logger.Warn("publishing is failing; retrying with backoff", "op", what, "err", err)
			failing = true
		}
		p.t.close()
		sleep(ctx, b.Next())
	}
	connected := false
	republish := false // the next publish follows another log's events
	var next uint64    // the next seq to publish
	for ctx.Err() == nil {
		if !connected {
			last, lastData, pos, err := p.t.connect(ctx)
			if err != nil {
				fail("connect", err)
				continue
			}
			if n, foreign := p.foreignBranch(last, lastData); foreign {
				next, connected, republish = n, true, true
				continue
			}
			if last > 0 {
				p.record(last, pos)
			}
			next, connected = last+1, true
			p.logger.Debug("publisher connected", "broker_last_seq", last)
		}
		ch := p.s.changedCh()
		if p.s.elog.head() < next {
			select {
			case <-ch:
			case <-ctx.Done():
			}
			continue
		}
		evs, err := p.s.elog.read(next, publishMaxEvents)
		if err != nil {
			fail("read log", err)
			continue
		}
		evs = limitBytes(evs, publishMaxBytes)
		nexts, err := p.t.publish(ctx, evs, publishMeta{logID: p.s.elog.ID(), republished: republish})
		if err != nil {
			connected = false
			if ctx.Err() == nil {
				fail("publish", err)
			}
			continue
		}
		for i, pos := range nexts {
			p.record(next+uint64(i), pos)
		}
		republish = republish && len(nexts) == 0
		next += uint64(len(nexts))
		b.Reset()
		if failing {
			p.logger.Info("publishing recovered", "acked_seq", next-1)
			failing = false
		}
	}
	return nil
}

// limitBytes keeps a prefix of events of at most max bytes (at least one).
func limitBytes(evs [][]byte, max int) [][]byte {
	n := 0
	for i, e := range evs {
		n += len(e)
		if n > max && i > 0 {
			return evs[:i]
		}
	}
	return evs
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// eventSeq reads the seq of an event's JSON.
func eventSeq(data []byte) (uint64, error) {
	var ev struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return 0, fmt.Errorf("decode event seq: %w", err)
	}
	if ev.Seq == 0 {
		return 0, fmt.Errorf("decode event seq: no seq")
	}
	return ev.Seq, nil
}

// foreignBranch reports whether the broker's last event is not this log's:
// a seq beyond the head, or other bytes at the same seq. That happens when
// the control plane was restored from a backup or re-seeded after losing
// its data directory while the broker kept what the lost log published.
// Publishing resumes then from this log's head (republished), so that the
// positions of the head and of every later event are known again and
// snapshots carry them: a node that detects the fork re-bootstraps from a
// snapshot and resumes right after it, past the lost branch's events
// (issue #17 item 3). It returns the next seq to publish.
func (p *publisher) foreignBranch(last uint64, lastData []byte) (uint64, bool) {
	if last == 0 {
		return 0, false
	}
	head := p.s.elog.head()
	why := ""
	if last > head {
		why = fmt.Sprintf("the broker holds seq %d beyond this log's head %d", last, head)
	} else if ours, err := p.s.elog.read(last, 1); err == nil && len(ours) == 1 && !bytes.Equal(ours[0], lastData) {
		why = fmt.Sprintf("the broker's event %d is not this log's event %d", last, last)
	}
	if why == "" {
		return 0, false
	}
	p.logger.Warn("the broker holds events of another log (a restored or re-seeded control plane); republishing from this log's head",
		"reason", why, "head", head)
	return max(head, 1), true
}
