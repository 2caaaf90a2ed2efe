package query

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/outpost-authz/outpost/replica"
)

// TestLoggingCompilerOnce: a policy that loads with warnings is logged once,
// however often it is compiled again; a different policy is logged anew.
func TestLoggingCompilerOnce(t *testing.T) {
	var buf bytes.Buffer
	compile := LoggingCompiler(slog.New(slog.NewTextHandler(&buf, nil)))
	warned := replica.PolicySource{Src: "actor User {}\nf(u: User) if g matches Group and m(u, g);\n"}
	other := replica.PolicySource{Src: "actor User {}\nf(u: User) if r matches Role and m(u, r);\n"}
	clean := replica.PolicySource{Src: "actor User {}\n"}
	steps := []struct {
		src   replica.PolicySource
		lines int // new log lines
	}{
		{warned, 1}, {warned, 0}, {clean, 0}, {other, 1}, {other, 0}, {warned, 1},
	}
	for i, s := range steps {
		before := strings.Count(buf.String(), "\n")
		if _, err := compile(s.src); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := strings.Count(buf.String(), "\n") - before; got != s.lines {
			t.Errorf("step %d: %d new log lines, want %d:\n%s", i, got, s.lines, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "W001") || !strings.Contains(buf.String(), "level=WARN") {
		t.Errorf("log lacks the warning:\n%s", buf.String())
	}
	if _, err := compile(replica.PolicySource{Src: "actor User {"}); err == nil {
		t.Error("a broken policy compiled")
	}
}
