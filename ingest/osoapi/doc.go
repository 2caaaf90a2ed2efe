// Package osoapi follows an Oso Cloud environment (or anything that speaks
// Oso's public HTTP API) without an event feed (DESIGN.md §1, deployment 4):
//
//	GET {URL}/api/policy                    -> {"policy": {"filename": ..., "src": ...}} or {"policy": null}
//	GET {URL}/api/facts?predicate=NAME      -> [fact, ...]   (every argument a wildcard)
//
// both with "Authorization: Bearer <OSO_API_TOKEN>". One facts request is
// sent per predicate name that the upstream policy can read
// (polar.Policy.FactPredicates); Oso matches every arity of that name when
// no argument is given, so each request covers all arities of its name.
// Answers are decoded as a stream (json.Decoder, one fact at a time) straight
// into a replica.Loader: a large environment is held once, in the replica's
// compact form, never as a whole response.
//
// # Refresh
//
// Source.Run refreshes every Config.Interval: it fetches the policy and
// every fact into a new state, compares it with the served state (policy,
// then the fact-digest sum, then fact by fact), and delivers the difference
// as ONE batch event (exact deletes, a wildcard delete per relation that
// became empty, inserts and, when it changed, the new policy: a batch event
// may carry a policy so both change in one step) with seq = applied+1. The
// Runner applies it like any event, so checkpoints, the digest, /status and
// the metrics need nothing special. No difference, no event: a heartbeat
// says the node is caught up (oso_fallback_snapshot_age_ms falls to 0).
//
// Any upstream failure (refused connection, 401/403, 429 with Retry-After,
// 5xx, an error answer such as a plan's result limit, a timeout, a body cut
// short or not valid JSON) ends that refresh before anything is applied:
// the served state is untouched, the failure goes to Health (which the
// Runner shows in /status and outpost_ingest_errors_total{kind="transport"})
// and the Source retries with capped, jittered backoff (at least the
// Retry-After of a 429), then returns to the normal interval.
//
// Seq: Oso's API has no event seq. The node numbers its own events: each
// refresh that changes something is event applied+1 of the node's own log,
// so X-Outpost-Revision counts refreshes that changed something on this
// node and is not comparable across nodes (compare digests instead); see
// docs/decisions.md.
//
// Concurrency: a Source runs one Run at a time; Health and Status may be
// called from any goroutine.
package osoapi
