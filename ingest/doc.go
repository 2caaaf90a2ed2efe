// Package ingest moves an environment's ordered change events from a
// transport into a replica: the Source contract, which ingest/poll,
// ingest/kafka and ingest/nats implement, the retry policy they share
// (Backoff, Retrier, Health), and the Runner that applies events, fills
// gaps from the control plane's event feed and re-bootstraps from a
// snapshot when the feed no longer has them.
//
// # Runner
//
// Per message the Runner decodes the event (a decode failure is poison)
// and applies it to the Engine's state (DESIGN.md §3):
//
//   - seq <= applied: a duplicate, accepted and skipped;
//   - seq > applied+1: a gap. The missing events are fetched from the Feed
//     and applied, then the message. Without a Feed, or while the Feed
//     fails, the message is rejected (the Source redelivers it with
//     backoff): nothing is ever applied past a gap. When the Feed answers
//     that it no longer retains them (ErrResync), the Runner re-bootstraps;
//   - poison: the message is rejected, the state is unchanged and keeps
//     serving, the event is reported (log line, outpost_ingest_errors_total,
//     Status poison_seq); after PoisonRetries failures in a row the Runner
//     re-bootstraps when it has a Feed.
//
// Re-bootstrap: cancel the Source's Run and wait for it, download a snapshot
// from the Feed, load it (LoadSnapshot), swap it into the Engine
// (SetState), and start the Source again from the snapshot's position. A
// snapshot older than the applied state is refused. When a Source reports
// ErrResync for its own transport position (a Kafka offset or JetStream
// sequence no longer held), the Runner first restarts it from the applied
// seq alone, which the Source finds by scanning; only a second ErrResync
// leads to a snapshot.
//
// Fork: when the control plane's log is not the one applied (a changed log
// id, a head below the applied seq, another state digest at the applied
// seq, or a message marked republished; see Origin and runner_fork.go), the
// Runner logs and counts it and re-bootstraps, possibly to a lower seq;
// without a Feed ingest stops there.
//
// Runner.Position pairs the applied seq with transport positions at or
// before it, so a checkpoint that records it resumes without loss (at worst
// with duplicates).
//
// Metrics (on RunnerConfig.Registerer): oso_fallback_snapshot_age_ms (now
// minus the last time a delivery said the source was caught up and the
// state had applied everything delivered; for poll, idle heartbeats come
// once per long-poll, so the value rises up to the poll wait between
// them), outpost_head_revision, outpost_lag_events, outpost_lag_seconds,
// outpost_ingest_events_total{source}, outpost_ingest_errors_total{source,
// kind} and outpost_resyncs_total{reason} (retention, poison, fork).
//
// # Concurrency
//
// A Source is used by one Run at a time; its Handler is never called
// concurrently. A Runner runs one Run at a time, which runs the Source's
// Run on its own goroutine and returns only after it has; Status, Position,
// the metrics and a Source's Health may be read from any goroutine (the
// Runner's fields are guarded by its mutex).
package ingest
