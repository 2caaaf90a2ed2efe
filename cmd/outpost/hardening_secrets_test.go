package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/controlplane"
)

// hardeningLog is a log destination safe for concurrent writers.
type hardeningLog struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *hardeningLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *hardeningLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHardeningKeysNeverLogged runs a control plane and a node at debug
// level through successful and failed authentication on both, and a node
// that presents a wrong key to the control plane, and checks that no API
// key appears in any log line or error output.
func TestHardeningKeysNeverLogged(t *testing.T) {
	t.Parallel()
	writeKey, readKey, wrongKey := "hk-write-"+rand.Text(), "hk-read-"+rand.Text(), "hk-wrong-"+rand.Text()
	secrets := []string{writeKey, readKey, wrongKey}

	cpLog := &hardeningLog{}
	cp := controlplane.Start(t, controlplane.Config{
		Keys:   map[string]string{writeKey: controlplane.AccessWrite, readKey: controlplane.AccessRead},
		Logger: slog.New(slog.NewTextHandler(cpLog, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if _, err := cp.Client.SetPolicy(lifecyclePolicy); err != nil {
		t.Fatal(err)
	}
	seq, err := cp.Client.Insert(replica.Fact{Predicate: "has_role", Args: []replica.Value{{Type: "User", ID: "u0"}, {Type: "String", ID: "admin"}, {Type: "Repo", ID: "r0"}}})
	if err != nil {
		t.Fatal(err)
	}
	// control plane: a write and a feed read with a wrong key, a write with
	// the read key
	for _, c := range []struct {
		key, method, path string
		want              int
	}{
		{wrongKey, "POST", "/api/batch", 401},
		{wrongKey, "GET", "/v1/envs/test/events?after=0", 401},
		{readKey, "POST", "/api/batch", 403},
		{"", "POST", "/api/batch", 401},
	} {
		res, err := controlplane.NewClient(cp.URL, c.key).Do(t.Context(), c.method, c.path, "[]")
		if err != nil || res.Status != c.want {
			t.Fatalf("control plane %s %s: %v %v, want %d", c.method, c.path, res, err, c.want)
		}
	}

	nodeLog := &hardeningLog{}
	cfg, err := parseConfig([]string{"--listen", "127.0.0.1:0", "--environment", "test", "--control-plane-url", cp.URL,
		"--api-token", readKey, "--directory", filepath.Join(t.TempDir(), "data"), "--log-level", "debug", "--poll-wait", "1s"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, newLogger(nodeLog, "debug"), func(a string) { addr <- a }) }()
	url := "http://" + <-addr
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("node: %v", err)
			}
		})
	}
	defer stop()
	waitFor(t, 10*time.Second, func() bool {
		resp, err := http.Get(url + "/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `"revision":`+strconv.FormatUint(seq, 10))
	})
	body := `{"actor_type":"User","actor_id":"u0","action":"delete","resource_type":"Repo","resource_id":"r0"}`
	for _, c := range []struct {
		auth string
		want int
	}{
		{"Bearer " + readKey, 200},
		{"Bearer " + writeKey, 200},
		{"Bearer " + wrongKey, 401},
		{"Basic " + readKey, 401},
		{readKey, 401},
		{"", 401},
	} {
		req, _ := http.NewRequest("POST", url+"/api/authorize", strings.NewReader(body))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("node, Authorization %q…: %d %s, want %d", c.auth[:min(len(c.auth), 8)], resp.StatusCode, b, c.want)
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("an answer body contains an API key: %s", b)
			}
		}
	}

	// the operational pages show configuration, never the node's own key
	for _, path := range []string{"/status", "/", "/metrics"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s shows an API key", path)
			}
		}
	}

	// a node that presents a wrong key and has nothing else to start from
	code, plain, stderr := hardeningRun(t, "--listen", "127.0.0.1:0", "--environment", "test", "--control-plane-url", cp.URL,
		"--api-token", wrongKey, "--directory", t.TempDir(), "--log-level", "debug")
	if code != 1 || len(plain) != 1 || !strings.Contains(plain[0], "401") {
		t.Errorf("node with a wrong key: exit %d, %q", code, plain)
	}
	stop()

	logs := map[string]string{"control plane log": cpLog.String(), "node log": nodeLog.String(), "failed node's stderr": stderr}
	if !strings.Contains(logs["node log"], `"level":"DEBUG"`) || !strings.Contains(logs["node log"], `"msg":"request"`) {
		t.Fatalf("the node logged no debug request lines; the test proves nothing:\n%s", logs["node log"])
	}
	for name, text := range logs {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains an API key:\n%s", name, text)
			}
		}
		if strings.Contains(text, "Bearer ") {
			t.Errorf("%s contains an Authorization header:\n%s", name, text)
		}
	}
}

