// Package query answers the Check API's questions (authorize, list,
// actions, evaluate_query, query, stored facts, policy metadata) over a
// replica state and its compiled Polar policy.
//
// Every question is answered against one replica.View: one revision, held
// from the first read to the last, so an answer never mixes two revisions.
// Answers to questions without context facts are cached in a ristretto
// cache keyed by (revision, question); a new revision can therefore never
// be served an answer computed before it, in particular never a revoked
// permission.
//
// Concurrency: an Engine is safe for concurrent use. It holds no lock of its
// own; the replica's view provides isolation.
package query
