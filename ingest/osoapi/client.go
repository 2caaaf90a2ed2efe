package osoapi

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

	"github.com/outpost-authz/outpost/replica"
)

// StatusError is an answer other than 200 from the upstream.
type StatusError struct {
	Op         string // e.g. "GET /api/facts?predicate=has_role"
	Code       int
	Message    string        // the body's "message", or its start
	RetryAfter time.Duration // from Retry-After, 0 when absent
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Code)
	}
	s := fmt.Sprintf("%s: %d: %s", e.Op, e.Code, msg)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// client sends the two read requests.
type client struct {
	base  string
	token string
	hc    *http.Client
}

func newClient(cfg Config) *client {
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		}}
	}
	return &client{base: strings.TrimRight(cfg.URL, "/"), token: cfg.Token, hc: hc}
}

func (c *client) get(ctx context.Context, pathQuery, op string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+pathQuery, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-OsoApiVersion", "0")
	req.Header.Set("User-Agent", "Outpost (oso-api source)")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, statusError(op, resp)
	}
	return resp, nil
}

func statusError(op string, resp *http.Response) error {
	e := &StatusError{Op: op, Code: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var body struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &body) == nil && body.Message != "" {
		e.Message = body.Message
	} else {
		e.Message = strings.TrimSpace(string(b))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "..."
		}
	}
	return e
}

// retryAfter parses delta-seconds (fractions allowed) or an HTTP date.
func retryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if f, err := strconv.ParseFloat(h, 64); err == nil && f > 0 {
		return min(time.Duration(f*float64(time.Second)), 10*time.Minute)
	}
	if t, err := http.ParseTime(h); err == nil {
		return min(max(time.Until(t), 0), 10*time.Minute)
	}
	return 0
}

// policy fetches the active policy; ok is false for {"policy": null}.
func (c *client) policy(ctx context.Context) (src replica.PolicySource, ok bool, err error) {
	const op = "GET /api/policy"
	resp, err := c.get(ctx, "/api/policy", op)
	if err != nil {
		return src, false, err
	}
	defer resp.Body.Close()
	var body struct {
		Policy *struct {
			Filename *string `json:"filename"`
			Src      *string `json:"src"`
		} `json:"policy"`
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 64<<20))
	if err := dec.Decode(&body); err != nil {
		return src, false, fmt.Errorf("%s: decode answer: %w", op, eofErr(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return src, false, fmt.Errorf("%s: unexpected data after the answer", op)
	}
	if body.Policy == nil {
		return src, false, nil
	}
	if body.Policy.Src == nil {
		return src, false, fmt.Errorf("%s: the answer's policy has no src", op)
	}
	src.Src = *body.Policy.Src
	if body.Policy.Filename != nil {
		src.Filename = *body.Policy.Filename
	}
	return src, true, nil
}

// wireFact is one element of GET /api/facts.
type wireFact struct {
	Predicate string    `json:"predicate"`
	Args      []wireArg `json:"args"`
}

type wireArg struct {
	Type *string `json:"type"`
	ID   *string `json:"id"`
}

// facts streams every stored fact named pred to fn, one element at a time.
// It returns the number of facts and fails unless the whole array arrived.
func (c *client) facts(ctx context.Context, pred string, fn func(replica.Fact) error) (int, error) {
	op := "GET /api/facts?predicate=" + pred
	resp, err := c.get(ctx, "/api/facts?predicate="+url.QueryEscape(pred), op)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	fr, err := newFactReader(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("%s: decode answer: %w", op, eofErr(err))
	}
	n := 0
	var w wireFact
	f := replica.Fact{}
	for {
		ok, err := fr.read(&w)
		if err != nil {
			return n, fmt.Errorf("%s: decode fact %d: %w", op, n, eofErr(err))
		}
		if !ok {
			break
		}
		if w.Predicate != pred {
			return n, fmt.Errorf("%s: fact %d has predicate %q", op, n, w.Predicate)
		}
		f.Predicate = w.Predicate
		f.Args = f.Args[:0]
		for i, a := range w.Args {
			if a.Type == nil || a.ID == nil {
				return n, fmt.Errorf("%s: fact %d: argument %d is not a concrete value", op, n, i)
			}
			f.Args = append(f.Args, replica.Value{Type: *a.Type, ID: *a.ID})
		}
		if err := fn(f); err != nil {
			return n, fmt.Errorf("%s: fact %d: %w", op, n, err)
		}
		n++
	}
	if err := fr.end(); err != nil {
		return n, fmt.Errorf("%s: after %d facts: %w", op, n, err)
	}
	return n, nil
}

// eofErr names a body that ended early.
func eofErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the answer was cut short: %w", io.ErrUnexpectedEOF)
	}
	return err
}
