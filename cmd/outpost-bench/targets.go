package main

import "fmt"

// target is one goal of DESIGN.md §10 for one metric of one scenario.
type target struct {
	scenario, metric string
	// atMost: the value must be ≤ limit; otherwise ≥ limit.
	atMost bool
	limit  float64
	// perFacts, when set, scales limit by facts/perFacts (a time budget
	// stated at one size, judged pro rata at others).
	perFacts int64
	// minFacts: below this size the target is shown but not judged.
	minFacts int64
	text     string
}

// targets are DESIGN.md §10, "Targets (measured by benchmarks, never
// asserted by timed tests)", on the synthetic gitclub data on this 2-core
// machine.
var targets = []target{
	// "checkpoint load ≥ 2M facts/s"
	{scenario: "load", metric: "rate", limit: 2e6, text: "≥ 2M facts/s"},
	// "RSS ≤ 80 bytes per fact at 10M" (DESIGN.md §11). Judged at 10M only:
	// below that, the runtime's and the binary's fixed RSS (tens of MiB)
	// dominates.
	{scenario: "load", metric: "RSS/fact", atMost: true, limit: 80, minFacts: 10_000_000, text: "≤ 80 B at 10M facts"},
	// "authorize in-process, uncached: p50 ≤ 2 µs for a direct role,
	// ≤ 5 µs through org → repo → issue inheritance"
	{scenario: "authorize_direct", metric: "p50", atMost: true, limit: 2e3, text: "≤ 2 µs"},
	{scenario: "authorize_inherit", metric: "p50", atMost: true, limit: 5e3, text: "≤ 5 µs"},
	// "list of 10k accessible repos ≤ 5 ms": BigUser reaches 10k
	// repositories from about 1M facts up (datasets.Shape.BigUser).
	{scenario: "list_biguser", metric: "p50", atMost: true, limit: 5e6, minFacts: 1_000_000, text: "≤ 5 ms (10k repos)"},
	// The in-process HTTP figures (http_authorize_*: the load client in the
	// same process, on the same 2 cores) are reported without a target:
	// DESIGN.md §11 judges HTTP by the pinned comparison below.
	// DESIGN.md §11: HTTP authorize, server pinned to one core, the load
	// generator on the other, "≥ 80% of a minimal Go net/http handler
	// measured the same way, p99 ≤ 2× its p99", cached and uncached; RSS
	// under HTTP load ≤ 1.5× the loaded RSS.
	// The unsuffixed rows ask the 4,096 mixed questions; the _issue_read
	// rows the workload of §11's own comparison (2,000 issue reads).
	{scenario: "http_pinned_uncached", metric: "rate/minimal", limit: 0.8, text: "≥ 0.8x"},
	{scenario: "http_pinned_uncached", metric: "p99/minimal", atMost: true, limit: 2, text: "≤ 2x"},
	{scenario: "http_pinned_cached", metric: "rate/minimal", limit: 0.8, text: "≥ 0.8x"},
	{scenario: "http_pinned_cached", metric: "p99/minimal", atMost: true, limit: 2, text: "≤ 2x"},
	{scenario: "http_pinned_uncached_issue_read", metric: "rate/minimal", limit: 0.8, text: "≥ 0.8x"},
	{scenario: "http_pinned_uncached_issue_read", metric: "p99/minimal", atMost: true, limit: 2, text: "≤ 2x"},
	{scenario: "http_pinned_cached_issue_read", metric: "rate/minimal", limit: 0.8, text: "≥ 0.8x"},
	{scenario: "http_pinned_cached_issue_read", metric: "p99/minimal", atMost: true, limit: 2, text: "≤ 2x"},
	// The same throughput target from the server's CPU per request, which
	// does not depend on the share of its core the server got.
	{scenario: "http_pinned_uncached", metric: "rate/minimal by CPU", limit: 0.8, text: "≥ 0.8x"},
	{scenario: "http_pinned_cached", metric: "rate/minimal by CPU", limit: 0.8, text: "≥ 0.8x"},
	{scenario: "http_pinned_uncached_issue_read", metric: "rate/minimal by CPU", limit: 0.8, text: "≥ 0.8x"},
	{scenario: "http_pinned_cached_issue_read", metric: "rate/minimal by CPU", limit: 0.8, text: "≥ 0.8x"},
	{scenario: "http_pinned_rss", metric: "under load/loaded", atMost: true, limit: 1.5, minFacts: 1_000_000, text: "≤ 1.5x (judged from 1M facts)"},
	// "authorize p99 while a writer applies 50k facts/s ≤ 1.5× idle p99"
	{scenario: "authorize_under_writes", metric: "p99 under writes/idle", atMost: true, limit: 1.5, text: "≤ 1.5x"},
	// "ingest ≥ 300k facts/s from every source, poll included (events of
	// 100 facts)"
	{scenario: "ingest_poll", metric: "rate", limit: 300e3, text: "≥ 300k facts/s"},
	{scenario: "ingest_kafka", metric: "rate", limit: 300e3, text: "≥ 300k facts/s"},
	{scenario: "ingest_nats", metric: "rate", limit: 300e3, text: "≥ 300k facts/s"},
	// "write on the control plane → visible on a node: p99 ≤ 50 ms via NATS
	// or Kafka, ≤ 1 s via poll"
	{scenario: "lag_nats", metric: "p99", atMost: true, limit: 50e6, text: "≤ 50 ms"},
	{scenario: "lag_kafka", metric: "p99", atMost: true, limit: 50e6, text: "≤ 50 ms"},
	{scenario: "lag_poll", metric: "p99", atMost: true, limit: 1e9, text: "≤ 1 s"},
	// "checkpoint of 10M facts ≤ 5 s without raising query p99 more than 2x"
	{scenario: "checkpoint_write", metric: "seconds", atMost: true, limit: 5, perFacts: 10_000_000, text: "≤ 5 s per 10M facts"},
	{scenario: "checkpoint_query", metric: "p99 busy/idle", atMost: true, limit: 2, text: "≤ 2x"},
	// issue #15: "a leaf check ≤ 20 µs at depth 6"
	{scenario: "tree_leaf_allowed", metric: "p50", atMost: true, limit: 20e3, text: "≤ 20 µs"},
	{scenario: "tree_leaf_denied", metric: "p50", atMost: true, limit: 20e3, text: "≤ 20 µs"},
	// issue #17: "four such requests at once must leave other clients'
	// authorize p99 unchanged within 2x"
	{scenario: "isolation_authorize_busy", metric: "p99 busy/idle", atMost: true, limit: 2, text: "≤ 2x"},
}

// judge sets Target and Met on the metrics of r that have a target.
func judge(r *Result) {
	for i := range r.Metrics {
		m := &r.Metrics[i]
		for _, t := range targets {
			if t.scenario != r.Scenario || t.metric != m.Name {
				continue
			}
			limit := t.limit
			m.Target = t.text
			if t.perFacts > 0 {
				limit *= float64(r.Facts) / float64(t.perFacts)
				m.Target = fmt.Sprintf("≤ %s (%s)", format(limit, m.Unit), t.text)
			}
			if r.Facts < t.minFacts {
				continue
			}
			met := m.Value >= limit
			if t.atMost {
				met = m.Value <= limit
			}
			m.Met = &met
		}
	}
}
