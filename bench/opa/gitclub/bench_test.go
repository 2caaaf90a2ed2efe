package gitclub

import (
	"testing"

	"github.com/outpost-authz/outpost/testenv/datasets"
)

// BenchmarkAuthorize times single questions at 10k facts; cmd/opabench
// measures the real sizes.
func BenchmarkAuthorize(b *testing.B) {
	for _, mode := range []StoreMode{StoreRaw, StoreAST} {
		e, _, shape := load(b, mode)
		for _, c := range []struct {
			name string
			q    datasets.Query
		}{
			{"inherit", shape.Inherit},
			{"direct", shape.Direct},
			{"denied", shape.Denied},
		} {
			b.Run(string(mode)+"/"+c.name, func(b *testing.B) {
				in := Input(c.q)
				for b.Loop() {
					if _, err := e.Authorize(b.Context(), in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
