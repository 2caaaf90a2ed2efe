// Package poll reads an environment's events by long-polling the control
// plane's event feed (DESIGN.md §3):
//
//	GET {URL}/v1/envs/{env}/events?after=N&limit=M&wait=25s  -> {"events":[...],"head":H}
//	GET {URL}/v1/envs/{env}/snapshot                         -> checkpoint file
//
// both with "Authorization: Bearer <token>". Source implements
// ingest.Source over the events endpoint; Client is the plain request side,
// which the Runner also uses as its ingest.FeedClient to fill gaps and to
// download snapshots.
//
// Resumption: the position is the event seq, so Run(from) asks for
// after=from.Seq and then after the seq of each accepted event. A 410 Gone
// (the feed no longer retains events after that seq) ends Run with an error
// wrapping ingest.ErrResync; 401, 403 and 404 end it with ingest.ErrTerminal;
// anything else is retried with backoff.
//
// Heartbeats: the first request of a Run does not wait, so an idle feed is
// reported caught up at once; later requests wait up to Config.Wait, and an
// empty answer whose head is the current position becomes a heartbeat.
//
// Throughput: while Run delivers one page of events, the next page (after
// the page's last seq) is already being fetched and split in a background
// goroutine; it is used when delivery ends there and dropped otherwise. An
// answer is read whole (sized by its Content-Length) and split into events
// by a structural scan (strings and bracket nesting only) when it has the
// feed's shape; anything else is decoded by encoding/json. Events are
// checked in full by the Runner's decoder.
//
// Concurrency: a Client is safe for concurrent use. A Source runs one Run
// at a time; its Health may be read concurrently.
package poll
