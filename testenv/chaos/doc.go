// Package chaos is a small fault-injecting TCP proxy for testing how Oso's
// SDKs fail over from the control plane to an Outpost node (check-api.md
// §8). It listens on one address in front of one upstream address and
// behaves, for each new connection, according to a mode that can be
// switched while it runs:
//
//   - pass: forward bytes both ways to the upstream (a plain TCP proxy).
//   - refuse: close the listening socket, so connections are refused
//     (ECONNREFUSED), exactly as when the upstream process is down. The
//     next mode re-opens the listener on the same address. This is the
//     failure that makes Oso's Node SDK use its fallbackUrl.
//   - reset: accept, then close with SO_LINGER 0 so the client gets a TCP
//     RST (ECONNRESET, "socket hang up"). Node does not fall back on it.
//   - delay: hold the connection for a duration, then forward it.
//   - hang: hold the connection, reading and discarding what the client
//     sends, until the client gives up or the mode changes (a server that
//     accepts and never answers; the SDK's fetchTimeoutMillis applies).
//   - http5xx: answer every HTTP/1.1 request on the connection with a
//     status (503 by default, or any 500-599) and a JSON error body,
//     without contacting the upstream.
//
// The mode is switched with [Proxy.Set] or over a small HTTP control API
// ([Proxy.ControlHandler]: GET/PUT /mode, GET /stats), which is how
// non-Go test suites (testenv/sdkcompat) and the cmd/outpost-chaos binary
// use it.
//
// # Mode changes drop connections
//
// A mode applies to a connection when it is accepted. Clients keep HTTP
// connections alive, so a pooled connection accepted in pass mode would
// keep reaching the upstream after a switch to http5xx. Every mode change
// therefore closes all connections the proxy holds open — as a restarting
// server would — and the next request opens a new one under the new mode.
// Switch modes between requests, not during them: a request in flight
// when its connection is dropped fails with a reset.
//
// In pass mode an upstream that cannot be reached shows as a reset, not
// as a refused connection, because the proxy itself accepted the client.
// Use refuse mode to simulate an upstream that is down.
//
// # Concurrency
//
// A Proxy is safe for concurrent use. One mutex guards the mode, the
// listener and the set of open connections; it is never held while doing
// I/O. The accept loop and each connection run in goroutines owned by the
// Proxy; Close stops the listener, closes every connection and waits for
// all of them.
package chaos
