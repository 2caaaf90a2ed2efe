package main

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) envLookup {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestConfigPrecedence(t *testing.T) {
	c, err := parseConfig([]string{"--port", "9090"}, env(map[string]string{
		"OSO_PORT": "7070", "OSO_ENVIRONMENT": "prod", "OUTPOST_CONTROL_PLANE_URL": "http://cp:8081",
		"OUTPOST_CONSISTENCY_WAIT": "1s", "OSO_API_TOKEN": "k",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9090 || c.Listen != ":9090" {
		t.Errorf("flag did not win: port %d listen %q", c.Port, c.Listen)
	}
	if c.Environment != "prod" || c.Source != "poll" || c.KafkaTopic != "outpost.prod.events" || c.NATSStream != "OUTPOST_PROD" {
		t.Errorf("derived defaults wrong: %+v", c)
	}
	if c.ConsistencyWait != time.Second || c.Directory != "./.oso" || c.CheckpointKeep != 2 {
		t.Errorf("env or defaults wrong: %+v", c)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad port env", nil, map[string]string{"OSO_PORT": "http"}, `OSO_PORT="http" is not an integer`},
		{"port range", []string{"--port", "70000"}, nil, "not a TCP port"},
		{"log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"source", []string{"--source", "carrier-pigeon"}, nil, "use poll, kafka, nats, oso-api or none"},
		{"poll without url", []string{"--source", "poll"}, nil, "needs --control-plane-url"},
		{"kafka without brokers", []string{"--source", "kafka"}, nil, "needs --kafka-brokers"},
		{"nats without url", []string{"--source", "nats"}, nil, "needs --nats-url"},
		{"bad url", []string{"--control-plane-url", "ftp://x"}, nil, "not an http(s) URL"},
		{"consistency", []string{"--consistency", "eventual"}, nil, "use wait or strict"},
		{"auth", []string{"--auth", "maybe"}, nil, "use tokens or none"},
		{"keep", []string{"--checkpoint-keep", "0"}, nil, "at least 1"},
		{"duration env", nil, map[string]string{"OUTPOST_POLL_WAIT": "soon"}, "not a duration"},
		{"export and import", []string{"--export", "a", "--import", "b"}, nil, "cannot be combined"},
		{"events without policy", []string{"--events", "e.jsonl"}, nil, "--events needs --policy"},
		{"stray argument", []string{"serve"}, nil, `unexpected argument "serve"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args, env(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestConfigurationDocumentsEveryFlag fails when a flag or environment
// variable exists that docs/configuration.md does not mention.
func TestConfigurationDocumentsEveryFlag(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var usage strings.Builder
	parseConfig([]string{"-h"}, env(nil), &usage)
	flags := regexp.MustCompile(`(?m)^\s+-([a-z-]+)`).FindAllStringSubmatch(usage.String(), -1)
	envs := regexp.MustCompile(`env ([A-Z_]+)`).FindAllStringSubmatch(usage.String(), -1)
	if len(flags) < 20 || len(envs) != len(flags) {
		t.Fatalf("parsed %d flags and %d variables from the usage text", len(flags), len(envs))
	}
	for _, f := range flags {
		if !strings.Contains(string(doc), "`--"+f[1]+"`") {
			t.Errorf("docs/configuration.md does not document --%s", f[1])
		}
	}
	for _, e := range envs {
		if !strings.Contains(string(doc), "`"+e[1]+"`") {
			t.Errorf("docs/configuration.md does not document %s", e[1])
		}
	}
}
