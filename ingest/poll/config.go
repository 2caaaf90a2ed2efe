package poll

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/outpost-authz/outpost/ingest"
)

// Defaults.
const (
	DefaultWait  = 25 * time.Second
	DefaultLimit = 1000
	// MaxWait bounds Config.Wait: proxies commonly cut idle requests at 60 s.
	MaxWait = 55 * time.Second
	// MaxLimit bounds Config.Limit.
	MaxLimit = 100_000
)

// Config configures a Client and a Source.
type Config struct {
	// URL is the control plane's base URL, e.g. "https://cp.example:8443".
	// Required.
	URL string
	// Env is the environment to read. Required.
	Env string
	// Token is the API token (OSO_API_TOKEN) sent as a Bearer token.
	// Required.
	Token string
	// Wait is how long the control plane may hold an idle poll open.
	// Default 25 s (DefaultWait); at most MaxWait.
	Wait time.Duration
	// Limit is the most events asked for per request. Default 1000.
	Limit int
	// HTTPClient sends the requests. Default: a client of the package's own
	// (no overall timeout; each request is bounded by its context), whose
	// idle connections Source.Run closes when it returns.
	HTTPClient *http.Client
	// Backoff paces reconnects and redeliveries of rejected messages.
	// The zero value uses 100 ms initial and 10 s maximum delays.
	Backoff ingest.Backoff
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("poll: URL is required"))
	} else if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("poll: URL: %w", err))
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("poll: URL %q: want http(s)://host[:port][/path]", c.URL))
	} else if u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("poll: URL %q: no query or fragment allowed", c.URL))
	}
	if c.Env == "" {
		errs = append(errs, errors.New("poll: Env is required"))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("poll: Token is required"))
	}
	if c.Wait < 0 || c.Wait > MaxWait {
		errs = append(errs, fmt.Errorf("poll: Wait %s out of range [0, %s]", c.Wait, MaxWait))
	}
	if c.Limit < 0 || c.Limit > MaxLimit {
		errs = append(errs, fmt.Errorf("poll: Limit %d out of range [0, %d]", c.Limit, MaxLimit))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Wait == 0 {
		c.Wait = DefaultWait
	}
	if c.Limit == 0 {
		c.Limit = DefaultLimit
	}
	return c
}
