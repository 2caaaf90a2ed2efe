// Package controlplane is Outpost's reference control plane: a real,
// Oso Cloud-compatible server for one environment that tests, the demo and
// the benchmarks use as "the cloud" (DESIGN.md §2-§3, check-api.md §6-§7).
//
// It owns:
//   - the environment's event log, an append-only file in the data
//     directory (format and recovery rules in eventlog.go). Every accepted
//     write becomes exactly one event with the next seq, written and fsynced
//     before the reply, whose OsoOffset is "<logid>:<seq>";
//   - the state: a replica.State built by applying its own events (replayed
//     from the log, or from its newest checkpoint plus the log's tail, on
//     start), with a query.Engine over it;
//   - the HTTP API: the write endpoints (policy, batch, the deprecated facts
//     and bulk endpoints, clear_data) with bearer-key auth, the Check API
//     reads (query/httpapi mounted on the same router), the node feeds
//     (/v1/envs/{env}/events long-poll, /snapshot, /status), /healthcheck and
//     /metrics on a Prometheus registry of its own;
//   - publishers that copy the log, in seq order, to a Kafka topic and/or a
//     NATS JetStream stream;
//   - test helpers: Start runs one on 127.0.0.1 for a test, with a Client
//     for writes, Stop/Restart for fault tests and SeedGitclub.
//
// # Decisions
//
//   - A write that changes nothing gets no event: a policy identical to the
//     active one (202) and an empty batch reply with the OsoOffset of the
//     current head, which already covers them. Every other accepted write,
//     including a delete that matches nothing, is one event.
//   - An Oso batch (ordered groups of inserts and deletes) becomes one batch
//     event whose Deletes run first, then Inserts; see normalizeBatch for the
//     construction and why it is equivalent.
//   - An environment without a policy (new, never set) answers every read
//     as an empty policy does (deny, empty lists, metadata with only the
//     global entry); it refuses fact inserts with 400 (facts are checked
//     against the policy, and none admits any predicate) and accepts
//     deletes and clear_data. See docs/decisions.md.
//   - POST /api/expect (Oso Migrate's parity report) is validated, counted
//     and answered 200 {}; it is not a write (no event, no OsoOffset).
//   - Deletes are checked for structure only (no id without a type, valid
//     values), not against the policy: deleting what does not exist is not an
//     error, and facts written under an earlier policy stay deletable.
//     Inserts must be concrete and fit the policy (polar.Policy.CheckFact).
//   - Retention (Config.Retain) is logical: the feed answers 410 for events
//     older than the newest Retain, but the file keeps every event, because a
//     restart replays it (after the newest checkpoint).
//   - Snapshot positions: /snapshot records, with its seq, the Kafka offset
//     and JetStream sequence just after that seq when the transport has
//     acknowledged it, else -1 / 0. Publishers learn positions from produce
//     and publish acknowledgements, and on (re)connect from the broker's last
//     record, so they need no file of their own.
//   - Publishers resume from the broker: after a restart or any failure they
//     read the seq of the last event the broker holds and continue after it.
//     Events are never reordered or skipped; a duplicate can only appear when
//     a produce succeeded but its acknowledgement was lost and the broker's
//     last record was read before it became visible (JetStream also drops
//     it by Nats-Msg-Id "<env>:<seq>:<hash>"). When the broker's last event
//     is not this log's (a seq beyond the head, or other bytes at the same
//     seq: the control plane was restored from a backup or re-seeded), they
//     republish from the head, marking that event Outpost-Republished; every
//     message carries Outpost-Log-Id (fork detection, #17).
//   - The feed's answers carry log_id, and the state digest at digest_seq,
//     so that nodes can detect a fork.
//   - API keys: the configured keys' SHA-256 hashes are the state's tokens; a
//     tokens event is appended on start whenever they differ. Keys are never
//     logged or stored.
//
// # Concurrency
//
// A Server is safe for concurrent use. Writes are serialised by one mutex
// (validate against the current policy, append + fsync, apply, commit);
// reads use replica views and never hold one while waiting. Committing an
// event closes a notification channel that wakes long-polls, publishers and
// the checkpoint writer. Background jobs (one publisher per transport, the
// checkpoint writer) run inside Run(ctx) and end with it.
package controlplane
