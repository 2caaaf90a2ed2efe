package snapshotter

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Snapshotter's Prometheus metrics (DESIGN.md §8). They
// exist even when no Registerer is configured; then nobody collects them.
type metrics struct {
	duration prometheus.Histogram
	bytes    prometheus.Gauge
	failures prometheus.Counter
}

func (s *Snapshotter) initMetrics(r prometheus.Registerer) error {
	s.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "outpost_checkpoint_duration_seconds",
		Help:    "Time to write one checkpoint: encode, fsync, rename, directory fsync.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms .. 41 s
	})
	s.bytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "outpost_checkpoint_bytes",
		Help: "Size in bytes of the newest checkpoint file.",
	})
	s.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "outpost_checkpoint_failures_total",
		Help: "Checkpoint attempts that failed.",
	})
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "outpost_checkpoint_age_seconds",
		Help: "Seconds since the newest checkpoint was created; since the snapshotter started when there is none.",
	}, func() float64 { return s.age().Seconds() })
	if s.hasLast {
		s.bytes.Set(float64(s.last.Size))
	}
	if r == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{s.duration, s.bytes, s.failures, age} {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("new snapshotter: register metrics: %w", err)
		}
	}
	return nil
}
