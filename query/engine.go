package query

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

var _ polar.Database = (*replica.View)(nil)

// Errors callers branch on. The HTTP layer maps them to status codes.
var (
	// ErrNotReady: no policy has been loaded, so no question can be answered.
	ErrNotReady = errors.New("replica has not loaded a policy yet")
	// ErrBadRequest wraps every problem with the question itself.
	ErrBadRequest = errors.New("bad request")
	// ErrEvaluation wraps evaluation failures such as an exceeded budget,
	// an answer larger than its limit or a question that needs more memory
	// than one question may have.
	ErrEvaluation = errors.New("policy evaluation failed")
	// ErrBusy: the questions in progress hold the node's query memory
	// pool; retry shortly.
	ErrBusy = errors.New("the node's query memory is in use by other questions")
	// ErrCanceled: the question's context ended (the client went away)
	// before it was answered.
	ErrCanceled = errors.New("question canceled")
)

// Config configures an Engine. The zero value gives the documented defaults.
type Config struct {
	// CacheMaxBytes bounds the answer cache (approximate bytes, including
	// ristretto's own per-entry overhead). 0 means 64 MiB; negative disables
	// the cache.
	CacheMaxBytes int64
	// MaxSteps is the evaluation budget of one question (0: polar's default).
	MaxSteps int
	// Now is the clock for @current_unix_time (nil: the system clock).
	Now func() int64
	// MaxResultRows and MaxResultBytes bound one answer of list,
	// evaluate_query and query (rows or ids, and estimated JSON bytes);
	// 0 means polar's defaults (1,000,000 rows, 64 MiB).
	MaxResultRows  int
	MaxResultBytes int64
	// MaxQueryMemory bounds the working memory of one question (answer
	// sets, memo table); 0 means polar's default (64 MiB).
	MaxQueryMemory int64
	// QueryMemoryPool bounds the working memory of all questions in
	// progress beyond the first MiB of each; 0 means
	// DefaultQueryMemoryPool, negative no pool. A question that would
	// take the pool past its bound fails with ErrBusy.
	QueryMemoryPool int64
}

// DefaultQueryMemoryPool is the node-wide working memory of questions
// beyond the first MiB of each.
const DefaultQueryMemoryPool = 256 << 20

// DefaultCacheMaxBytes is the answer cache size when none is configured.
const DefaultCacheMaxBytes = 64 << 20

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.MaxSteps < 0 {
		return fmt.Errorf("query: MaxSteps must not be negative")
	}
	if c.MaxResultRows < 0 || c.MaxResultBytes < 0 || c.MaxQueryMemory < 0 {
		return fmt.Errorf("query: result and memory limits must not be negative")
	}
	return nil
}

// Engine answers questions against a replica state.
type Engine struct {
	state atomic.Pointer[replica.State]
	cfg   Config
	cache *ristretto.Cache[string, any]
	stats Stats
	pool  atomic.Int64 // query memory left in the pool (see Config)
	// heavy admits questions past polar.HeavySteps: at most half the
	// cores run such questions, so light ones always find a core.
	heavy chan struct{}
	// method values made once, so that a question allocates none
	growFn    func(int64) error
	releaseFn func(int64)
	heavyFn   func(context.Context) (func(), error)
	heavyDone func()

	swapMu  sync.Mutex    // guards swapped
	swapped chan struct{} // closed by SetState
	// loaded is set by SetState: the engine holds a state that a node
	// bootstrapped, even one at revision 0 (see Loaded).
	loaded atomic.Bool
}

// Stats counts cache use; the fields are read with atomic loads by metrics.
type Stats struct {
	hits, misses counter
}

// Compile is the replica.Compiler for Polar policies: it parses and
// compiles the source into a *polar.Policy.
func Compile(src replica.PolicySource) (any, error) {
	name := src.Filename
	if name == "" {
		name = "policy.polar"
	}
	f, err := polar.Parse(name, src.Src)
	if err != nil {
		return nil, err
	}
	return polar.Compile([]*polar.File{f}, polar.CompileOptions{})
}

