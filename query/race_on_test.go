//go:build race

package query

// raceEnabled: the race detector slows evaluation about tenfold, so the
// largest shapes are scaled down under it (the full sizes run in the
// plain test run).
const raceEnabled = true
