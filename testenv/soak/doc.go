// Package soak runs Outpost under sustained, mixed load for a long time and
// reports whether it stays correct and flat (issue #8, `make soak`).
//
// Run starts the real binaries: a reference control plane
// (outpost-controlplane with an embedded NATS server, seeded with the
// gitclub data set) and two outpost nodes following its JetStream stream,
// each with its own data directory and a 30 s checkpoint interval. It then
//
//   - measures the checking capacity of the pair briefly (closed loop) and
//     sends mixed checks (authorize, actions, list) at half of it, open
//     loop, spread over the nodes in rotation, comparing every answer with
//     the answer the node gave before any write (the writes only touch
//     users of their own);
//   - writes continuously through the control plane: inserts, exact and
//     wildcard deletes, and now and then a policy change, each insert read
//     back from a node with its OsoOffset;
//   - halfway, takes one node out of rotation, stops it gracefully (SIGTERM)
//     and restarts it from its data directory, then puts it back once it
//     has caught up;
//   - every interval, prints errors, latency percentiles, the RSS and Go
//     heap of every process and the revisions;
//   - at the end, waits for the nodes to reach the control plane's head and
//     compares their state digests with the control plane's.
//
// A Report says whether the run passed: no errors and equal digests. RSS
// growth after warm-up is reported as a verdict but does not fail the run.
//
// Concurrency: Run owns every goroutine it starts and waits for them; the
// stats type is guarded by its mutex.
package soak
