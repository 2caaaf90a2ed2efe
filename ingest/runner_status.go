package ingest

import (
	"maps"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/replica"
)

// Position returns the transport position that goes with the applied
// state: Seq is at most the state's revision, and the transport fields
// point at or before the first message not yet applied, so resuming from
// them loses nothing and at worst redelivers duplicates. A checkpoint
// writer reads Position before taking its view of the state and records
// the view's revision as Seq.
func (r *Runner) Position() replica.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos
}

// snapshot is a consistent copy of what Status and the metrics report.
type snapshot struct {
	source      string
	state       string
	applied     uint64
	head        uint64
	lagEvents   uint64
	lagUnknown  bool // the source is unreachable: its head is not known
	lagSeconds  float64
	ageMS       float64
	caughtUpAt  time.Time
	pos         replica.Position
	lastErr     string
	lastErrAt   time.Time
	poisonSeq   uint64
	poisonCount int
	health      *Health
	events      map[string]uint64
	errs        map[errKey]uint64
	resyncs     map[string]uint64
}

func (r *Runner) snapshot() snapshot {
	now := time.Now()
	applied := r.cfg.Engine.State().Revision()
	var health *Health
	if r.health != nil {
		h := r.health.Health()
		health = &h
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := snapshot{
		source:      r.name,
		state:       r.phase,
		applied:     applied,
		head:        max(r.head, applied),
		caughtUpAt:  r.caughtUpAt,
		ageMS:       float64(now.Sub(r.caughtUpAt)) / float64(time.Millisecond),
		pos:         r.pos,
		lastErr:     r.lastErr,
		lastErrAt:   r.lastErrAt,
		health:      health,
		events:      maps.Clone(r.events),
		errs:        maps.Clone(r.errs),
		resyncs:     maps.Clone(r.resyncs),
		poisonCount: r.poisonCount,
	}
	if r.stuck == KindPoison {
		s.poisonSeq = r.poisonSeq
	}
	s.lagEvents = s.head - applied
	if !r.lagFrom.IsZero() && s.lagEvents > 0 {
		s.lagSeconds = max(now.Sub(r.lagFrom).Seconds(), 0)
	}
	if health != nil {
		s.errs[errKey{r.name, KindTransport}] += health.Failures
		if health.LastErrorAt.After(s.lastErrAt) {
			s.lastErr, s.lastErrAt = health.LastError, health.LastErrorAt
		}
	}
	if s.state != StateResyncing && s.state != StateStopped && (r.stuck != "" || (health != nil && health.Failing)) {
		s.state = StateFailing
	}
	if health != nil && health.Failing {
		// The source cannot be reached, so how many events it has that the
		// node lacks is unknown (a known positive count is a lower bound
		// and is kept); the lag in time is at most the time since the node
		// was last caught up, and it grows while this lasts.
		s.lagUnknown = s.lagEvents == 0
		s.lagSeconds = max(s.lagSeconds, now.Sub(r.caughtUpAt).Seconds())
	}
	return s
}

// Status describes ingest for /status: source, state (connecting,
// following, caught-up, failing, resyncing, stopped), applied and head
// revisions, lag in events and seconds, the position, when it was last
// caught up, the last error and its time, the poison event's seq while
// ingest is stopped on one, and counts of events, errors and re-bootstraps.
func (r *Runner) Status() map[string]any {
	s := r.snapshot()
	st := map[string]any{
		"source":          s.source,
		"state":           s.state,
		"applied":         s.applied,
		"head":            s.head,
		"lag_seconds":     s.lagSeconds,
		"snapshot_age_ms": int64(s.ageMS),
		"caught_up_at":    s.caughtUpAt,
		"position":        s.pos,
		"events":          s.events,
		"resyncs":         s.resyncs,
	}
	if !s.lagUnknown {
		st["lag_events"] = s.lagEvents
	}
	errs := map[string]uint64{}
	for k, n := range s.errs {
		errs[k.source+"/"+k.kind] = n
	}
	st["errors"] = errs
	if s.lastErr != "" {
		st["last_error"] = s.lastErr
		st["last_error_time"] = s.lastErrAt
	}
	if s.poisonSeq != 0 {
		st["poison_seq"] = s.poisonSeq
		st["poison_attempts"] = s.poisonCount
	}
	if s.health != nil {
		st["transport_failing"] = s.health.Failing
		if s.health.Failing {
			st["transport_failing_since"] = s.health.Since
		}
	}
	return st
}

var (
	descAge = prometheus.NewDesc("oso_fallback_snapshot_age_ms",
		"Milliseconds since the node last knew it was caught up with its source's head.", nil, nil)
	descHead = prometheus.NewDesc("outpost_head_revision",
		"Newest event seq the source has reported.", nil, nil)
	descLagEvents = prometheus.NewDesc("outpost_lag_events",
		"Events the source has reported and the replica has not applied; absent while the source is unreachable and none are known.", nil, nil)
	descLagSeconds = prometheus.NewDesc("outpost_lag_seconds",
		"Seconds since the time of the oldest event known and not applied (0 when caught up); while the source is unreachable, seconds since the node was last caught up.", nil, nil)
	descEvents = prometheus.NewDesc("outpost_ingest_events_total",
		"Events applied, by the source that delivered them (feed: gap fills).", []string{"source"}, nil)
	descErrors = prometheus.NewDesc("outpost_ingest_errors_total",
		"Ingest errors by source and kind (transport, poison, gap, retention, feed, snapshot).", []string{"source", "kind"}, nil)
	descResyncs = prometheus.NewDesc("outpost_resyncs_total",
		"Re-bootstraps from a snapshot, by reason (retention, poison).", []string{"reason"}, nil)
)

// collector exposes a Runner's metrics, read under its lock at scrape time.
type collector struct{ r *Runner }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAge, descHead, descLagEvents, descLagSeconds, descEvents, descErrors, descResyncs} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.r.snapshot()
	ch <- prometheus.MustNewConstMetric(descAge, prometheus.GaugeValue, s.ageMS)
	ch <- prometheus.MustNewConstMetric(descHead, prometheus.GaugeValue, float64(s.head))
	if !s.lagUnknown {
		ch <- prometheus.MustNewConstMetric(descLagEvents, prometheus.GaugeValue, float64(s.lagEvents))
	}
	ch <- prometheus.MustNewConstMetric(descLagSeconds, prometheus.GaugeValue, s.lagSeconds)
	for src, n := range s.events {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(n), src)
	}
	if _, ok := s.errs[errKey{s.source, KindTransport}]; !ok {
		s.errs[errKey{s.source, KindTransport}] = 0
	}
	for k, n := range s.errs {
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(n), k.source, k.kind)
	}
	for reason, n := range s.resyncs {
		ch <- prometheus.MustNewConstMetric(descResyncs, prometheus.CounterValue, float64(n), reason)
	}
}
