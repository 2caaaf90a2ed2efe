// Package ingest moves an environment's ordered change events from a
// transport into a replica: the Source contract, which ingest/poll,
// ingest/kafka and ingest/nats implement, shared backoff, and the Runner
// that applies events, fills gaps from the control plane's event feed and
// re-bootstraps from a snapshot when the feed no longer has them.
//
// Concurrency: a Source is used by one Run at a time; its Handler is never
// called concurrently.
package ingest
