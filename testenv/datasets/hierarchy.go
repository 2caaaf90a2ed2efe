package datasets

import (
	"fmt"
	"strconv"

	"github.com/outpost-authz/outpost/replica"
)

// HierarchyPolicyFilename is the filename tests give HierarchyPolicy.
const HierarchyPolicyFilename = "hierarchy.polar"

// HierarchyPolicy is the policy of the hierarchy data sets: folders in
// folders (every role is inherited from the parent folder by one generic
// longhand rule, the most common recursive shape in ReBAC policies) and
// groups in groups (a member of a group holds the group's roles, and a group
// inside a group is such a member). Folders may have several parents
// (diamonds) and the parent relation may have cycles.
//
// HierarchyReference implements exactly this policy by hand.
const HierarchyPolicy = `# Folders in folders, groups in groups.
actor User {}
actor Group {}

resource Folder {
  roles = ["viewer", "editor", "owner"];
  permissions = ["read", "write", "manage"];
  relations = { parent: Folder };

  "viewer" if "editor";
  "editor" if "owner";

  "read" if "viewer";
  "write" if "editor";
  "manage" if "owner";
}

# Every role on a folder holds on the folders inside it.
has_role(actor: Actor, role: String, folder: Folder) if
  parent matches Folder and
  has_relation(folder, "parent", parent) and
  has_role(actor, role, parent);

# Members of a group hold the group's roles; groups nest.
has_role(actor: Actor, role: String, folder: Folder) if
  group matches Group and
  in_group(actor, group) and
  has_role(group, role, folder);
`

// HierarchyKind is the shape of a hierarchy data set.
type HierarchyKind int

// Hierarchy shapes.
const (
	// Tree: a complete Fanout-way tree of folders Depth levels below the
	// root (1 + Fanout + … + Fanout^Depth folders).
	Tree HierarchyKind = iota
	// Chain: Length folders, each the parent of the next.
	Chain
	// Diamond: Depth+1 layers of Fanout folders; folder j of a layer has
	// two parents, folders j and j+1 (mod Fanout) of the layer above, so
	// the number of paths to the top doubles with every layer.
	Diamond
	// Cycle: Length folders in a ring (each the parent of the previous),
	// the first of which also has the top folder as parent.
	Cycle
	// Groups: a Fanout-way tree of folders Depth levels deep whose root
	// is owned by the outermost of Length nested groups; the user Member
	// belongs to the innermost.
	Groups
)

func (k HierarchyKind) String() string {
	switch k {
	case Tree:
		return "tree"
	case Chain:
		return "chain"
	case Diamond:
		return "diamond"
	case Cycle:
		return "cycle"
	case Groups:
		return "groups"
	}
	return "kind-" + strconv.Itoa(int(k))
}

// Hierarchy chooses a hierarchy data set. Every shape has these actors:
//   - HierarchyOwner owns the top folder (the root, the first folder of the
//     chain, every folder of the diamond's top layer, the cycle's top);
//   - HierarchyOther owns one folder that is not above Leaf (a subtree
//     beside it, or a folder outside the chain, diamond or cycle), so a
//     question about Leaf is denied only after the whole way up is known;
//   - HierarchyMember (Groups) reaches the root through Length nested groups.
type Hierarchy struct {
	Kind   HierarchyKind
	Fanout int // Tree, Diamond (layer width), Groups
	Depth  int // Tree, Diamond, Groups
	Length int // Chain, Cycle: folders; Groups: nesting levels
}

// Actors of the hierarchy data sets.
var (
	HierarchyOwner  = replica.Value{Type: TypeUser, ID: "owner"}
	HierarchyOther  = replica.Value{Type: TypeUser, ID: "other"}
	HierarchyMember = replica.Value{Type: TypeUser, ID: "member"}
)

// TypeFolder is the resource type of the hierarchy data sets.
const TypeFolder = "Folder"

// Validate reports whether the shape can be generated.
func (h Hierarchy) Validate() error {
	switch h.Kind {
	case Tree, Groups:
		if h.Fanout < 2 || h.Depth < 1 || h.Depth > 12 {
			return fmt.Errorf("hierarchy %s: needs Fanout >= 2 and Depth in 1..12", h.Kind)
		}
		if h.Kind == Groups && h.Length < 1 {
			return fmt.Errorf("hierarchy groups: needs Length >= 1")
		}
	case Diamond:
		if h.Fanout < 2 || h.Depth < 1 {
			return fmt.Errorf("hierarchy diamond: needs Fanout >= 2 and Depth >= 1")
		}
	case Chain, Cycle:
		if h.Length < 2 {
			return fmt.Errorf("hierarchy %s: needs Length >= 2", h.Kind)
		}
	default:
		return fmt.Errorf("hierarchy: unknown kind %d", h.Kind)
	}
	return nil
}

// Folders is the number of folders of the shape.
func (h Hierarchy) Folders() int64 {
	switch h.Kind {
	case Tree, Groups:
		n, p := int64(0), int64(1)
		for d := 0; d <= h.Depth; d++ {
			n += p
			p *= int64(h.Fanout)
		}
		return n
	case Diamond:
		return int64(h.Fanout) * int64(h.Depth+1)
	case Chain:
		return int64(h.Length) + 1 // and the folder Other owns
	case Cycle:
		return int64(h.Length) + 2 // the top and Other's folder
	}
	return 0
}