// New returns an Engine over state.
func New(state *replica.State, cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, heavy: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}
	e.growFn, e.releaseFn, e.heavyFn = e.grow, e.release, e.enterHeavy
	e.heavyDone = func() { <-e.heavy }
	e.state.Store(state)
	switch {
	case cfg.QueryMemoryPool == 0:
		e.pool.Store(DefaultQueryMemoryPool)
	case cfg.QueryMemoryPool > 0:
		e.pool.Store(cfg.QueryMemoryPool)
	}
	if cfg.CacheMaxBytes >= 0 {
		maxBytes := cfg.CacheMaxBytes
		if maxBytes == 0 {
			maxBytes = DefaultCacheMaxBytes
		}
		// Costs are our estimate of an entry's bytes; IgnoreInternalCost is
		// false so ristretto adds its own per-entry overhead and MaxCost
		// bounds real memory rather than payload alone.
		c, err := ristretto.NewCache(&ristretto.Config[string, any]{
			NumCounters:        max(maxBytes/256*10, 1000), // ~10 counters per expected entry of ~256 bytes
			MaxCost:            maxBytes,
			BufferItems:        64,
			IgnoreInternalCost: false,
		})
		if err != nil {
			return nil, fmt.Errorf("query: create answer cache: %w", err)
		}
		e.cache = c
	}
	return e, nil
}

// Close releases the cache.
func (e *Engine) Close() {
	if e.cache != nil {
		e.cache.Close()
	}
}

// CacheStats returns the number of cache hits and misses so far.
func (e *Engine) CacheStats() (hits, misses uint64) {
	return e.stats.hits.load(), e.stats.misses.load()
}

// Meta describes how an answer was produced.
type Meta struct {
	Revision uint64
	Cached   bool
	// Reusable: the answer depends on nothing but the question and the
	// state at Revision (it read no clock), so a cache may keep it for
	// that revision. Set by Authorize.
	Reusable bool
}

// begin acquires a view and its compiled policy. The policy is nil when
// the loaded state has none (an environment that never had a policy): the
// checks then answer as an empty policy does, with a denial or an empty
// list. Before any state is loaded the error is ErrNotReady.
func (e *Engine) begin() (*replica.View, *polar.Policy, error) {
	v := e.state.Load().Acquire()
	p := activePolicy(v)
	if p == nil && !e.loaded.Load() && v.Revision() == 0 {
		v.Release()
		return nil, nil, ErrNotReady
	}
	return v, p, nil
}

// activePolicy returns the view's compiled policy, or nil when it has none.
// An empty source counts as none: a snapshot or checkpoint of an environment
// that never had a policy carries one, and it answers the same way.
func activePolicy(v *replica.View) *polar.Policy {
	src, compiled := v.Policy()
	p, _ := compiled.(*polar.Policy)
	if src.Src == "" {
		return nil
	}
	return p
}

// Loaded reports whether the engine holds a loaded state: one given to
// SetState (a node's bootstrapped state, even at revision 0), or one that
// has applied at least one event. Until then every question is
// ErrNotReady; afterwards a state without a policy answers as an empty
// policy does.
func (e *Engine) Loaded() bool {
	return e.loaded.Load() || e.state.Load().Revision() > 0
}

// errPoolEmpty is what grow answers when the pool is used up.
var errPoolEmpty = errors.New("pool empty")

func (e *Engine) grow(n int64) error {
	if e.cfg.QueryMemoryPool < 0 {
		return nil
	}
	if e.pool.Add(-n) < 0 {
		e.pool.Add(n)
		return errPoolEmpty
	}
	return nil
}

// enterHeavy waits for one of the heavy-question slots.
func (e *Engine) enterHeavy(ctx context.Context) (func(), error) {
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	select {
	case e.heavy <- struct{}{}:
		return e.heavyDone, nil
	case <-done:
		return nil, ctx.Err()
	}
}