// TestHardeningTransportSecretsNeverShown checks the secrets of the
// secured edges (broker passwords and tokens, the API key) in the places
// that are not covered by the end-to-end tests (secure_sources_test.go
// checks logs, /status and /metrics of running nodes): the usage text the
// flag package prints on any flag error (defaults come from the
// environment), configuration errors, and a NATS URL that carries a
// password.
func TestHardeningTransportSecretsNeverShown(t *testing.T) {
	secrets := map[string]string{
		"OSO_API_TOKEN":               "hk-api-" + rand.Text(),
		"OUTPOST_KAFKA_SASL_PASSWORD": "hk-kafka-" + rand.Text(),
		"OUTPOST_NATS_PASSWORD":       "hk-natspw-" + rand.Text(),
		"OUTPOST_NATS_TOKEN":          "hk-natstok-" + rand.Text(),
	}
	check := func(t *testing.T, where, text string) {
		t.Helper()
		for name, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the value of %s:\n%s", where, name, text)
			}
		}
	}

	t.Run("usage on a flag error", func(t *testing.T) {
		var usage bytes.Buffer
		_, err := parseConfig([]string{"--no-such-flag"}, env(secrets), &usage)
		if err == nil || !strings.Contains(usage.String(), "-kafka-sasl-password") {
			t.Fatalf("want a flag error and the usage text; got %v\n%s", err, usage.String())
		}
		check(t, "the usage text", usage.String()+err.Error())
	})

	t.Run("configuration errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"--source", "kafka", "--kafka-brokers", "127.0.0.1:1", "--kafka-sasl-mechanism", "GSSAPI", "--kafka-sasl-user", "u"},
			{"--source", "kafka", "--kafka-brokers", "127.0.0.1:1"},                      // a password without a mechanism
			{"--source", "nats", "--nats-url", "nats://127.0.0.1:1", "--nats-user", "u"}, // a password and a token
		} {
			c, err := parseConfig(args, env(secrets), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.source(slog.New(slog.DiscardHandler))
			if err == nil {
				t.Fatalf("%v: want a configuration error", args)
			}
			check(t, "the error of "+strings.Join(args, " "), err.Error())
		}
	})

	t.Run("a password in the NATS URL", func(t *testing.T) {
		pw := secrets["OUTPOST_NATS_PASSWORD"]
		var log hardeningLog
		c, err := parseConfig([]string{"--source", "nats", "--nats-url", "nats://outpost:" + pw + "@127.0.0.1:1"}, env(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		src, err := c.source(newLogger(&log, "debug"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		if err := src.Run(ctx, replica.StartPosition(), nil); err != nil {
			t.Fatal(err)
		}
		h := src.(interface{ Health() ingest.Health }).Health()
		if h.LastError == "" || !strings.Contains(h.LastError, "outpost:xxxxx@") {
			t.Fatalf("want a connection error naming the redacted URL, got %q", h.LastError)
		}
		check(t, "the source's error", h.LastError)
		check(t, "the log", log.String())
	})
}
