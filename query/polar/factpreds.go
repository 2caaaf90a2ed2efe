package polar

import (
	"sort"
	"strconv"
	"strings"
)

// FactPredicate is a predicate name and arity.
type FactPredicate struct {
	Name  string
	Arity int
}

// FactPredicates returns the predicates (with their arities) whose stored
// facts the policy can read: the fact signatures it declares or admits
// (the ones CheckFact accepts), sorted by name then arity. A node that
// builds its state from Oso's GET /api/facts asks for each of them.
func (p *Policy) FactPredicates() []FactPredicate {
	out := make([]FactPredicate, 0, len(p.sigs))
	for key := range p.sigs {
		i := strings.LastIndexByte(key, '/')
		if i < 0 {
			continue
		}
		n, err := strconv.Atoi(key[i+1:])
		if err != nil {
			continue
		}
		out = append(out, FactPredicate{Name: key[:i], Arity: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Arity < out[j].Arity
	})
	return out
}
