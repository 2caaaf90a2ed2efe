// Package layout holds tests about the shape of the module itself.
package layout

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/outpost-authz/outpost"

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// TestDependenciesPointInward enforces DESIGN.md §9: the domain core and
// the Polar engine import nothing of ours and nothing third-party; only
// transport packages, testenv and cmd import Kafka and NATS clients; the
// core packages do not import net/http.
func TestDependenciesPointInward(t *testing.T) {
	for _, pkg := range goList(t, module+"/...") {
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		deps := goList(t, "-deps", "-f", "{{.ImportPath}}", pkg)
		for _, d := range deps {
			first, _, _ := strings.Cut(d, "/")
			ours := strings.HasPrefix(d, module)
			thirdParty := strings.Contains(first, ".") && !ours
			switch rel {
			case "replica", "query/polar":
				if (ours && d != pkg) || thirdParty {
					t.Errorf("%s imports %s; it must import nothing of ours and nothing third-party", rel, d)
				}
			}
			transport := strings.Contains(d, "segmentio/kafka-go") || strings.Contains(d, "nats-io/") || strings.Contains(d, "franz-go")
			if transport && !strings.HasPrefix(rel, "ingest/") && !strings.HasPrefix(rel, "testenv") && !strings.HasPrefix(rel, "cmd/") {
				t.Errorf("%s depends on the transport client %s", rel, d)
			}
			if d == "net/http" && (rel == "replica" || rel == "query/polar" || rel == "query") {
				t.Errorf("%s depends on net/http; only httpapi, ingest, testenv and cmd serve HTTP", rel)
			}
		}
	}
}
