package osoapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/replica"
)

// Defaults.
const (
	DefaultInterval = time.Minute
	DefaultTimeout  = 5 * time.Minute
	// MinInterval bounds Config.Interval from below.
	MinInterval = 10 * time.Millisecond
)

// Config configures a Source.
type Config struct {
	// URL is the upstream's base URL, e.g. "https://api.osohq.com"; the
	// client appends /api/policy and /api/facts. Required.
	URL string
	// Token is the API key (OSO_API_TOKEN) sent as a Bearer token. Required.
	Token string
	// HTTPClient sends the requests. Default: a client of the package's own.
	HTTPClient *http.Client
	// Replica configures the states the Source builds: Env names the events'
	// environment and Compiler must compile to a *polar.Policy. Required
	// (Compiler set).
	Replica replica.Config
	// State returns the served state, which refreshes are compared with.
	// Required for Run.
	State func() *replica.State
	// Tokens, when not nil, is the token set the served state must hold;
	// Run delivers a tokens event when it differs (cmd puts the hash of the
	// node's own API key here, so clients may present that key).
	Tokens []replica.Token
	// Interval is the time between the end of one refresh and the start of
	// the next. Default 1m.
	Interval time.Duration
	// Timeout bounds one refresh (every request of it). Default 5m.
	Timeout time.Duration
	// Backoff paces retries after failed refreshes. The zero value uses
	// 100 ms initial and 10 s maximum delays.
	Backoff ingest.Backoff
	// Logger receives state changes. Nil discards them.
	Logger *slog.Logger
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("oso-api: URL is required"))
	} else if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("oso-api: URL: %w", err))
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("oso-api: URL %q: want http(s)://host[:port][/path]", c.URL))
	} else if u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("oso-api: URL %q: no query or fragment allowed", c.URL))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("oso-api: Token is required (OSO_API_TOKEN)"))
	}
	if c.Replica.Compiler == nil {
		errs = append(errs, errors.New("oso-api: Replica.Compiler is required"))
	}
	if c.Interval != 0 && c.Interval < MinInterval {
		errs = append(errs, fmt.Errorf("oso-api: Interval %s is below %s", c.Interval, MinInterval))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("oso-api: Timeout %s is negative", c.Timeout))
	}
	if err := replica.ValidateTokens(c.Tokens); err != nil {
		errs = append(errs, fmt.Errorf("oso-api: Tokens: %w", err))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
