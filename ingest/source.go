package ingest

import (
	"context"
	"errors"

	"github.com/outpost-authz/outpost/replica"
)

// ErrTerminal marks an error a Source cannot recover from by retrying: bad
// configuration, credentials refused, a topic or stream that does not exist.
var ErrTerminal = errors.New("ingest source cannot continue")

// ErrResync marks an error saying the transport no longer has the events
// after this position (a poll answered 410 Gone, a Kafka offset out of
// range). Resuming from there is impossible; the Runner re-bootstraps from
// a snapshot (or, for a transport-specific position, first retries from the
// event seq alone).
var ErrResync = errors.New("the transport no longer has the events after this position")

// Message is one delivery from a transport.
type Message struct {
	// Data is one event in its JSON form (replica.DecodeEvent), or nil for a
	// heartbeat that only reports Behind.
	Data []byte
	// After is the transport position just past this message. Only the
	// field of the Source's own transport is meaningful (Seq for poll,
	// KafkaOffset for Kafka, JetStreamSeq for NATS); the others hold their
	// "unknown" values (Seq 0, KafkaOffset -1, JetStreamSeq 0). For a
	// heartbeat, After is the Source's current position, so a heartbeat with
	// Behind 0 says every message before After has been delivered and
	// nothing follows it yet.
	After replica.Position
	// Behind is how many messages the transport knows to follow this one:
	// 0 means the source was caught up with its head when it delivered the
	// message, -1 that it does not know.
	Behind int64
	// Origin is what the transport says, with this message, about the
	// control plane's log (for fork detection); nil when it says nothing.
	Origin *Origin
}

// Origin describes the control plane's event log as a transport or the
// control plane reports it. The Runner compares it with its state to
// detect a fork: a changed log id, a head below the applied seq, or a
// different state digest at the same seq (see runner_fork.go).
type Origin struct {
	// LogID is the log's id ("" when unknown). A control plane that lost its
	// data directory starts a log with a new id.
	LogID string
	// Head is the newest seq of the log, when HasHead.
	Head    uint64
	HasHead bool
	// Digest is the control plane's state digest at seq DigestSeq ("" when
	// unknown).
	Digest    string
	DigestSeq uint64
	// Republished marks the first message a control plane published after
	// finding another log's events on the transport (it was restored from a
	// backup or re-seeded): what came before it on the transport may be a
	// lost branch, so a node that reads it re-bootstraps.
	Republished bool
}

// IsRepublished reports whether o (possibly nil) marks a republished
// message.
func (o *Origin) IsRepublished() bool { return o != nil && o.Republished }

// Message headers with which the reference control plane publishes events
// to Kafka and NATS, read by their Sources into an Origin.
const (
	// HeaderLogID carries the log id on every message.
	HeaderLogID = "Outpost-Log-Id"
	// HeaderRepublished ("true") marks Origin.Republished.
	HeaderRepublished = "Outpost-Republished"
)

// OriginReader is implemented by feeds that can report the control
// plane's Origin on request (*poll.Client). The Runner consults it to
// check for a fork when the Source's messages do not carry an Origin with
// a digest (Kafka, NATS).
type OriginReader interface {
	Origin(ctx context.Context) (Origin, error)
}

// Handler consumes messages in transport order. A nil return accepts the
// message; the Source will not deliver it again in this Run. An error
// rejects it: the Source backs off (capped, jittered) and resumes from the
// position after the last accepted message, delivering the rejected one
// again.
type Handler func(ctx context.Context, m Message) error

// Source reads the ordered event stream of one environment from one
// transport.
//
// Contract:
//   - Ordering: messages are delivered in transport order, one at a time;
//     Handler is never called concurrently.
//   - Resumption: Run starts just past from (its transport field; when that
//     is unknown, from the first message whose event seq is > from.Seq, or
//     from the start of the transport's retention).
//   - At least once: after a reconnect or a rejected message, messages may
//     be delivered again. Transports may also carry duplicates and, after
//     faults, events beyond a gap; the Handler deals with both (the replica
//     skips seq <= applied and reports a gap for seq > applied+1).
//   - Errors: connection failures and rejected messages are retried inside
//     Run with capped exponential backoff and jitter that resets after
//     progress. Run returns nil when ctx ends, an error wrapping ErrResync
//     when the transport no longer retains the events after from, and an
//     error wrapping ErrTerminal when it cannot continue.
//   - Heartbeats: a Source delivers a heartbeat (Data nil) when it learns
//     it is caught up while idle, at most about once per second.
type Source interface {
	// Name is the transport's name: "poll", "kafka" or "nats".
	Name() string
	Run(ctx context.Context, from replica.Position, h Handler) error
}
