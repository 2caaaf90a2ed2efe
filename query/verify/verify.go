package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes (label of outpost_verify_total).
const (
	OutcomeMatch    = "match"
	OutcomeMismatch = "mismatch"
	OutcomeError    = "error"
)

// DefaultKeep is how many mismatches Status keeps by default.
const DefaultKeep = 10

// resample is how many questions are asked from one Sample.
const resample = 64

// Config configures a Verifier.
type Config struct {
	// Local is the side being verified (the node). Required.
	Local Answerer
	// Upstream is the reference (Oso, or the reference control plane).
	// Required.
	Upstream Answerer
	// Sample returns facts to build questions from (the node's). Required.
	Sample func(ctx context.Context, rng *rand.Rand) (Sample, error)
	// Rate is how many questions Run asks per minute. Required for Run.
	Rate float64
	// Keep is how many recent mismatches Status shows. Default 10.
	Keep int
	// Timeout bounds one question (both sides). Default 10s.
	Timeout time.Duration
	// Registerer receives outpost_verify_total. Nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives mismatches and errors. Nil discards them.
	Logger *slog.Logger
	// Seed seeds the question generator (0: random).
	Seed uint64
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	var errs []error
	if c.Local == nil || c.Upstream == nil {
		errs = append(errs, errors.New("verify: Local and Upstream are required"))
	}
	if c.Sample == nil {
		errs = append(errs, errors.New("verify: Sample is required"))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("verify: Rate %v is negative", c.Rate))
	}
	if c.Keep < 0 || c.Timeout < 0 {
		errs = append(errs, errors.New("verify: Keep and Timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// Result is one compared question.
type Result struct {
	Question Question  `json:"question"`
	Local    Answer    `json:"local"`
	Upstream Answer    `json:"upstream"`
	Outcome  string    `json:"outcome"`
	Error    string    `json:"error,omitempty"`
	Time     time.Time `json:"time"`
}

// Verifier compares a node's answers with its upstream's.
type Verifier struct {
	cfg    Config
	log    *slog.Logger
	total  *prometheus.CounterVec
	rngMu  sync.Mutex // guards rng
	rng    *rand.Rand
	mu     sync.Mutex // guards the fields below
	counts map[string]uint64
	last   []Result // newest last
	lastAt time.Time
}

// New returns a Verifier and registers its metric.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Keep == 0 {
		cfg.Keep = DefaultKeep
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	v := &Verifier{
		cfg: cfg, log: log, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		counts: map[string]uint64{OutcomeMatch: 0, OutcomeMismatch: 0, OutcomeError: 0},
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outpost_verify_total",
			Help: "Questions the verifier asked the node and its upstream, by outcome (match, mismatch, error).",
		}, []string{"outcome"}),
	}
	for o := range v.counts {
		v.total.WithLabelValues(o)
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(v.total); err != nil {
			return nil, fmt.Errorf("verify: register metrics: %w", err)
		}
	}
	return v, nil
}

// Questions samples the node and builds n questions.
func (v *Verifier) Questions(ctx context.Context, n int) ([]Question, error) {
	v.rngMu.Lock()
	defer v.rngMu.Unlock()
	s, err := v.cfg.Sample(ctx, v.rng)
	if err != nil {
		return nil, fmt.Errorf("sample the node's facts: %w", err)
	}
	return s.Questions(n, v.rng), nil
}

// Check asks both sides q and records the outcome.
func (v *Verifier) Check(ctx context.Context, q Question) Result {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	r := Result{Question: q, Time: time.Now().UTC()}
	var errs []error
	var err error
	if r.Local, err = v.cfg.Local.Answer(ctx, q); err != nil {
		errs = append(errs, fmt.Errorf("local: %w", err))
	}
	if r.Upstream, err = v.cfg.Upstream.Answer(ctx, q); err != nil {
		errs = append(errs, fmt.Errorf("upstream: %w", err))
	}
	switch {
	case len(errs) > 0:
		r.Outcome, r.Error = OutcomeError, errors.Join(errs...).Error()
		v.log.Warn("verify: a question could not be compared", "question", q.String(), "err", r.Error)
	case Same(q, r.Local, r.Upstream):
		r.Outcome = OutcomeMatch
	default:
		r.Outcome = OutcomeMismatch
		v.log.Error("verify: the node and its upstream disagree", "question", q.String(),
			"local", r.Local, "upstream", r.Upstream,
			"local_revision", r.Local.Revision, "upstream_revision", r.Upstream.Revision)
	}
	v.total.WithLabelValues(r.Outcome).Inc()
	v.mu.Lock()
	v.counts[r.Outcome]++
	v.lastAt = r.Time
	if r.Outcome == OutcomeMismatch {
		v.last = append(v.last, r)
		if len(v.last) > v.cfg.Keep {
			v.last = v.last[len(v.last)-v.cfg.Keep:]
		}
	}
	v.mu.Unlock()
	return r
}

// Run asks Rate questions per minute until ctx ends, resampling the node
// every few dozen questions. It returns nil when ctx ends.
func (v *Verifier) Run(ctx context.Context) error {
	if v.cfg.Rate <= 0 {
		return errors.New("verify: Run needs a positive Rate")
	}
	every := time.Duration(float64(time.Minute) / v.cfg.Rate)
	t := time.NewTicker(every)
	defer t.Stop()
	var queue []Question
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if len(queue) == 0 {
			qs, err := v.Questions(ctx, resample)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				v.log.Debug("verify: no questions yet", "err", err)
				continue
			}
			queue = qs
			if len(queue) == 0 {
				continue // no role facts to ask about yet
			}
		}
		q := queue[0]
		queue = queue[1:]
		v.Check(ctx, q)
	}
}

// Status reports counts and the last mismatches for /status.
func (v *Verifier) Status() map[string]any {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := map[string]any{
		"rate_per_minute": v.cfg.Rate,
		"match":           v.counts[OutcomeMatch],
		"mismatch":        v.counts[OutcomeMismatch],
		"error":           v.counts[OutcomeError],
		"last_mismatches": append([]Result{}, v.last...),
	}
	if !v.lastAt.IsZero() {
		m["last_question_time"] = v.lastAt
	}
	return m
}
