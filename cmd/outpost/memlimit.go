package main

import (
	"log/slog"
	"math"
	"strconv"

	"github.com/outpost-authz/outpost/internal/memtune"
)

// applyMemoryPolicy sets the collector's target and the soft memory limit
// (--gc-percent, --memory-limit-mib; internal/memtune) and logs them.
func applyMemoryPolicy(c *config, env envLookup, log *slog.Logger) error {
	a, err := memtune.Apply(memtune.Config{GCPercent: c.GCPercent, LimitMiB: c.MemoryLimitMiB, Getenv: env})
	if err != nil {
		return err
	}
	limit := "none"
	if a.Limit != math.MaxInt64 {
		limit = formatMiB(a.Limit)
	}
	log.Info("Go memory policy", "gc_percent", a.GCPercent, "gc_percent_source", a.GCFrom,
		"memory_limit", limit, "memory_limit_source", a.LimitFrom)
	return nil
}

func formatMiB(n int64) string { return strconv.FormatInt(n>>20, 10) + " MiB" }

// contextFactLimit maps --max-context-facts (0: no limit) to
// httpapi.Config.MaxContextFacts (negative: no limit).
func contextFactLimit(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
