package soak

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Config configures a soak run. Zero values get the documented defaults.
type Config struct {
	// BinDir holds the outpost and outpost-controlplane binaries
	// (required; `make soak` builds them into bin/).
	BinDir string
	// WorkDir holds the data directories and the processes' logs. Default:
	// a new temporary directory, removed after a passing run unless Keep.
	WorkDir string
	Keep    bool

	// Duration of the loaded phase (default 10m).
	Duration time.Duration
	// Interval between report rows (default 30s).
	Interval time.Duration
	// Facts of the gitclub data set seeded into the control plane (default
	// 100,000).
	Facts int
	// Rate of checks per second over all nodes. 0 (default): half of the
	// capacity measured for MeasureFor (default 5s) before the run.
	Rate       float64
	MeasureFor time.Duration
	// Workers bounds the checks in flight (default 64).
	Workers int
	// WriteEvery is the pause between writes to the control plane (default
	// 100ms: about 10 writes/s); PolicyEvery the pause between policy
	// changes (default 2m).
	WriteEvery  time.Duration
	PolicyEvery time.Duration
	// CheckpointInterval of the nodes (default 30s).
	CheckpointInterval time.Duration
	// Warmup is excluded from the RSS verdict (default 5m, at most half of
	// Duration): at about 1,600 checks/s and 10 writes/s a node's 64 MiB
	// answer cache takes about 5 minutes to fill, and RSS grows until then.
	Warmup time.Duration
	// RestartAt is when one node is restarted (default Duration/2); a
	// negative value disables the restart.
	RestartAt time.Duration

	// Out receives progress lines and the report rows as they happen
	// (default: discard).
	Out io.Writer
}

// Validate reports configuration errors (after defaults).
func (c Config) Validate() error {
	var errs []error
	if c.BinDir == "" {
		errs = append(errs, errors.New("soak: BinDir is required"))
	} else {
		for _, b := range []string{"outpost", "outpost-controlplane"} {
			if _, err := os.Stat(filepath.Join(c.BinDir, b)); err != nil {
				errs = append(errs, fmt.Errorf("soak: binary %s: %w (run `go build -o %s/ ./cmd/...`)", b, err, c.BinDir))
			}
		}
	}
	switch {
	case c.Duration < 10*time.Second:
		errs = append(errs, fmt.Errorf("soak: duration %v is shorter than 10s", c.Duration))
	case c.Interval <= 0 || c.Interval > c.Duration:
		errs = append(errs, fmt.Errorf("soak: interval %v must be positive and at most the duration", c.Interval))
	}
	if c.Facts < 1000 {
		errs = append(errs, fmt.Errorf("soak: %d facts: use at least 1000", c.Facts))
	}
	if c.Rate < 0 || c.Workers < 1 || c.WriteEvery <= 0 || c.PolicyEvery <= 0 || c.MeasureFor <= 0 {
		errs = append(errs, errors.New("soak: rate must not be negative; workers, write and policy intervals and measure time must be positive"))
	}
	if c.CheckpointInterval < time.Second {
		errs = append(errs, errors.New("soak: checkpoint interval must be at least 1s"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Duration == 0 {
		c.Duration = 10 * time.Minute
	}
	if c.Interval == 0 {
		c.Interval = 30 * time.Second
		if c.Interval > c.Duration {
			c.Interval = c.Duration
		}
	}
	if c.Facts == 0 {
		c.Facts = 100_000
	}
	if c.MeasureFor == 0 {
		c.MeasureFor = 5 * time.Second
	}
	if c.Workers == 0 {
		c.Workers = 64
	}
	if c.WriteEvery == 0 {
		c.WriteEvery = 100 * time.Millisecond
	}
	if c.PolicyEvery == 0 {
		c.PolicyEvery = 2 * time.Minute
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = 30 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = 5 * time.Minute
	}
	if c.Warmup > c.Duration/2 {
		c.Warmup = c.Duration / 2
	}
	if c.RestartAt == 0 {
		c.RestartAt = c.Duration / 2
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	return c
}
