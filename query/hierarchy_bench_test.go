package query

import (
	"fmt"
	"testing"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// Hierarchy shapes of issue #15: a 10-way tree of 1.1M folders, six
// levels deep; chains; ten nested groups.
var (
	benchTree   = datasets.Hierarchy{Kind: datasets.Tree, Fanout: 10, Depth: 6}
	benchGroups = datasets.Hierarchy{Kind: datasets.Groups, Fanout: 10, Depth: 3, Length: 10}
)

func benchCheck(b *testing.B, h datasets.Hierarchy, actor replica.Value, resource replica.Value, want bool) {
	e := newEngine(b, hierarchy(b, h), Config{CacheMaxBytes: -1})
	c := Check{Actor: actor, Action: "read", Resource: resource}
	if ok, _, err := e.Authorize(c); err != nil || ok != want {
		b.Fatalf("authorize %v read %v = %v, %v; want %v", actor, resource, ok, err, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Authorize(c)
	}
}

// BenchmarkTreeLeaf: read on a leaf of the 1.1M-folder tree, granted at
// the root (allowed) or beside the leaf's subtree (denied), and at depths
// 1 to 6 to show the cost is linear in the depth.
func BenchmarkTreeLeaf(b *testing.B) {
	b.Run("allowed", func(b *testing.B) { benchCheck(b, benchTree, datasets.HierarchyOwner, benchTree.Leaf(), true) })
	b.Run("denied", func(b *testing.B) { benchCheck(b, benchTree, datasets.HierarchyOther, benchTree.Leaf(), false) })
	// the last folder of each level is depth levels below the root
	last := int64(0)
	width := int64(1)
	for d := 1; d <= benchTree.Depth; d++ {
		width *= int64(benchTree.Fanout)
		last += width
		f := replica.Value{Type: datasets.TypeFolder, ID: fmt.Sprint("f", last)}
		b.Run(fmt.Sprintf("depth-%d", d), func(b *testing.B) { benchCheck(b, benchTree, datasets.HierarchyOwner, f, true) })
	}
}

// BenchmarkChain: read at the end of a chain of n folders granted at its
// top (allowed) or outside it (denied).
func BenchmarkChain(b *testing.B) {
	for _, n := range []int{2_000, 8_000, 44_000} {
		h := datasets.Hierarchy{Kind: datasets.Chain, Length: n}
		b.Run(fmt.Sprintf("%d/allowed", n), func(b *testing.B) { benchCheck(b, h, datasets.HierarchyOwner, h.Leaf(), true) })
		b.Run(fmt.Sprintf("%d/denied", n), func(b *testing.B) { benchCheck(b, h, datasets.HierarchyOther, h.Leaf(), false) })
	}
}

// BenchmarkNestedGroups: a member of the innermost of ten nested groups
// reads a leaf three levels below the folder the outermost group views.
func BenchmarkNestedGroups(b *testing.B) {
	benchCheck(b, benchGroups, datasets.HierarchyMember, benchGroups.Leaf(), true)
}

// BenchmarkTreeList lists the folders a user may read in the 1.1M tree:
// Other reaches the 111,111 folders below f1.
func BenchmarkTreeList(b *testing.B) {
	e := newEngine(b, hierarchy(b, benchTree), Config{CacheMaxBytes: -1})
	ids, _, _, err := e.List(datasets.HierarchyOther, "read", datasets.TypeFolder, nil)
	if err != nil || len(ids) != 111_111 {
		b.Fatalf("list = %d ids, %v; want 111111", len(ids), err)
	}
	b.ReportMetric(float64(len(ids)), "ids")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.List(datasets.HierarchyOther, "read", datasets.TypeFolder, nil)
	}
}
