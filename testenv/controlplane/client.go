package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// Client writes to a control plane over its HTTP API, as an SDK would. Each
// write returns the seq from the reply's OsoOffset. Safe for concurrent use.
type Client struct {
	// URL is the control plane's base URL, e.g. http://127.0.0.1:8081.
	URL string
	// Key is the bearer API key.
	Key string
	// HTTP is the client used (default: one with a 60 s timeout).
	HTTP *http.Client
}

// NewClient returns a Client for url with key.
func NewClient(url, key string) *Client {
	return &Client{URL: strings.TrimRight(url, "/"), Key: key, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// APIError is a non-2xx answer.
type APIError struct {
	Status  int
	Message string
	Body    []byte
}

func (e *APIError) Error() string {
	return fmt.Sprintf("control plane answered %d: %s", e.Status, e.Message)
}

// Response is a raw answer (see Do).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one request with the client's key. body is sent as JSON unless
// it is nil, a []byte or a string (sent as is). Any status is returned
// without error; errors are transport failures.
func (c *Client) Do(ctx context.Context, method, path string, body any) (*Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s body: %w", method, path, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// write sends a mutation and returns the seq of its OsoOffset.
func (c *Client) write(ctx context.Context, method, path string, body any) (uint64, error) {
	res, err := c.Do(ctx, method, path, body)
	if err != nil {
		return 0, err
	}
	if res.Status/100 != 2 {
		var m struct {
			Message string `json:"message"`
		}
		json.Unmarshal(res.Body, &m)
		return 0, &APIError{Status: res.Status, Message: m.Message, Body: res.Body}
	}
	seq, err := ParseOffset(res.Header.Get("OsoOffset"))
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return seq, nil
}

// ParseOffset returns the seq of an OsoOffset token "<logid>:<seq>".
func ParseOffset(tok string) (uint64, error) {
	_, seq, ok := strings.Cut(tok, ":")
	if !ok {
		return 0, fmt.Errorf("parse OsoOffset %q: want <logid>:<seq>", tok)
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse OsoOffset %q: %w", tok, err)
	}
	return n, nil
}

func bg() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

// SetPolicy sets the policy (filename "main.polar").
func (c *Client) SetPolicy(src string) (uint64, error) {
	return c.SetPolicyFile(src, "main.polar")
}

// SetPolicyFile sets the policy with a filename.
func (c *Client) SetPolicyFile(src, filename string) (uint64, error) {
	ctx, cancel := bg()
	defer cancel()
	return c.write(ctx, http.MethodPost, "/api/policy", replica.PolicySource{Src: src, Filename: filename})
}

// Insert inserts facts in one batch.
func (c *Client) Insert(facts ...replica.Fact) (uint64, error) { return c.Batch(Inserts(facts...)) }

// Delete deletes the facts matching patterns in one batch.
func (c *Client) Delete(patterns ...replica.Pattern) (uint64, error) {
	return c.Batch(Deletes(patterns...))
}

// Batch sends POST /api/batch with the groups in order.
func (c *Client) Batch(groups ...Group) (uint64, error) {
	ctx, cancel := bg()
	defer cancel()
	if groups == nil {
		groups = []Group{}
	}
	return c.write(ctx, http.MethodPost, "/api/batch", groups)
}

// Clear sends POST /api/clear_data.
func (c *Client) Clear() (uint64, error) {
	ctx, cancel := bg()
	defer cancel()
	return c.write(ctx, http.MethodPost, "/api/clear_data", nil)
}

// Status is the answer of GET /v1/envs/{env}/status.
type Status struct {
	Env    string `json:"env"`
	Seq    uint64 `json:"seq"`
	Digest string `json:"digest"`
	LogID  string `json:"log_id"`
	Facts  int    `json:"facts"`
}

// Status fetches the environment's status.
func (c *Client) Status(env string) (Status, error) {
	ctx, cancel := bg()
	defer cancel()
	res, err := c.Do(ctx, http.MethodGet, "/v1/envs/"+env+"/status", nil)
	if err != nil {
		return Status{}, err
	}
	if res.Status != http.StatusOK {
		return Status{}, &APIError{Status: res.Status, Message: string(res.Body), Body: res.Body}
	}
	var st Status
	if err := json.Unmarshal(res.Body, &st); err != nil {
		return Status{}, fmt.Errorf("decode status: %w", err)
	}
	return st, nil
}

// SeedBatchFacts is how many facts SeedGitclub sends per request: small
// enough that each event stays well under a broker's default 1 MB message
// limit.
const SeedBatchFacts = 2000

// SeedGitclub sets the gitclub policy (datasets.GitclubPolicy) and inserts
// the n-fact gitclub data set with seed 1 through POST /api/bulk_load, in
// batches of SeedBatchFacts. It returns the seq of the last write.
func (c *Client) SeedGitclub(n int) (uint64, error) {
	seq, err := c.SetPolicyFile(datasets.GitclubPolicy, datasets.PolicyFilename)
	if err != nil {
		return 0, fmt.Errorf("seed gitclub: %w", err)
	}
	batch := make([]replica.Fact, 0, SeedBatchFacts)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ctx, cancel := bg()
		defer cancel()
		s, err := c.write(ctx, http.MethodPost, "/api/bulk_load", batch)
		if err != nil {
			return err
		}
		seq = s
		batch = batch[:0]
		return nil
	}
	err = datasets.Generate(datasets.Config{Facts: n, Seed: 1}, func(f replica.Fact) error {
		batch = append(batch, f)
		if len(batch) == SeedBatchFacts {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return 0, fmt.Errorf("seed gitclub: %w", err)
	}
	return seq, nil
}
