package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(i + 1)
	}
	for _, tc := range []struct {
		name string
		p    float64
		want time.Duration
	}{
		{"p50", 0.50, 50},
		{"p99", 0.99, 99},
		{"p999 of 100 is the max", 0.999, 100},
		{"p0 is the min", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(lat, tc.p); got != tc.want {
				t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name     string
		scenario string
		facts    int
		metric   string
		value    float64
		want     string // "met", "missed", "unjudged" or "none"
	}{
		{"at most, met", "authorize_direct", 1_000_000, "p50", 1900, "met"},
		{"at most, missed", "authorize_direct", 1_000_000, "p50", 2100, "missed"},
		{"at least, met", "ingest_kafka", 100_000, "rate", 400e3, "met"},
		{"below minFacts", "load", 1_000_000, "RSS/fact", 80, "unjudged"},
		{"pro rata: 1M facts in 0.4 s", "checkpoint_write", 1_000_000, "seconds", 0.4, "met"},
		{"pro rata: 1M facts in 0.6 s", "checkpoint_write", 1_000_000, "seconds", 0.6, "missed"},
		{"no target", "authorize_denied", 1_000_000, "p50", 1e9, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newResult(tc.scenario, tc.facts)
			r.metric(tc.metric, tc.value, "")
			judge(&r)
			m := r.Metrics[0]
			got := "none"
			switch {
			case m.Met != nil && *m.Met:
				got = "met"
			case m.Met != nil:
				got = "missed"
			case m.Target != "":
				got = "unjudged"
			}
			if got != tc.want {
				t.Errorf("got %s (target %q), want %s", got, m.Target, tc.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	if got, err := parseSizes("100_000, 1000000"); err != nil || len(got) != 2 || got[0] != 100_000 || got[1] != 1_000_000 {
		t.Errorf("parseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "10", "x"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) succeeded", bad)
		}
	}
	if _, err := parseScenarios("load,nope"); err == nil {
		t.Error("parseScenarios accepted an unknown scenario")
	}
}
