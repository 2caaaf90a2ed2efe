// Package verify proves that a node answers like its control plane: it
// builds questions from the node's own facts, asks both sides the same
// question through the Check API's three main calls (authorize, actions,
// list), and compares the answers.
//
// Questions come from a Sample of the node's facts: actor/resource pairs of
// has_role facts (the actor asked about the role's resource, and about the
// children that has_relation facts give it), plus pairs that should be
// denied (an actor with a resource it has no fact about, and an actor id no
// fact mentions). Each side is an Answerer: the local query.Engine
// (EngineAnswerer) or a Check API over HTTP (HTTPAnswerer), so the same
// Verifier serves `--verify-rate` inside a node (engine vs upstream) and
// the one-shot `outpost verify` (a running node vs its upstream).
//
// Outcomes go to outpost_verify_total{outcome="match|mismatch|error"}; a
// mismatch is logged with the question, both answers and both revisions,
// and the last ones are kept for /status. A mismatch while the node is
// behind its upstream is staleness, not a bug: compare the revisions (and
// the node's lag) before reading more into it.
//
// Concurrency: a Verifier's Run, Check and Status may be called from any
// goroutine; Answerers are safe for concurrent use.
package verify
