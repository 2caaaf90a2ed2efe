package datasets

import (
	"fmt"
	"slices"

	"github.com/outpost-authz/outpost/replica"
)

// HierarchyReference answers questions for HierarchyPolicy by breadth-first
// search over maps, written for obviousness rather than speed. Load it with
// Add (one goroutine), then call Authorize and List concurrently.
type HierarchyReference struct {
	parents  map[replica.Value][]replica.Value            // folder -> parents
	children map[replica.Value][]replica.Value            // folder -> children
	groups   map[replica.Value][]replica.Value            // actor -> groups it is in
	roles    map[replica.Value]map[replica.Value][]string // actor -> folder -> roles
}

// NewHierarchyReference returns an empty evaluator.
func NewHierarchyReference() *HierarchyReference {
	return &HierarchyReference{
		parents:  map[replica.Value][]replica.Value{},
		children: map[replica.Value][]replica.Value{},
		groups:   map[replica.Value][]replica.Value{},
		roles:    map[replica.Value]map[replica.Value][]string{},
	}
}

// LoadHierarchyReference generates h into a new reference.
func LoadHierarchyReference(h Hierarchy) (*HierarchyReference, error) {
	r := NewHierarchyReference()
	return r, h.Generate(r.Add)
}

// Add adds one fact of a hierarchy data set.
func (r *HierarchyReference) Add(f replica.Fact) error {
	a := f.Args
	switch {
	case f.Predicate == predHasRelation && len(a) == 3 && a[1] == str("parent"):
		r.parents[a[0]] = append(r.parents[a[0]], a[2])
		r.children[a[2]] = append(r.children[a[2]], a[0])
	case f.Predicate == predInGroup && len(a) == 2:
		r.groups[a[0]] = append(r.groups[a[0]], a[1])
	case f.Predicate == predHasRole && len(a) == 3:
		m := r.roles[a[0]]
		if m == nil {
			m = map[replica.Value][]string{}
			r.roles[a[0]] = m
		}
		m[a[2]] = append(m[a[2]], a[1].ID)
	default:
		return fmt.Errorf("hierarchy reference: fact %s has no meaning in the hierarchy policy", f)
	}
	return nil
}

// neededRoles are the roles that grant an action (roles imply the roles
// below them: owner > editor > viewer).
func neededRoles(action string) []string {
	switch action {
	case "read":
		return []string{"viewer", "editor", "owner"}
	case "write":
		return []string{"editor", "owner"}
	case "manage":
		return []string{"owner"}
	}
	return nil
}

// principals is the actor and every group it reaches through in_group.
func (r *HierarchyReference) principals(actor replica.Value) []replica.Value {
	seen := map[replica.Value]bool{actor: true}
	out := []replica.Value{actor}
	for i := 0; i < len(out); i++ {
		for _, g := range r.groups[out[i]] {
			if !seen[g] {
				seen[g] = true
				out = append(out, g)
			}
		}
	}
	return out
}

func (r *HierarchyReference) grants(ps []replica.Value, f replica.Value, need []string) bool {
	for _, p := range ps {
		for _, role := range r.roles[p][f] {
			if slices.Contains(need, role) {
				return true
			}
		}
	}
	return false
}

// Authorize reports whether actor may do action on resource.
func (r *HierarchyReference) Authorize(actor replica.Value, action string, resource replica.Value) bool {
	if resource.Type != TypeFolder {
		return false
	}
	need := neededRoles(action)
	ps := r.principals(actor)
	seen := map[replica.Value]bool{resource: true}
	queue := []replica.Value{resource}
	for i := 0; i < len(queue); i++ {
		f := queue[i]
		if r.grants(ps, f, need) {
			return true
		}
		for _, p := range r.parents[f] {
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return false
}

// List returns the sorted ids of the folders actor may do action on.
func (r *HierarchyReference) List(actor replica.Value, action string) []string {
	need := neededRoles(action)
	seen := map[replica.Value]bool{}
	var queue []replica.Value
	for _, p := range r.principals(actor) {
		for f, roles := range r.roles[p] {
			for _, role := range roles {
				if slices.Contains(need, role) && !seen[f] {
					seen[f] = true
					queue = append(queue, f)
				}
			}
		}
	}
	for i := 0; i < len(queue); i++ {
		for _, c := range r.children[queue[i]] {
			if !seen[c] {
				seen[c] = true
				queue = append(queue, c)
			}
		}
	}
	ids := make([]string, 0, len(queue))
	for _, f := range queue {
		ids = append(ids, f.ID)
	}
	slices.Sort(ids)
	return ids
}
