package polar

import (
	"fmt"
	"strings"
	"testing"
)

// TestLiberalPolicies loads every testdata/liberal/*.polar: forms that Oso's
// control plane accepts and that a stricter validator once refused. Each must
// compile, pass all of its tests, and report exactly the warnings of its
// .golden file (-update rewrites). `outpost test` runs the same files.
func TestLiberalPolicies(t *testing.T) {
	eachGolden(t, "testdata/liberal/*.polar", func(t *testing.T, name, src string) string {
		f, err := Parse(name, src)
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
		return b.String()
	})
}
