package localsql

import (
	"errors"
	"strings"
	"testing"

	"github.com/outpost-authz/outpost/query/polar"
)

func TestParseBindingsForms(t *testing.T) {
	text := `
# every signature form of spec §3
facts:
  "has_relation(Repository:_, String:organization, Organization:_)":
    query: SELECT id, org_id FROM repositories
  has_role(User:_, String:_, Repository:_):
    query: |-
      SELECT user_id, role, repo_id FROM repo_roles;
    db: primary
  has_role(User:_, "admin", Repository:_):
    query: SELECT user_id, repo_id FROM repo_admins
  has_role(User:_, String:"it's, ok", Organization:_):
    query: SELECT 1, 2
  'is_public( Repository:_ )':
    query: select id from repositories where public ;;
  has_relation(Issue:_, repository, Repository:_):
    query: SELECT id, repo_id FROM issues
  is_enabled(Integer:42):
    query: SELECT 1 WHERE true
sql_types:
  Repository: integer
  User: UUID
  Organization: VARCHAR(50)
dbs:
  primary: {url: "postgres://x"}
`
	b, err := ParseBindings(text)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		key   string
		n     int
		first string // canonical form of the first signature
	}{
		{"has_relation/3", 2, `has_relation(Repository:_,String="organization",Organization:_)`},
		{"has_role/3", 3, `has_role(User:_,String:_,Repository:_)`},
		{"is_public/1", 1, `is_public(Repository:_)`},
		{"is_enabled/1", 1, `is_enabled(Integer="42")`},
	}
	for _, c := range checks {
		sigs := b.Facts[c.key]
		if len(sigs) != c.n {
			t.Fatalf("%s: %d signatures, want %d", c.key, len(sigs), c.n)
		}
		if got := sigs[0].canonical(); got != c.first {
			t.Errorf("%s: %s, want %s", c.key, got, c.first)
		}
	}
	roles := b.Facts["has_role/3"]
	if roles[1].Args[1].Value.ID != "admin" || roles[1].NCols != 2 {
		t.Errorf("bare quoted constant: %+v", roles[1])
	}
	if roles[2].Args[1].Value.ID != "it's, ok" {
		t.Errorf("quoted constant with a comma: %+v", roles[2].Args[1])
	}
	if q := roles[0].Query; q != "SELECT user_id, role, repo_id FROM repo_roles" {
		t.Errorf("query %q: the trailing semicolon must go", q)
	}
	if q := b.Facts["is_public/1"][0].Query; q != "select id from repositories where public" {
		t.Errorf("query %q", q)
	}
	if b.SQLTypes["User"] != "UUID" || b.SQLTypes["Organization"] != "VARCHAR(50)" {
		t.Errorf("sql_types %v", b.SQLTypes)
	}
}

func TestBindingsCache(t *testing.T) {
	var c Cache
	a, err := c.Parse("facts:\n  p(User:_):\n    query: SELECT 1\n")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Parse("facts:\n  p(User:_):\n    query: SELECT 1\n")
	if a != b || c.Len() != 1 {
		t.Errorf("same text parsed twice (%p, %p, %d entries)", a, b, c.Len())
	}
	if _, err := c.Parse("facts: ["); err == nil || c.Len() != 1 {
		t.Errorf("bad text: %v, %d entries", err, c.Len())
	}
	c.Max = 2
	c.Parse("facts:\n  p(User:_):\n    query: SELECT 2\n")
	c.Parse("facts:\n  p(User:_):\n    query: SELECT 3\n")
	if c.Len() > 2 {
		t.Errorf("cache holds %d entries, max 2", c.Len())
	}
	// bounded by bytes too: a text over MaxBytes is not kept
	c = Cache{MaxBytes: 100}
	big := "facts:\n  p(User:_):\n    query: SELECT '" + strings.Repeat("x", 200) + "'\n"
	if _, err := c.Parse(big); err != nil || c.Len() != 0 {
		t.Errorf("big text: %v, %d entries", err, c.Len())
	}
}

func TestQuoteLiterals(t *testing.T) {
	cases := map[string]string{
		"plain":                `'plain'`,
		"O'Brien":              `'O''Brien'`,
		`back\slash`:           `E'back\\slash'`,
		`\'; DROP TABLE x; --`: `E'\\''; DROP TABLE x; --'`,
		"ü日本":                  `'ü日本'`,
		"'":                    `''''`,
	}
	for in, want := range cases {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCanonicalFor(t *testing.T) {
	cases := []struct {
		id, kind string
		ok       bool
	}{
		{"42", "int32", true}, {"-7", "int32", true}, {"007", "int32", false}, {"+1", "int32", false},
		{"abc", "int32", false}, {"2147483648", "int32", false}, {"2147483648", "int64", true},
		{"9223372036854775808", "int64", false}, {"40000", "int16", false},
		{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "uuid", true},
		{"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "uuid", false},
		{"a0eebc999c0b4ef8bb6d6bb9bd380a11", "uuid", false},
		{"anything'", "", true},
	}
	for _, c := range cases {
		if got := canonicalFor(c.id, c.kind); got != c.ok {
			t.Errorf("canonicalFor(%q, %q) = %v", c.id, c.kind, got)
		}
	}
}

// TestRefusals: shapes that cannot be translated exactly answer an error
// naming the rule, never SQL.
func TestRefusals(t *testing.T) {
	src := `actor User {}
resource Folder {
  roles = ["viewer"];
  permissions = ["read"];
  relations = { parent: Folder };
  "read" if "viewer";
  "viewer" if "viewer" on "parent";
}
`
	st := loadState(t, src, []polar.Fact{fact("has_role", val("User", "a"), val("String", "viewer"), val("Folder", "root"))})
	v := st.Acquire()
	defer v.Release()
	b, err := ParseBindings("facts:\n  has_relation(Folder:_, String:parent, Folder:_):\n    query: SELECT id, parent_id FROM folders\n")
	if err != nil {
		t.Fatal(err)
	}
	r := Request{Policy: policyOf(t, v), DB: v, Bindings: b}
	_, err = List(r, val("User", "a"), "read", "Folder", "id")
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), `rule has_role(actor: Actor, "viewer", resource: Folder) if`) ||
		!strings.Contains(err.Error(), "recursion") {
		t.Errorf("list over a database hierarchy: %v", err)
	}
	// the same question with the hierarchy stored is answered
	b2, _ := ParseBindings("facts:\n  has_role(User:_, String:_, Folder:_):\n    query: SELECT user_id, role, folder_id FROM roles\n")
	st2 := loadState(t, src, []polar.Fact{
		fact("has_relation", val("Folder", "sub"), val("String", "parent"), val("Folder", "root")),
		fact("has_relation", val("Folder", "root"), val("String", "parent"), val("Folder", "sub")), // a cycle
	})
	v2 := st2.Acquire()
	defer v2.Release()
	sql, err := List(Request{Policy: policyOf(t, v2), DB: v2, Bindings: b2}, val("User", "a"), "read", "Folder", "id")
	if err != nil || !strings.Contains(sql, "roles") {
		t.Errorf("stored hierarchy, database roles: %q, %v", sql, err)
	}
}
