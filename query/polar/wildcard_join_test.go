package polar

import "testing"

// TestWildcardAnswerJoinsEveryRow: a call that answers with a typed
// wildcard ("root is admin on any Organization", through a global role)
// joined with stored facts must keep every row. The scan narrowed the
// wildcard to the first row's value and never put it back, so list-style
// questions found only the first document (authorize, asking one at a
// time, was right).
func TestWildcardAnswerJoinsEveryRow(t *testing.T) {
	src := `actor User {}
global { roles = ["admin"]; }
resource Organization {
  roles = ["admin"];
  "admin" if global "admin";
}
resource Doc {
  permissions = ["read"];
  relations = { parent: Organization };
  "read" if "admin" on "parent";
}
sup(u: User, _: Organization) if superadmin(u);
docs_of(u: User, d: Doc) if sup(u, org) and has_relation(d, "parent", org);
test "every row of a join with a wildcard answer" {
  setup {
    has_role(User{"root"}, "admin");
    superadmin(User{"root"});
    has_relation(Doc{"d1"}, "parent", Organization{"o1"});
    has_relation(Doc{"d2"}, "parent", Organization{"o2"});
    has_relation(Doc{"d3"}, "parent", Organization{"o1"});
  }
  assert allow(User{"root"}, "read", doc) iff doc in [Doc{"d1"}, Doc{"d2"}, Doc{"d3"}];
  assert docs_of(User{"root"}, doc) iff doc in [Doc{"d1"}, Doc{"d2"}, Doc{"d3"}];
  assert_not allow(User{"nobody"}, "read", Doc{"d1"});
}`
	f, err := Parse("wildcard.polar", src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile([]*File{f}, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.RunTests(nil) {
		if !r.OK() {
			t.Errorf("%s: %+v", r.Name, r.Failures)
		}
	}
	db := newMemDB()
	for _, fact := range []Fact{
		{"has_role", []Value{{"User", "root"}, {TypeString, "admin"}}},
		{"has_relation", []Value{{"Doc", "d1"}, {TypeString, "parent"}, {"Organization", "o1"}}},
		{"has_relation", []Value{{"Doc", "d2"}, {TypeString, "parent"}, {"Organization", "o2"}}},
	} {
		db.add(fact)
	}
	ids, all, err := p.List(db, Value{"User", "root"}, "read", "Doc", nil)
	if err != nil || all || len(ids) != 2 {
		t.Errorf("List = %v (all %v, err %v), want d1 and d2", ids, all, err)
	}
}
