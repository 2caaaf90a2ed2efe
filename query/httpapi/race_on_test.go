//go:build race

package httpapi

// raceEnabled: the race detector multiplies memory use (shadow memory), so
// memory ceilings are not asserted under it.
const raceEnabled = true
