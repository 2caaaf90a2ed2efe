package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyFlagErrors: a missing --policy file, a policy that does not
// compile, a bad --events line or a missing --events file is one line on
// stderr naming the file and the problem, with exit status 1 (#17 item 5;
// before the fix bootstrap dereferenced a nil state and panicked).
func TestPolicyFlagErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.polar", "actor User {}\nresource Repo {\n  roles = [\"r\"];\n  permissions = [\"read\"];\n  \"read\" if \"r\";\n}\n")
	bad := write("bad.polar", "actor User {}\nresource Repo { roles = [\"r\"]; permissions = [\"read\"]; \"read\" if \"r\" }\n")
	badEvents := write("bad.jsonl", `{"seq":1,"kind":"batch","inserts":[{"predicate":"has_role","args":[{"type":"User","id":"a"},{"type":"String","id":"r"},{"type":"Repo","id":"x"}]}]}`+"\nnot json\n")
	missing := filepath.Join(dir, "missing.polar")
	missingEvents := filepath.Join(dir, "missing.jsonl")

	tests := []struct {
		name string
		args []string
		want []string // substrings of the one stderr line
	}{
		{"missing policy", []string{"--policy", missing}, []string{missing, "no such file"}},
		{"policy syntax error", []string{"--policy", bad}, []string{bad, ":2:", "expected"}},
		{"bad events line", []string{"--policy", good, "--events", badEvents}, []string{badEvents + ":2", "decode event"}},
		{"missing events", []string{"--policy", good, "--events", missingEvents}, []string{missingEvents, "no such file"}},
	}
	noEnv := func(string) (string, bool) { return "", false }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"--listen", "127.0.0.1:0", "--directory", t.TempDir()}, tt.args...)
			code := run(t.Context(), args, noEnv, &stdout, &stderr)
			out := stderr.String()
			if code != 1 {
				t.Errorf("exit status %d, want 1; stderr:\n%s", code, out)
			}
			if n := strings.Count(strings.TrimRight(out, "\n"), "\n"); n != 0 || out == "" {
				t.Errorf("stderr is %d lines, want one:\n%s", n+1, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("stderr does not name %q:\n%s", w, out)
				}
			}
		})
	}
}
