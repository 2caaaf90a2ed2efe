package httpapi

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/query"
)

// metrics are the server's collectors, registered on Config.Registry.
// oso_fallback_http_requests keeps Oso Fallback's name, labels and unit
// (milliseconds) for drop-in dashboards; outpost_* durations are seconds.
// oso_fallback_snapshot_age_ms belongs to the ingest package.
type metrics struct {
	requests      *prometheus.HistogramVec // path, status_code; ms
	queryDuration *prometheus.HistogramVec // endpoint; seconds
	unbounded     *prometheus.CounterVec   // endpoint
	consistency   *prometheus.CounterVec   // outcome
	rejected      prometheus.Counter
	expects       *prometheus.CounterVec // expected; see expect.go
	memRejected   prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, eng *query.Engine) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oso_fallback_http_requests",
			Help:    "HTTP requests by route template and status code; observations are durations in milliseconds (Oso Fallback's name and unit).",
			Buckets: []float64{0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000},
		}, []string{"path", "status_code"}),
		queryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "outpost_query_duration_seconds",
			Help:    "Time spent answering one Check API question (decoding the fields and evaluating), by endpoint.",
			Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}, []string{"endpoint"}),
		unbounded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outpost_unbounded_answers_total",
			Help: "list and actions answers where the policy allowed every resource or action; the answer listed only explicit values and carried X-Outpost-Unbounded: true.",
		}, []string{"endpoint"}),
		consistency: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outpost_consistency_waits_total",
			Help: "Requests whose OsoOffset or page_token was ahead of the replica, by outcome (caught_up, stale, refused), plus OsoOffset tokens ignored because they came from another log (ignored).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outpost_http_rejected_total",
			Help: "Check API requests refused with 503 because MaxConcurrent requests were in progress.",
		}),
		expects: newExpectCounter(),
		memRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outpost_http_memory_rejected_total",
			Help: "Check API requests refused with 503 because their bodies did not fit the request memory budget (--request-memory-mib) within 5 s.",
		}),
	}
	cs := []prometheus.Collector{
		m.requests, m.queryDuration, m.unbounded, m.consistency, m.rejected, m.expects, m.memRejected,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "outpost_cache_hits_total",
			Help: "Answers served from the engine's answer cache.",
		}, func() float64 { h, _ := eng.CacheStats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "outpost_cache_misses_total",
			Help: "Cacheable questions the engine had to evaluate.",
		}, func() float64 { _, mi := eng.CacheStats(); return float64(mi) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "outpost_applied_revision",
			Help: "Seq of the last event applied to the state queries read.",
		}, func() float64 { return float64(eng.Revision()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "outpost_facts",
			Help: "Stored facts in the state queries read.",
		}, func() float64 {
			v := eng.State().Acquire()
			defer v.Release()
			return float64(v.FactCount())
		}),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi: register metrics: %w", err)
		}
	}
	for _, o := range []string{"caught_up", "stale", "refused", "ignored"} {
		m.consistency.WithLabelValues(o)
	}
	return m, nil
}
