package poll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-authz/outpost/ingest"
)

// requestSlack is how much longer than its wait a poll may take before the
// client gives up on it: time to send the answer through slow networks.
const requestSlack = 30 * time.Second

// Client sends requests to the control plane's event feed and snapshot
// endpoints. It is safe for concurrent use.
type Client struct {
	cfg    Config
	events string // URL of the events endpoint, without query
	snap   string // URL of the snapshot endpoint
	hc     *http.Client
	own    bool // hc is ours: close its idle connections
}

var _ ingest.FeedClient = (*Client)(nil)

// NewClient returns a Client for cfg.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	base := strings.TrimRight(cfg.URL, "/") + "/v1/envs/" + url.PathEscape(cfg.Env)
	c := &Client{cfg: cfg, events: base + "/events", snap: base + "/snapshot", hc: cfg.HTTPClient}
	if c.hc == nil {
		c.hc = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		}}
		c.own = true
	}
	return c, nil
}

// Events returns up to limit events after seq after, without waiting for
// new ones, and the feed's head. An error wraps ingest.ErrResync when the
// feed no longer retains the events after after (410 Gone), and
// ingest.ErrTerminal when the token is refused or the environment unknown.
func (c *Client) Events(ctx context.Context, after uint64, limit int) ([]json.RawMessage, uint64, error) {
	return c.poll(ctx, after, limit, 0)
}

// poll asks for events after after, letting the control plane wait up to
// wait for the first one.
func (c *Client) poll(ctx context.Context, after uint64, limit int, wait time.Duration) ([]json.RawMessage, uint64, error) {
	evs, o, err := c.pollOrigin(ctx, after, limit, wait)
	return evs, o.Head, err
}

// pollOrigin is poll returning, besides the events, what the answer says
// about the log (its head, and the log id and digest when the control
// plane sends them).
func (c *Client) pollOrigin(ctx context.Context, after uint64, limit int, wait time.Duration) ([]json.RawMessage, ingest.Origin, error) {
	if limit <= 0 {
		limit = c.cfg.Limit
	}
	ctx, cancel := context.WithTimeout(ctx, wait+requestSlack)
	defer cancel()
	q := url.Values{}
	q.Set("after", strconv.FormatUint(after, 10))
	q.Set("limit", strconv.Itoa(limit))
	q.Set("wait", wait.String())
	op := "poll events after " + strconv.FormatUint(after, 10)
	resp, err := c.get(ctx, c.events+"?"+q.Encode(), op)
	if err != nil {
		return nil, ingest.Origin{}, err
	}
	defer resp.Body.Close()
	body, err := readBody(resp.Body, resp.ContentLength)
	if err != nil {
		return nil, ingest.Origin{}, fmt.Errorf("%s: read answer: %w", op, err)
	}
	events, origin, err := parseAnswer(body)
	if err != nil {
		return nil, ingest.Origin{}, fmt.Errorf("%s: %w", op, err)
	}
	return events, origin, nil
}

// Snapshot starts downloading the environment's snapshot (checkpoint
// format). The caller reads and closes the body. Errors are classified as
// for Events.
func (c *Client) Snapshot(ctx context.Context) (io.ReadCloser, error) {
	resp, err := c.get(ctx, c.snap, "download snapshot")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// CloseIdleConnections closes the idle connections of the Client's own HTTP
// client (not of a Config.HTTPClient).
func (c *Client) CloseIdleConnections() {
	if c.own {
		c.hc.CloseIdleConnections()
	}
}

// get sends an authenticated GET and returns a 200 response, or an error
// classified by status.
func (c *Client) get(ctx context.Context, u, op string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	serr := &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(msg))}
	switch resp.StatusCode {
	case http.StatusGone:
		return nil, fmt.Errorf("%s: %w: %w", op, serr, ingest.ErrResync)
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w: %w", op, serr, ingest.ErrTerminal)
	}
	return nil, fmt.Errorf("%s: %w", op, serr)
}

// StatusError is an unexpected HTTP status from the control plane.
type StatusError struct {
	Code int
	Body string // the start of the body, for the log
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return "control plane answered " + strconv.Itoa(e.Code) + " " + http.StatusText(e.Code)
	}
	return "control plane answered " + strconv.Itoa(e.Code) + " " + http.StatusText(e.Code) + ": " + e.Body
}

// IsStatus reports whether err carries an HTTP status code from the
// control plane.
func IsStatus(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}
