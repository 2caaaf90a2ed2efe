package localsql

import (
	"strings"
	"testing"

	"github.com/outpost-authz/outpost/query/polar"
)

// TestMemoRepeatedSubgoal: a memoised sub-goal called twice in one branch
// must join its binding query twice under different aliases (a replay
// would join the same alias twice).
func TestMemoRepeatedSubgoal(t *testing.T) {
	const src = `actor User {}
resource Repo {}
member(u: User, r: Repo) if owner(r, u);
allow(u: User, "read", r: Repo) if member(u, r) and member(u, y) and y matches Repo;
`
	bd, err := ParseBindings("facts:\n  owner(Repo:_, User:_):\n    query: SELECT repo, owner FROM owners\n")
	if err != nil {
		t.Fatal(err)
	}
	st := loadState(t, src, nil)
	v := st.Acquire()
	defer v.Release()
	req := Request{Policy: policyOf(t, v), DB: v, Bindings: bd}
	sql, err := List(req, val("User", "alice"), "read", "Repo", "id")
	if err != nil {
		t.Fatal(err)
	}
	for _, alias := range []string{"AS _o_b0", "AS _o_b1"} {
		if n := strings.Count(sql, alias); n != 1 {
			t.Errorf("%q occurs %d times, want once, in %s", alias, n, sql)
		}
	}
	g, err := newGen(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.top("allow", []term{constant(val("User", "alice")), constant(polar.Value{Type: polar.TypeString, ID: "read"}), {k: kFree, typ: "Repo"}}); err != nil {
		t.Fatal(err)
	}
	if len(g.goals) == 0 {
		t.Errorf("no sub-goal was memoised")
	}
}
