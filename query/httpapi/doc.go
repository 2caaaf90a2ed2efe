// Package httpapi is the node's HTTP server: the Oso-compatible Check API
// (check-api.md §4) over a query.Engine, the 405 answers for write
// endpoints, and the operational endpoints /healthcheck, /api/healthcheck,
// /metrics, /status and / (an HTML rendering of /status).
//
// It is the only package that maps errors to HTTP status codes and JSON
// bodies (STYLE.md §9): query.ErrNotReady → 503, query.ErrBadRequest and
// query.ErrEvaluation → 400, an oversized body → 413, anything unexpected →
// 500 (logged, never a panic reaching net/http).
//
// # Request pipeline
//
// Every route runs through one wrapper that sets X-Request-ID (echoed when it
// is printable ASCII of at most 128 bytes, else a fresh UUID v4),
// Server-Timing (`oso;dur=<whole ms>`, one header line), and on /api answers
// Content-Type application/json and X-Outpost-Revision (the revision the
// answer was computed at, or the applied revision for answers computed at
// none); it recovers panics and records oso_fallback_http_requests. Check API
// routes then check, in order: X-OsoApiVersion (only 0), the concurrency
// limit (503 + Retry-After: 1), readiness (503 until a policy is loaded), the
// API key, the body (size limit, strict JSON with positions in messages), and
// OsoOffset (read-your-writes, DESIGN.md §6), before the endpoint asks the
// engine one question.
//
// # Decisions (also in docs/decisions.md)
//
//   - Unbounded answers. When the policy allows every resource of the type
//     (list) or every action (actions), the engine reports a wildcard that
//     a list of strings cannot express. The answer is 200 with the ids or
//     actions found explicitly, never an invented one, plus the header
//     `X-Outpost-Unbounded: true`, a count in
//     outpost_unbounded_answers_total and a warning in the log (at most one
//     per endpoint per minute). The answer is fail-closed (it never grants
//     more than the policy does); evaluate_query answers the same question
//     exactly, with a null cell.
//   - Policy version. `GET /api/policy_metadata?version=V` (or `id=V`)
//     accepts V equal to the active policy's version, which is the lower-case
//     hex SHA-256 of its source text (shown in /status as policy_version);
//     any other value is 404. A hash is the same on every node, unlike the
//     revision at which a node happened to observe the policy.
//   - Units. oso_fallback_http_requests is in milliseconds (Oso Fallback's
//     name and unit, for drop-in dashboards); outpost_* durations are in
//     seconds (Prometheus convention).
//   - Paging (check-api.md §4.3). A page_token is stateless: base64url of
//     the revision it was minted at, the page size, a hash of (actor,
//     action, resource_type), the last id returned and a CRC-32C. Results
//     are sorted by id; the next page continues strictly after the last id
//     at the current revision (waiting up to ConsistencyWait when the token
//     comes from a node further ahead), so pages never repeat an id but may
//     reflect writes applied between pages.
//   - A trailing slash is removed by CleanPath, so `/api/authorize/` is
//     served like `/api/authorize`; nothing ever redirects.
//
// # Concurrency
//
// A Server is safe for concurrent use. It holds no replica view of its own
// and never waits while holding one: readiness and the token set are read
// through one short-lived view per revision and cached (atomic pointer);
// OsoOffset waits use replica.State.WaitFor before the engine acquires its
// view. The concurrency limit is a buffered channel used as a semaphore.
package httpapi
