package ingest

import (
	"math/rand/v2"
	"time"
)

// Backoff computes capped exponential delays with full jitter. The zero
// value uses 100 ms initial and 10 s maximum delays. Not safe for
// concurrent use.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	attempt int
}

// Next returns the delay before the next attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	initial, max := b.Initial, b.Max
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if max <= 0 {
		max = 10 * time.Second
	}
	d := initial << min(b.attempt, 20)
	if d <= 0 || d > max {
		d = max
	}
	b.attempt++
	// full jitter in [d/2, d]
	return d/2 + rand.N(d/2+1)
}

// Reset starts over after progress.
func (b *Backoff) Reset() { b.attempt = 0 }

// Attempts returns the number of delays handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }
