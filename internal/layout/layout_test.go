// Package layout holds tests about the shape of the module itself.
package layout

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/outpost-authz/outpost"

// deps lists the non-test dependencies of a package.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+"/"+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestDependenciesPointInward enforces DESIGN.md §9: the domain core and
// the Polar engine import nothing of ours, and only the transport packages
// (and testenv) import Kafka and NATS clients.
func TestDependenciesPointInward(t *testing.T) {
	for _, pkg := range []string{"replica", "query/polar"} {
		for _, d := range deps(t, pkg) {
			if strings.HasPrefix(d, module) && d != module+"/"+pkg {
				t.Errorf("%s imports %s; it must import nothing of ours", pkg, d)
			}
			if first, _, _ := strings.Cut(d, "/"); strings.Contains(first, ".") && !strings.HasPrefix(d, module) {
				t.Errorf("%s imports the third-party package %s", pkg, d)
			}
		}
	}
	for _, pkg := range []string{"replica", "query/polar", "query", "snapshotter"} {
		for _, d := range deps(t, pkg) {
			if strings.Contains(d, "kafka") || strings.Contains(d, "nats-io") {
				t.Errorf("%s depends on the transport client %s", pkg, d)
			}
		}
	}
	for _, pkg := range []string{"replica", "query/polar", "query"} {
		for _, d := range deps(t, pkg) {
			if d == "net/http" {
				t.Errorf("%s depends on net/http; only httpapi, ingest, testenv and cmd serve HTTP", pkg)
			}
		}
	}
}
