package localsql

import (
	"slices"
	"testing"

	"github.com/outpost-authz/outpost/query/polar"
)

// TestBoundSignaturesOnly: binding one signature of a predicate takes only
// that signature's facts to the database. Stored facts of the predicate's
// other signatures still hold (Oso's own sample apps bind
// has_relation(Document, "folder", Folder) and keep Folder → Team
// relations in Oso Cloud); a stored fact that fits the bound signature is
// ignored, the database being its source.
func TestBoundSignaturesOnly(t *testing.T) {
	const src = `actor User {}
resource Team { roles = ["member"]; }
resource Folder {
  roles = ["reader"];
  relations = { team: Team };
  "reader" if "member" on "team";
}
resource Document {
  permissions = ["read"];
  relations = { folder: Folder };
  "read" if "reader" on "folder";
}
`
	b, err := ParseBindings(`facts:
  has_relation(Document:_, String:folder, Folder:_):
    query: SELECT id, folder_id FROM sig_documents
`)
	if err != nil {
		t.Fatal(err)
	}
	st := loadState(t, src, []polar.Fact{
		fact("has_role", val("User", "ann"), val("String", "member"), val("Team", "t1")),
		fact("has_relation", val("Folder", "f1"), val("String", "team"), val("Team", "t1")),
		fact("has_relation", val("Folder", "f2"), val("String", "team"), val("Team", "t2")),
		// fits the bound signature: the database, not this, says where x is
		fact("has_relation", val("Document", "x"), val("String", "folder"), val("Folder", "f1")),
	})
	v := st.Acquire()
	defer v.Release()
	sql, err := List(Request{Policy: policyOf(t, v), DB: v, Bindings: b}, val("User", "ann"), "read", "Document", "sig_documents.id")
	if err != nil {
		t.Fatalf("list: %v", err)
	}

	got := pgIDs(t, "sig_documents", `CREATE TABLE sig_documents (id text PRIMARY KEY, folder_id text)`,
		`INSERT INTO sig_documents VALUES ('a','f1'), ('b','f2'), ('c','f1'), ('x','f2')`, sql)
	if want := []string{"a", "c"}; !slices.Equal(got, want) {
		t.Errorf("documents ann reads %v, want %v\nSQL: %s", got, want, sql)
	}
}
