package polar

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateGolden compiles every testdata/validate/*.polar and compares
// the full list of diagnostics with its .golden file (-update rewrites):
// the errors of a policy that does not compile, or the warnings of one that
// does.
func TestValidateGolden(t *testing.T) {
	eachGolden(t, "testdata/validate/*.polar", func(t *testing.T, name, src string) string {
		var got string
		f, err := Parse(name, src)
		if err == nil {
			var p *Policy
			if p, err = Compile([]*File{f}, CompileOptions{}); err == nil {
				if len(p.Warnings()) == 0 {
					t.Fatal("policy compiled without a warning; validation inputs must have a diagnostic")
				}
				got = fmt.Sprintf("compiles with %d warnings:\n", len(p.Warnings()))
				for _, w := range p.Warnings() {
					got += "  " + w.Error() + "\n"
				}
			}
		}
		if err != nil {
			got = err.Error() + "\n"
		}
		return got
	})
}

// eachGolden runs fn on every file matching glob, in a subtest named after
// the file, and compares what fn returns with the file's .golden sibling
// (-update rewrites it).
func eachGolden(t *testing.T, glob string, fn func(t *testing.T, name, src string) string) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := fn(t, filepath.Base(in), string(src))
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
				t.Errorf("differs from %s:\n got:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}
