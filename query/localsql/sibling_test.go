package localsql

import (
	"slices"
	"testing"
)

// TestSiblingCallsAreNotRecursion: two calls of the same bound predicate
// in one rule body (is_public(doc) and is_public(other)) are siblings. The
// first one's frame stayed on the recursion stack while the rest of the
// body was translated, so the second looked like its own ancestor and the
// question was refused as recursion. The SQL now runs on PostgreSQL and
// lists exactly the documents whose sibling is public too.
func TestSiblingCallsAreNotRecursion(t *testing.T) {
	const src = `actor User {}
resource Doc {
  permissions = ["read"];
  relations = { sibling: Doc };
}
has_permission(_: User, "read", doc: Doc) if
  other matches Doc and
  has_relation(doc, "sibling", other) and
  is_public(doc) and
  is_public(other);
`
	b, err := ParseBindings(`facts:
  has_relation(Doc:_, String:sibling, Doc:_):
    query: SELECT id, sibling_id FROM sibling_docs WHERE sibling_id IS NOT NULL
  is_public(Doc:_):
    query: SELECT id FROM sibling_docs WHERE public
`)
	if err != nil {
		t.Fatal(err)
	}
	st := loadState(t, src, nil)
	v := st.Acquire()
	defer v.Release()
	sql, err := List(Request{Policy: policyOf(t, v), DB: v, Bindings: b}, val("User", "u"), "read", "Doc", "sibling_docs.id")
	if err != nil {
		t.Fatalf("list: %v", err)
	}

	got := pgIDs(t, "sibling_docs", `CREATE TABLE sibling_docs (id text PRIMARY KEY, sibling_id text, public boolean)`,
		// a↔b both public; c public with private d; e public without a sibling
		`INSERT INTO sibling_docs VALUES ('a','b',true), ('b','a',true), ('c','d',true), ('d','c',false), ('e',NULL,true)`, sql)
	if want := []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("readable documents %v, want %v\nSQL: %s", got, want, sql)
	}
}
