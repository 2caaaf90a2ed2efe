package poll_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/ingesttest"
	"github.com/outpost-authz/outpost/ingest/poll"
	"github.com/outpost-authz/outpost/replica"
)

const testToken = "test-token"

var testBackoff = ingest.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}

type feedTransport struct {
	srv *ingesttest.FeedServer
	env string
}

func (f *feedTransport) Publish(t testing.TB, payloads ...[]byte) { f.srv.Append(payloads...) }
func (f *feedTransport) Stop(t testing.TB)                        { f.srv.Stop() }
func (f *feedTransport) Restart(t testing.TB)                     { f.srv.Restart(t) }
func (f *feedTransport) NewSource(t testing.TB, log *slog.Logger) ingest.Source {
	t.Helper()
	src, err := poll.New(poll.Config{URL: f.srv.URL(), Env: f.env, Token: testToken, Wait: time.Second, Backoff: testBackoff}, log)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestContract(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	ingesttest.Run(t, ingesttest.Harness{
		Open: func(t *testing.T, env string) ingesttest.Transport {
			return &feedTransport{srv: ingesttest.NewFeedServer(t, env, testToken), env: env}
		},
		Backoff: testBackoff,
	})
}

func TestRunErrors(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	srv := ingesttest.NewFeedServer(t, "prod", testToken)
	srv.Append(ingesttest.Events("prod", 1, 5)...)
	srv.SetRetention(3)
	for _, tc := range []struct {
		name  string
		cfg   poll.Config
		from  uint64
		want  error
		wantS int
	}{
		{"410 is ErrResync", poll.Config{Env: "prod", Token: testToken}, 1, ingest.ErrResync, 410},
		{"401 is ErrTerminal", poll.Config{Env: "prod", Token: "wrong"}, 3, ingest.ErrTerminal, 401},
		{"404 is ErrTerminal", poll.Config{Env: "other", Token: testToken}, 3, ingest.ErrTerminal, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.URL, tc.cfg.Backoff = srv.URL(), testBackoff
			src, err := poll.New(tc.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = src.Run(t.Context(), replica.Position{Seq: tc.from, KafkaOffset: -1},
				func(context.Context, ingest.Message) error { return nil })
			if !errors.Is(err, tc.want) || !poll.IsStatus(err, tc.wantS) {
				t.Fatalf("Run = %v, want %v with status %d", err, tc.want, tc.wantS)
			}
		})
	}
}

func TestClient(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	srv := ingesttest.NewFeedServer(t, "prod", testToken)
	srv.Append(ingesttest.Events("prod", 1, 5)...)
	c, err := poll.NewClient(poll.Config{URL: srv.URL() + "/", Env: "prod", Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)

	events, head, err := c.Events(t.Context(), 2, 2)
	if err != nil || head != 5 || len(events) != 2 {
		t.Fatalf("Events(2, 2) = %d events, head %d, %v; want 2, 5", len(events), head, err)
	}
	if seq, _ := ingest.PeekSeq(events[0]); seq != 3 {
		t.Fatalf("first event seq %d, want 3", seq)
	}
	// Events does not wait: an empty answer comes back at once.
	begin := time.Now()
	if events, head, err := c.Events(t.Context(), 5, 10); err != nil || len(events) != 0 || head != 5 {
		t.Fatalf("Events(5) = %d, %d, %v; want none, head 5", len(events), head, err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Fatalf("Events waited %v", d)
	}

	if _, err := c.Snapshot(t.Context()); !poll.IsStatus(err, 503) {
		t.Fatalf("Snapshot without one = %v, want status 503", err)
	}
	srv.SetSnapshot([]byte("checkpoint bytes"), 5)
	rc, err := c.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(body) != "checkpoint bytes" {
		t.Fatalf("Snapshot body %q, %v", body, err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := poll.Config{URL: "http://cp:8081", Env: "prod", Token: "k"}
	for _, tc := range []struct {
		name string
		edit func(*poll.Config)
		ok   bool
	}{
		{"minimal", func(*poll.Config) {}, true},
		{"https with path", func(c *poll.Config) { c.URL = "https://cp.example/base" }, true},
		{"no URL", func(c *poll.Config) { c.URL = "" }, false},
		{"bad scheme", func(c *poll.Config) { c.URL = "ftp://cp" }, false},
		{"query", func(c *poll.Config) { c.URL = "http://cp/?a=b" }, false},
		{"no env", func(c *poll.Config) { c.Env = "" }, false},
		{"no token", func(c *poll.Config) { c.Token = "" }, false},
		{"wait too long", func(c *poll.Config) { c.Wait = time.Hour }, false},
		{"negative limit", func(c *poll.Config) { c.Limit = -1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			if err := cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
