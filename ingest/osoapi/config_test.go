package osoapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
)

func TestConfigValidate(t *testing.T) {
	good := Config{URL: "https://api.osohq.com", Token: "k", Replica: replica.Config{Compiler: query.Compile}}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no url", func(c *Config) { c.URL = "" }, "URL is required"},
		{"not http", func(c *Config) { c.URL = "ftp://x" }, "want http(s)"},
		{"query", func(c *Config) { c.URL = "https://x/?a=1" }, "no query"},
		{"no token", func(c *Config) { c.Token = "" }, "Token is required"},
		{"no compiler", func(c *Config) { c.Replica.Compiler = nil }, "Compiler is required"},
		{"interval too short", func(c *Config) { c.Interval = time.Millisecond }, "below"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "negative"},
		{"bad token hash", func(c *Config) { c.Tokens = []replica.Token{{ID: "a", SHA256: "x", Access: "read"}} }, "Tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{" 0.5 ", 500 * time.Millisecond},
		{"-3", 0},
		{"soon", 0},
		{"999999", 10 * time.Minute},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	if got := retryAfter(future); got < 80*time.Second || got > 91*time.Second {
		t.Errorf("retryAfter(%q) = %v, want about 90s", future, got)
	}
}
