package main

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/testenv/controlplane"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunSeedsAndShutsDown(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-data", dir, "-env", "demo", "-key", "w-key:write,r-key:read",
			"-embed-nats", "-embed-kafka", "-seed-gitclub", "2000"}, &stdout, &stderr)
	}()
	var url string
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stdout.String(), "seeded gitclub") {
		if time.Now().After(deadline) {
			t.Fatalf("no seeding after 30s; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := regexp.MustCompile(`controlplane (http://\S+) `).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no URL printed:\n%s", stdout.String())
	}
	url = m[1]
	for _, want := range []string{"nats nats://", "kafka 127.0.0.1:", "stream=OUTPOST_DEMO", "topic=outpost.demo.events"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	st, err := controlplane.NewClient(url, "r-key").Status("demo")
	if err != nil || st.Facts != 2000 {
		t.Fatalf("status %+v, %v", st, err)
	}
	if strings.Contains(stderr.String(), "w-key") || strings.Contains(stdout.String(), "w-key") {
		t.Fatal("an API key was logged")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit status %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no shutdown 15s after the signal")
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{},                              // no key
		{"-key", "k:admin"},             // bad access
		{"-key", "k:write", "extra"},    // positional
		{"-key", "k:write", "-env", ""}, // invalid env (Validate)
	} {
		var out, errb syncBuffer
		if code := run(context.Background(), append(args, "-data", t.TempDir()), &out, &errb); code == 0 {
			t.Errorf("run(%q) = 0, want an error; stderr %s", args, errb.String())
		}
	}
}

// TestBrokerListenFlags: -kafka-listen and -nats-listen pin the embedded
// brokers' addresses (and imply -embed-kafka / -embed-nats).
func TestBrokerListenFlags(t *testing.T) {
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	kafkaAddr, natsAddr := free(), free()
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-data", t.TempDir(), "-key", "w:write",
			"-kafka-listen", kafkaAddr, "-nats-listen", natsAddr}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stdout.String(), "nats ") || !strings.Contains(stdout.String(), "kafka ") {
		if time.Now().After(deadline) {
			t.Fatalf("no broker addresses after 30s; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"kafka " + kafkaAddr + " ", "nats nats://" + natsAddr + " "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
}
