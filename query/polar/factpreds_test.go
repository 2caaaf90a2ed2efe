package polar

import (
	"reflect"
	"testing"
)

func TestFactPredicates(t *testing.T) {
	src := `actor User {}
resource Org { roles = ["admin"]; permissions = ["read"]; "read" if "admin"; }
resource Repo { permissions = ["read"]; relations = { parent: Org }; "read" if "admin" on "parent"; }
has_permission(_: User, "read", r: Repo) if is_public(r);
declare is_banned(User);
allow(u: User, a: String, r: Resource) if has_permission(u, a, r) and not is_banned(u);
`
	f, err := Parse("p.polar", src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile([]*File{f}, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := p.FactPredicates()
	// Every signature CheckFact accepts, rule heads included (a fact may
	// be stored for a predicate that also has rules).
	want := []FactPredicate{{"allow", 2}, {"allow", 3}, {"has_permission", 2}, {"has_permission", 3},
		{"has_relation", 3}, {"has_role", 3}, {"is_banned", 1}, {"is_public", 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FactPredicates() = %v, want %v", got, want)
	}
}
