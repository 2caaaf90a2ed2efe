package polar

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateGolden compiles every testdata/validate/*.polar and compares
// the full list of diagnostics with its .golden file (-update rewrites).
func TestValidateGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/validate/*.polar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			f, err := Parse(filepath.Base(in), string(src))
			if err == nil {
				_, err = Compile([]*File{f}, CompileOptions{})
			}
			if err == nil {
				t.Fatal("policy compiled; validation inputs must be invalid")
			}
			got = err.Error() + "\n"
			golden := strings.TrimSuffix(in, ".polar") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s:\n got:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}