func folder(id string) replica.Value { return replica.Value{Type: TypeFolder, ID: id} }

func num(prefix string, i int64) string { return prefix + strconv.FormatInt(i, 10) }

// Leaf is the folder farthest from the top: the last folder of the tree's
// deepest level, the end of the chain, the last folder of the diamond's
// bottom layer, the ring folder farthest from its entry.
func (h Hierarchy) Leaf() replica.Value {
	switch h.Kind {
	case Tree, Groups:
		return folder(num("f", h.Folders()-1))
	case Chain:
		return folder(num("c", int64(h.Length-1)))
	case Diamond:
		return folder(fmt.Sprintf("d%d-%d", h.Depth, h.Fanout-1))
	case Cycle:
		return folder(num("r", int64(h.Length/2)))
	}
	return replica.Value{}
}

// Generate emits every fact of the shape.
func (h Hierarchy) Generate(emit func(replica.Fact) error) error {
	if err := h.Validate(); err != nil {
		return err
	}
	parent := func(child, p string) error {
		return emit(replica.Fact{Predicate: predHasRelation, Args: []replica.Value{folder(child), str("parent"), folder(p)}})
	}
	role := func(actor replica.Value, r, f string) error {
		return emit(replica.Fact{Predicate: predHasRole, Args: []replica.Value{actor, str(r), folder(f)}})
	}
	switch h.Kind {
	case Tree, Groups:
		n := h.Folders()
		for i := int64(1); i < n; i++ {
			if err := parent(num("f", i), num("f", (i-1)/int64(h.Fanout))); err != nil {
				return err
			}
		}
		if err := role(HierarchyOwner, "owner", "f0"); err != nil {
			return err
		}
		// f1 is the first child of the root; Leaf is under the last one
		if err := role(HierarchyOther, "owner", "f1"); err != nil {
			return err
		}
		if h.Kind == Groups {
			group := func(i int) replica.Value { return replica.Value{Type: TypeGroup, ID: num("g", int64(i))} }
			inGroup := func(a, g replica.Value) error {
				return emit(replica.Fact{Predicate: predInGroup, Args: []replica.Value{a, g}})
			}
			if err := inGroup(HierarchyMember, group(0)); err != nil {
				return err
			}
			for i := 1; i < h.Length; i++ {
				if err := inGroup(group(i-1), group(i)); err != nil {
					return err
				}
			}
			if err := role(group(h.Length-1), "viewer", "f0"); err != nil {
				return err
			}
		}
	case Chain:
		for i := int64(1); i < int64(h.Length); i++ {
			if err := parent(num("c", i), num("c", i-1)); err != nil {
				return err
			}
		}
		if err := role(HierarchyOwner, "owner", "c0"); err != nil {
			return err
		}
		if err := role(HierarchyOther, "owner", "outside"); err != nil {
			return err
		}
	case Diamond:
		w := h.Fanout
		for d := 1; d <= h.Depth; d++ {
			for j := 0; j < w; j++ {
				child := fmt.Sprintf("d%d-%d", d, j)
				if err := parent(child, fmt.Sprintf("d%d-%d", d-1, j)); err != nil {
					return err
				}
				if err := parent(child, fmt.Sprintf("d%d-%d", d-1, (j+1)%w)); err != nil {
					return err
				}
			}
		}
		for j := 0; j < w; j++ {
			if err := role(HierarchyOwner, "owner", fmt.Sprintf("d0-%d", j)); err != nil {
				return err
			}
		}
		if err := role(HierarchyOther, "owner", "outside"); err != nil {
			return err
		}
	case Cycle:
		n := int64(h.Length)
		for i := int64(0); i < n; i++ {
			if err := parent(num("r", i), num("r", (i+1)%n)); err != nil {
				return err
			}
		}
		if err := parent("r0", "top"); err != nil {
			return err
		}
		if err := role(HierarchyOwner, "owner", "top"); err != nil {
			return err
		}
		if err := role(HierarchyOther, "owner", "outside"); err != nil {
			return err
		}
	}
	return nil
}

// Questions returns authorize questions about the shape: Leaf and a few
// other folders, for every actor and action.
func (h Hierarchy) Questions() []Query {
	folders := []replica.Value{h.Leaf()}
	switch h.Kind {
	case Tree, Groups:
		n := h.Folders()
		folders = append(folders, folder("f0"), folder("f1"), folder(num("f", n/2)), folder(num("f", n/3)))
	case Chain:
		folders = append(folders, folder("c0"), folder(num("c", int64(h.Length/2))), folder("outside"))
	case Diamond:
		folders = append(folders, folder("d0-0"), folder(fmt.Sprintf("d%d-0", h.Depth/2)), folder("outside"))
	case Cycle:
		folders = append(folders, folder("top"), folder("r0"), folder("outside"))
	}
	var qs []Query
	for _, a := range []replica.Value{HierarchyOwner, HierarchyOther, HierarchyMember} {
		for _, f := range folders {
			for _, act := range []string{"read", "write", "manage"} {
				qs = append(qs, Query{Actor: a, Action: act, Resource: f})
			}
		}
	}
	return qs
}