func (e *Engine) release(n int64) {
	if e.cfg.QueryMemoryPool >= 0 {
		e.pool.Add(n)
	}
}

func (e *Engine) options(ctx context.Context, context []replica.Fact) polar.QueryOptions {
	o := polar.QueryOptions{Now: e.cfg.Now, MaxSteps: e.cfg.MaxSteps, Ctx: ctx,
		MaxRows: e.cfg.MaxResultRows, MaxBytes: e.cfg.MaxResultBytes, MaxMemory: e.cfg.MaxQueryMemory,
		Grow: e.growFn, Release: e.releaseFn, Heavy: e.heavyFn}
	for _, f := range context {
		o.Context = append(o.Context, toPolarFact(f))
	}
	return o
}

// checkContext validates context facts like stored facts (spec §15.5).
// Without a policy (p nil) only their shape is checked: nothing reads them.
func checkContext(p *polar.Policy, facts []replica.Fact) error {
	for i, f := range facts {
		for j, a := range f.Args {
			if _, err := replica.Canonical(a); err != nil {
				return fmt.Errorf("%w: context_facts[%d].args[%d]: %v", ErrBadRequest, i, j, err)
			}
		}
		if p == nil {
			continue
		}
		if err := p.CheckFact(toPolarFact(f)); err != nil {
			return fmt.Errorf("%w: context_facts[%d]: %v", ErrBadRequest, i, err)
		}
	}
	return nil
}

func toPolarFact(f replica.Fact) polar.Fact {
	pf := polar.Fact{Predicate: f.Predicate, Args: make([]polar.Value, len(f.Args))}
	for i, a := range f.Args {
		a, _ = replica.Canonical(a)
		pf.Args[i] = polar.Value(a)
	}
	return pf
}

// classify wraps an evaluation error in the package's error kinds.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, polar.ErrUnknownType), errors.Is(err, polar.ErrInvalidQuery):
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	case errors.Is(err, polar.ErrCanceled):
		return fmt.Errorf("%w: %w", ErrCanceled, err)
	case errors.Is(err, errPoolEmpty):
		return fmt.Errorf("%w: %w", ErrBusy, err)
	default:
		return fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
}

// canonical checks and canonicalises a value named field in messages.
func canonical(field string, v replica.Value) (polar.Value, error) {
	c, err := replica.CanonicalQuestion(v)
	if err != nil {
		return polar.Value{}, fmt.Errorf("%w: %s: %v", ErrBadRequest, field, err)
	}
	return polar.Value(c), nil
}

// cacheKey builds a key from the state's store id, the revision and the
// parts of a question. The store id matters: after a re-bootstrap (a
// control plane restored from a backup, #17 item 3) a new state can hold
// other facts at a revision already cached.
func cacheKey(store, rev uint64, kind string, parts ...string) string {
	var b strings.Builder
	b.Grow(40 + 16*len(parts))
	b.WriteString(strconv.FormatUint(store, 36))
	b.WriteByte('.')
	b.WriteString(strconv.FormatUint(rev, 36))
	b.WriteByte('|')
	b.WriteString(kind)
	for _, p := range parts {
		b.WriteByte('|')
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}

// Caching reports whether the engine has an answer cache (Config.CacheMaxBytes
// not negative). Callers that keep answers of their own follow it.
func (e *Engine) Caching() bool { return e.cache != nil }

// CountHit counts an answer served by a caller's own cache of this
// engine's answers as a cache hit (CacheStats, the cache metrics).
func (e *Engine) CountHit() { e.stats.hits.add(1) }

func (e *Engine) cached(key string) (any, bool) {
	if e.cache == nil {
		return nil, false
	}
	v, ok := e.cache.Get(key)
	if ok {
		e.stats.hits.add(1)
	} else {
		e.stats.misses.add(1)
	}
	return v, ok
}

func (e *Engine) store(key string, v any, cost int64) {
	if e.cache != nil {
		e.cache.Set(key, v, int64(len(key))+cost)
	}
}
