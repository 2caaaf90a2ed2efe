package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/semaphore"

	"github.com/outpost-authz/outpost/query"
)

// Defaults of Config.
const (
	DefaultConsistencyWait = 250 * time.Millisecond
	DefaultMaxBodyBytes    = 10 << 20 // 10,485,760: the SDKs' own limit
	DefaultMaxConcurrent   = 1024
	DefaultMaxContextFacts = 100_000
	DefaultRequestMemory   = 256 << 20 // 268,435,456
)

// Auth modes.
const (
	// AuthTokens accepts a Bearer key whose SHA-256 matches a token of the
	// replicated state (replica.View.Tokens).
	AuthTokens = "tokens"
	// AuthNone accepts every request, with or without a key.
	AuthNone = "none"
)

// Config configures a Server. Zero values of the optional fields give the
// documented defaults.
type Config struct {
	// Engine answers the questions. Required.
	Engine *query.Engine
	// Registry receives the server's metrics. Required; never the global
	// registry.
	Registry *prometheus.Registry
	// Auth is AuthTokens (default when empty) or AuthNone.
	Auth string
	// ConsistencyWait bounds the wait for an OsoOffset ahead of the applied
	// revision (default 250ms).
	ConsistencyWait time.Duration
	// Strict answers 503 when still behind after ConsistencyWait; otherwise
	// the answer carries X-Outpost-Stale: true.
	Strict bool
	// MaxBodyBytes bounds request bodies (default 10 MiB); larger → 413.
	MaxBodyBytes int64
	// MaxConcurrent bounds Check API requests in progress (default 1024);
	// beyond → 503 with Retry-After: 1.
	MaxConcurrent int
	// MaxContextFacts bounds the context facts of one request (default
	// 100,000; negative: no limit); beyond → 400 naming the limit.
	MaxContextFacts int
	// MaxContextBytes bounds the JSON text of one request's context_facts
	// array (0: only MaxBodyBytes); beyond → 400 naming the limit.
	MaxContextBytes int64
	// RequestMemory is the memory budget of request bodies being read,
	// decoded and answered (default 256 MiB): each request reserves its
	// Content-Length × 4 before its body is read, waits up to 5 s for the
	// budget, then is answered 503 with Retry-After: 1.
	RequestMemory int64
	// Status returns extra sections (ingest, checkpoint) for /status and /.
	// Keys that collide with the server's own are dropped. Optional.
	Status func() map[string]any
	// Logger receives request and error logs (nil: discard). API keys are
	// never logged.
	Logger *slog.Logger
	// LogID is the control plane's log id accepted in OsoOffset tokens of
	// the form "<logid>:<seq>"; "" accepts any log id.
	LogID string
	// StatusAuth requires an API key of the state's tokens on /status and
	// / (whatever Auth says): they show data paths and the environment.
	StatusAuth bool
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Engine == nil:
		return errors.New("httpapi: Engine is required")
	case c.Registry == nil:
		return errors.New("httpapi: Registry is required")
	case c.Auth != "" && c.Auth != AuthTokens && c.Auth != AuthNone:
		return fmt.Errorf("httpapi: Auth %q: want %q or %q", c.Auth, AuthTokens, AuthNone)
	case c.ConsistencyWait < 0:
		return errors.New("httpapi: ConsistencyWait must not be negative")
	case c.MaxBodyBytes < 0:
		return errors.New("httpapi: MaxBodyBytes must not be negative")
	case c.MaxConcurrent < 0:
		return errors.New("httpapi: MaxConcurrent must not be negative")
	case c.MaxContextBytes < 0:
		return errors.New("httpapi: MaxContextBytes must not be negative")
	case c.RequestMemory < 0:
		return errors.New("httpapi: RequestMemory must not be negative")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Auth == "" {
		c.Auth = AuthTokens
	}
	if c.ConsistencyWait == 0 {
		c.ConsistencyWait = DefaultConsistencyWait
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.MaxContextFacts == 0 {
		c.MaxContextFacts = DefaultMaxContextFacts
	} else if c.MaxContextFacts < 0 {
		c.MaxContextFacts = 0 // no limit
	}
	if c.RequestMemory == 0 {
		c.RequestMemory = DefaultRequestMemory
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Server serves the Check API over one Engine. See the package
// documentation for its concurrency rules.
type Server struct {
	cfg     Config
	eng     *query.Engine
	log     *slog.Logger
	m       *metrics
	slots   chan struct{}       // semaphore of MaxConcurrent evaluations
	mem     *semaphore.Weighted // RequestMemory bytes of request bodies
	memWait time.Duration       // maxMemoryWait; shorter in tests
	started time.Time

	info    atomic.Pointer[stateInfo]    // readiness and tokens at one revision
	memo    *answerMemo                  // authorize answers by body; nil without an answer cache
	revText atomic.Pointer[revisionText] // X-Outpost-Revision of the last revision

	warnMu   sync.Mutex           // guards lastWarn
	lastWarn map[string]time.Time // rate limit of repeated warnings
}

// New returns a Server and registers its metrics on cfg.Registry.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:      cfg,
		eng:      cfg.Engine,
		log:      cfg.Logger,
		slots:    make(chan struct{}, cfg.MaxConcurrent),
		mem:      semaphore.NewWeighted(cfg.RequestMemory),
		memWait:  maxMemoryWait,
		started:  time.Now(),
		lastWarn: map[string]time.Time{},
	}
	m, err := newMetrics(cfg.Registry, cfg.Engine)
	if err != nil {
		return nil, err
	}
	s.m = m
	if cfg.Engine.Caching() {
		s.memo = newAnswerMemo(memoSlots)
	}
	return s, nil
}

// Route templates: the paths served and the path label of
// oso_fallback_http_requests.
const (
	routeAuthorize          = "/api/authorize"
	routeAuthorizeResources = "/api/authorize_resources"
	routeList               = "/api/list"
	routeActions            = "/api/actions"
	routeEvaluateQuery      = "/api/evaluate_query"
	routeQuery              = "/api/query"
	routeFacts              = "/api/facts"
	routePolicyMetadata     = "/api/policy_metadata"
	routePolicy             = "/api/policy"
	routeAPIHealth          = "/api/healthcheck"
	routeHealth             = "/healthcheck"
	routeMetrics            = "/metrics"
	routeStatus             = "/status"
	routeRoot               = "/"
	routeUnmatched          = "unmatched" // label for unknown paths
)

// readRoutes are the Check API read endpoints, in the order mounted.
func (s *Server) readRoutes() []endpoint {
	return append([]endpoint{
		{route: routeAuthorize, method: http.MethodPost, name: "authorize", body: true, memo: true, fn: s.authorize},
		{route: routeAuthorizeResources, method: http.MethodPost, name: "authorize_resources", body: true, fn: s.authorizeResources},
		{route: routeList, method: http.MethodPost, name: "list", body: true, fn: s.list},
		{route: routeActions, method: http.MethodPost, name: "actions", body: true, fn: s.actions},
		{route: routeEvaluateQuery, method: http.MethodPost, name: "evaluate_query", body: true, fn: s.evaluateQuery},
		{route: routeQuery, method: http.MethodPost, name: "query", body: true, fn: s.query},
		{route: routeFacts, method: http.MethodGet, name: "facts", fn: s.facts},
		{route: routePolicyMetadata, method: http.MethodGet, name: "policy_metadata", fn: s.policyMetadata},
		{route: routePolicy, method: http.MethodGet, name: "policy", fn: s.policy, anyState: true},
	}, s.localEndpoints()...)
}

// writeRoutes are the control plane's write endpoints (check-api.md §6),
// answered 405 on a replica, with the methods that write.
var writeRoutes = []struct {
	path    string
	methods []string
}{
	{routeFacts, []string{http.MethodPost, http.MethodDelete}},
	{routePolicy, []string{http.MethodPost}},
	{"/api/batch", nil},
	{"/api/bulk_load", nil},
	{"/api/bulk_delete", nil},
	{"/api/bulk", nil},
	{"/api/clear_data", nil},
}

// MountCheckAPI registers the read Check API endpoints and /api/healthcheck
// on r, each restricted to its method, so that a caller (the reference
// control plane) can serve them next to its own write endpoints on the same
// paths. Nothing else is registered: no 404, 405 or 501 answers, no
// operational endpoints. Wrap the caller's router in CleanPath.
func (s *Server) MountCheckAPI(r *mux.Router) {
	for _, ep := range s.readRoutes() {
		r.Handle(ep.route, s.api(ep)).Methods(ep.method)
	}
	r.Handle(routeAPIHealth, s.instrument(routeAPIHealth, true, http.HandlerFunc(s.healthcheck))).Methods(http.MethodGet, http.MethodHead)
}

// Handler returns the node's complete handler: the Check API, 405 for
// write endpoints, the operational endpoints,
// JSON 404 and 405 answers, all behind CleanPath.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	r.SkipClean(true) // CleanPath cleans; mux must never redirect
	s.MountCheckAPI(r)
	for _, w := range writeRoutes {
		rt := r.Handle(w.path, s.instrument(w.path, true, http.HandlerFunc(s.readOnly)))
		if w.methods != nil {
			// a copy: mux's Methods upper-cases its argument in place, and
			// writeRoutes is shared by every Server of the process
			rt.Methods(slices.Clone(w.methods)...)
		}
	}
	r.Handle(routeExpect, s.instrument(routeExpect, true, http.HandlerFunc(s.expect))).Methods(http.MethodPost)
	r.Handle(routeHealth, s.instrument(routeHealth, true, http.HandlerFunc(s.healthcheck))).Methods(http.MethodGet, http.MethodHead)
	r.Handle(routeMetrics, s.instrument(routeMetrics, false, promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError),
	}))).Methods(http.MethodGet, http.MethodHead)
	r.Handle(routeStatus, s.instrument(routeStatus, true, s.statusGuard(http.HandlerFunc(s.status)))).Methods(http.MethodGet, http.MethodHead)
	r.Handle(routeRoot, s.instrument(routeRoot, false, s.statusGuard(http.HandlerFunc(s.statusPage)))).Methods(http.MethodGet, http.MethodHead)

	// Any other method on a known path: 405 with Allow.
	allowed := map[string][]string{}
	var order []string
	add := func(p string, methods ...string) {
		if _, ok := allowed[p]; !ok {
			order = append(order, p)
		}
		allowed[p] = append(allowed[p], methods...)
	}
	for _, ep := range s.readRoutes() {
		add(ep.route, ep.method)
	}
	for _, w := range writeRoutes {
		add(w.path)
	}
	add(routeExpect, http.MethodPost)
	add(routeAPIHealth, http.MethodGet, http.MethodHead)
	add(routeHealth, http.MethodGet, http.MethodHead)
	add(routeMetrics, http.MethodGet, http.MethodHead)
	add(routeStatus, http.MethodGet, http.MethodHead)
	add(routeRoot, http.MethodGet, http.MethodHead)
	for _, p := range order {
		r.Handle(p, s.instrument(p, true, methodNotAllowed(allowed[p])))
	}
	r.NotFoundHandler = s.instrument(routeUnmatched, true, http.HandlerFunc(s.notFound))
	r.MethodNotAllowedHandler = s.instrument(routeUnmatched, true, methodNotAllowed(nil))

	// The read endpoints' exact (method, path) pairs skip the mux: no route
	// has variables, and mux's matching (regexps, two request copies with
	// context values) was 8 of the 38 allocations of a cached authorize
	// (docs/performance.md). Everything else (404, 405, HEAD, the
	// operational endpoints) goes through mux as before.
	fast := map[string]map[string]http.Handler{}
	for _, ep := range s.readRoutes() {
		if fast[ep.method] == nil {
			fast[ep.method] = map[string]http.Handler{}
		}
		fast[ep.method][ep.route] = s.api(ep)
	}
	return CleanPath(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if h, ok := fast[req.Method][req.URL.Path]; ok {
			h.ServeHTTP(w, req)
			return
		}
		r.ServeHTTP(w, req)
	}))
}

