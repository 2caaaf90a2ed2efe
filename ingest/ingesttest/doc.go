// Package ingesttest holds what the ingest tests share:
//
//   - Run, the contract suite every ingest.Source passes against a real
//     transport (an embedded broker or a real HTTP server), given a Harness
//     that opens an empty event log on it, publishes raw payloads, stops and
//     restarts it, and makes Sources;
//   - FeedServer, a real HTTP server on 127.0.0.1 that serves the control
//     plane's event feed and snapshot endpoints from a slice, with
//     retention (410 Gone) and outages, for the poll source's contract
//     suite and for Runner tests that need events no control plane would
//     write (poison, gaps);
//   - Event, PoisonEvent and friends, which build event payloads;
//   - CheckGoroutines, the leak check of tests that start loops;
//   - RunUntil and LogBuffer, which run a source until a condition holds
//     and keep its log, and CheckRefused, the checks of a source given
//     wrong credentials (the kafka and nats security tests).
//
// Concurrency: a FeedServer is safe for concurrent use. The suite's cases
// run one after another (they share brokers, and some stop them).
package ingesttest
