package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/segmentio/kafka-go"
)

func TestRunStartsBrokersAndStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{
			"-nats", "127.0.0.1:0", "-nats-store", t.TempDir(),
			"-kafka", "127.0.0.1:0", "-kafka-topics", "outpost.prod.events, outpost.dev.events",
		}, pw, &stderr)
		pw.Close()
	}()

	lines := bufio.NewScanner(pr)
	addrs := map[string]string{}
	for len(addrs) < 2 && lines.Scan() {
		f := strings.Fields(lines.Text())
		addrs[f[0]] = f[1]
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	nc, err := nats.Connect(addrs["nats"], nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect to printed NATS URL %q: %v", addrs["nats"], err)
	}
	nc.Close()
	conn, err := kafka.DialLeader(t.Context(), "tcp", addrs["kafka"], "outpost.dev.events", 0)
	if err != nil {
		t.Fatalf("dial leader of pre-created topic at %q: %v", addrs["kafka"], err)
	}
	conn.Close()

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit status %d, stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"both disabled", []string{"-nats", "", "-kafka", ""}, 2},
		{"bad flag", []string{"-nope"}, 2},
		{"extra args", []string{"-nats", "", "-kafka", "127.0.0.1:0", "x"}, 2},
		{"bad kafka host", []string{"-nats", "", "-kafka", "0.0.0.0:0"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			if got := run(t.Context(), tc.args, &out, &errOut); got != tc.want {
				t.Fatalf("run(%q) = %d, want %d; stderr:\n%s", tc.args, got, tc.want, errOut.String())
			}
		})
	}
}
