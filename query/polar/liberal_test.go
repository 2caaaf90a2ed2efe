package polar

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLiberalPolicies loads every testdata/liberal/*.polar: forms that Oso's
// control plane accepts and that a stricter validator once refused. Each must
// compile, pass all of its tests, and report exactly the warnings of its
// .golden file (-update rewrites). `outpost test` runs the same files.
func TestLiberalPolicies(t *testing.T) {
	files, err := filepath.Glob("testdata/liberal/*.polar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(filepath.Base(in), string(src))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			p, err := Compile([]*File{f}, CompileOptions{})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			var b strings.Builder
			for _, w := range p.Warnings() {
				fmt.Fprintf(&b, "WARN %s\n", w.Error())
			}
			results := p.RunTests(nil)
			if len(results) == 0 {
				t.Error("no test blocks: every liberal input must show its behaviour")
			}
			for _, r := range results {
				fmt.Fprintf(&b, "TEST %s (%d/%d)\n", r.Name, r.Passed, r.Total)
				if !r.OK() {
					t.Errorf("test %q failed: %+v", r.Name, r.Failures)
				}
			}
			got := b.String()
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
