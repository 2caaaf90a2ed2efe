package datasets

import "math/bits"

// rng is a SplitMix64 generator. Every entity (organization, repository,
// issue) gets its own stream derived from (seed, kind, index), so any
// entity's attributes can be recomputed without generating the others; this
// is what lets Describe and SampleQueries work without generating facts.
// Only integer arithmetic is used, so streams are identical on every
// platform and Go version.
type rng struct{ s uint64 }

// Stream kinds.
const (
	streamOrg uint64 = iota + 1
	streamRepo
	streamIssue
	streamQueries
	streamIssueReads
)

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func newRNG(seed int64, kind, a, b uint64) rng {
	z := mix64(uint64(seed) ^ kind*0x9e3779b97f4a7c15)
	z = mix64(z ^ a)
	z = mix64(z ^ (b + 0x632be59bd9b4e019))
	return rng{s: z}
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// intn returns a value in [0, n) for n > 0 (Lemire's multiply-shift; the
// bias is below 2^-40 for the sizes used here).
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// int64n is intn for int64 bounds.
func (r *rng) int64n(n int64) int64 {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int64(hi)
}

// percent reports whether a draw falls under p percent.
func (r *rng) percent(p int) bool { return r.intn(100) < p }

// weighted picks an index of weights with probability proportional to its
// weight; total is the sum of weights.
func (r *rng) weighted(weights []int, total int) int {
	x := r.intn(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}
