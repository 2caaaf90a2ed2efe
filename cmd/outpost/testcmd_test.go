package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunTestsLiberal: `outpost test` loads every policy that Oso's control
// plane accepts (query/polar/testdata/liberal), prints its warnings and
// passes its tests; a policy with an error still fails.
func TestRunTestsLiberal(t *testing.T) {
	files, err := filepath.Glob("../../query/polar/testdata/liberal/*.polar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no liberal policies: %v", err)
	}
	broken := filepath.Join(t.TempDir(), "broken.polar")
	if err := os.WriteFile(broken, []byte("actor User {}\nresource R extends Nope {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"liberal policies", files, 0, []string{"WARN ", "W001 unknown type Team after matches", "W002 ", "PASS ", " 0 failed"}},
		{"an error still fails", []string{broken}, 1, []string{"FAIL " + broken + ": the policy does not compile", "T001 unknown type Nope in extends"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := runTests(tc.args, &out, &errb); code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out.String(), errb.String())
			}
			for _, w := range tc.wants {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
