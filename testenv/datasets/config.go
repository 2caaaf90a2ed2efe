package datasets

import "fmt"

// Size limits for Config.Facts.
const (
	// DefaultFacts is used when Config.Facts is zero.
	DefaultFacts = 100_000
	// MinFacts is the smallest data set: two organizations always fit.
	MinFacts = 2_000
	// MaxFacts keeps every id within its fixed width (ids sort as strings).
	MaxFacts = 200_000_000
)

// Config chooses a data set. The same Config always yields the same facts in
// the same order.
type Config struct {
	// Facts is the exact number of facts to generate. Zero means
	// DefaultFacts; otherwise it must be in [MinFacts, MaxFacts].
	Facts int
	// Seed selects one of many data sets of the same size. Zero is a valid
	// seed.
	Seed int64
}

func (c Config) withDefaults() Config {
	if c.Facts == 0 {
		c.Facts = DefaultFacts
	}
	return c
}

// Validate reports whether the config (after defaults) is usable.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Facts < MinFacts || c.Facts > MaxFacts {
		return fmt.Errorf("datasets config: facts %d is outside [%d, %d]", c.Facts, MinFacts, MaxFacts)
	}
	return nil
}
