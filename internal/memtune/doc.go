// Package memtune sets the Go runtime's memory policy of a node: the
// garbage collector's target (GOGC) and the soft memory limit
// (GOMEMLIMIT), with defaults that keep the resident set under HTTP load
// within 1.5 times the loaded state (docs/configuration.md,
// docs/performance.md). cmd/outpost applies it at start; cmd/outpost-bench
// applies the same defaults to the server it measures.
package memtune