// CleanPath cleans the request path before routing, without redirecting:
// repeated slashes collapse (`//api/authorize` → `/api/authorize`), `.` and
// `..` elements are resolved and a trailing slash is removed (check-api.md
// §2.6: a base URL with a trailing slash yields `//api/...`).
func CleanPath(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		c := p
		if c == "" || c[0] != '/' {
			c = "/" + c
		}
		c = path.Clean(c)
		if c != p {
			r2 := new(http.Request)
			*r2 = *r
			u := *r.URL
			u.Path, u.RawPath = c, ""
			r2.URL = &u
			r = r2
		}
		h.ServeHTTP(w, r)
	})
}

// NewHTTPServer returns an http.Server for h with the node's timeouts:
// ReadHeaderTimeout 5s, ReadTimeout 30s, WriteTimeout 30s, IdleTimeout 120s
// and MaxHeaderBytes 64 KiB. Starting and shutting it down is the caller's.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// warnEvery logs a warning at most once per minute per key.
func (s *Server) warnEvery(key, msg string, args ...any) {
	now := time.Now()
	s.warnMu.Lock()
	last, seen := s.lastWarn[key]
	ok := !seen || now.Sub(last) >= time.Minute
	if ok {
		s.lastWarn[key] = now
	}
	s.warnMu.Unlock()
	if ok {
		s.log.Warn(msg, args...)
	}
}
