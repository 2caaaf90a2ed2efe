// Package nats reads an environment's events from its NATS JetStream
// stream (DESIGN.md §3: stream OUTPOST_<ENV>, subject outpost.<env>.events,
// Nats-Msg-Id "<env>:<seq>:<hash>") with an ordered consumer of nats.go's
// jetstream package: ephemeral, flow-controlled, recreated by the client
// when it detects a missed heartbeat or a sequence mismatch.
//
// Resumption: Run(from) starts the ordered consumer at stream sequence
// from.JetStreamSeq, the next one to read. When that is 0 (unknown), it
// starts at the beginning of the stream and skips messages whose event seq
// is at or below from.Seq. Before each (re)start it reads the stream's
// state: when the position is known and the stream's first sequence is
// past it (the messages are no longer retained), or the stream ends before
// it (the stream was recreated), Run returns an error wrapping
// ingest.ErrResync. A stream that does not exist at the first contact ends
// Run with ingest.ErrTerminal.
//
// Reconnection: the connection reconnects on its own (nats.go, forever);
// while it is down, or when the consumer cannot be created, the Source
// retries with ingest's backoff, recreating the consumer from the message
// after the last accepted one. A rejected message is redelivered the same
// way: ordered consumers do not acknowledge, so the consumer is recreated
// at the rejected message's stream sequence.
//
// Behind is the message's pending count (messages matching the consumer
// not yet delivered). When no message arrives for Config.IdleWait, the
// Source asks the consumer for its pending count and delivers a heartbeat
// when it is 0.
//
// Security: Auth describes TLS (CA, client certificate) and one of
// user/password, token, NKey seed file and .creds file; Auth.Options turns
// it into nats.go options for Config.Options. Errors and log lines show
// server URLs through RedactURL, never with a password or token.
//
// Concurrency: a Source runs one Run at a time; Health may be read
// concurrently.
package nats
