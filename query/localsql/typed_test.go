package localsql

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/testenv/datasets"
	"github.com/outpost-authz/outpost/testenv/pgtest"
)

// TestTypedColumns: gitclub with integer, bigint, UUID and text id columns
// and sql_types, stored ids that no such column can hold ("007", "abc",
// an upper-case UUID, an out-of-range number), bindings with joins and
// casts. The SQL must run without error and agree with the engine.
func TestTypedColumns(t *testing.T) {
	srv := pgtest.Shared(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`DROP SCHEMA IF EXISTS typed CASCADE`)
	exec(`CREATE SCHEMA typed`)
	exec(`SET search_path TO typed`)
	defer exec(`DROP SCHEMA typed CASCADE`)
	defer exec(`SET search_path TO public`)
	exec(`CREATE TABLE repos (id integer PRIMARY KEY, org_id bigint, public boolean)`)
	exec(`CREATE TABLE "Issues" ("Id" text, repo_id integer)`)
	exec(`CREATE TABLE memberships (user_id uuid, group_id varchar(40))`)

	rng := rand.New(rand.NewSource(5))
	uuid := func(i int) string { return fmt.Sprintf("a0eebc99-9c0b-4ef8-bb6d-%012x", i) }
	var stored, all, ctxFacts []polar.Fact
	var users, orgs, repos, issues []string
	for i := 0; i < 12; i++ {
		users = append(users, uuid(i))
	}
	users = append(users, "not-a-uuid", strings.ToUpper(uuid(1)))
	for i := 0; i < 5; i++ {
		orgs = append(orgs, strconv.Itoa(5_000_000_000+i)) // beyond int32: bigint
	}
	orgs = append(orgs, "007", "abc", "99999999999999999999")
	for i := 1; i <= 25; i++ {
		repos = append(repos, strconv.Itoa(i))
		org := orgs[rng.Intn(5)]
		pub := rng.Intn(5) == 0
		exec(fmt.Sprintf(`INSERT INTO repos VALUES (%d, %s, %v)`, i, org, pub))
		all = append(all, fact("has_relation", val("Repository", strconv.Itoa(i)), val("String", "organization"), val("Organization", org)))
		if pub {
			all = append(all, fact("is_public", val("Repository", strconv.Itoa(i))))
		}
	}
	repos = append(repos, "007", "x'y")
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("issue %d's", i)
		repo := 1 + rng.Intn(25)
		exec(fmt.Sprintf(`INSERT INTO "Issues" VALUES (%s, %d)`, quote(id), repo))
		all = append(all, fact("has_relation", val("Issue", id), val("String", "repository"), val("Repository", strconv.Itoa(repo))))
		issues = append(issues, id)
	}
	roles := []string{"reader", "writer", "maintainer", "admin"}
	groups := []string{"g1", "g'2", `g\3`}
	for i := 0; i < 40; i++ {
		u, role, repo := users[rng.Intn(len(users))], roles[rng.Intn(4)], strconv.Itoa(1+rng.Intn(25))
		stored = append(stored, fact("has_role", val("User", u), val("String", role), val("Repository", repo)))
	}
	for i := 0; i < 8; i++ {
		stored = append(stored, fact("has_role", val("Group", groups[rng.Intn(3)]), val("String", roles[rng.Intn(4)]), val("Repository", strconv.Itoa(1+rng.Intn(25)))))
	}
	for i := 0; i < 10; i++ {
		u, g := uuid(rng.Intn(12)), groups[rng.Intn(3)]
		exec(fmt.Sprintf(`INSERT INTO memberships VALUES ('%s', %s)`, u, quote(g)))
		all = append(all, fact("in_group", val("User", u), val("Group", g)))
	}
	for i := 0; i < 15; i++ {
		f := fact("has_role", val("User", users[rng.Intn(len(users))]), val("String", []string{"member", "admin"}[rng.Intn(2)]), val("Organization", orgs[rng.Intn(len(orgs))]))
		if i%3 == 0 {
			ctxFacts = append(ctxFacts, f)
		} else {
			stored = append(stored, f)
		}
	}
	// stored roles with ids no integer column holds
	stored = append(stored, fact("has_role", val("User", users[0]), val("String", "reader"), val("Repository", "007")),
		fact("has_role", val("User", users[1]), val("String", "admin"), val("Repository", "x'y")))
	all = append(all, stored...)
	bindings := `facts:
  has_relation(Repository:_, String:organization, Organization:_):
    query: SELECT id, org_id FROM repos
  has_relation(Issue:_, String:repository, Repository:_):
    query: |-
      SELECT i."Id", r.id
      FROM "Issues" i JOIN repos r ON r.id = i.repo_id
  is_public(Repository:_):
    query: select id from repos where public
  in_group(User:_, Group:_):
    query: SELECT user_id, group_id::text FROM memberships
sql_types:
  Repository: integer
  Organization: bigint
  User: UUID
  Issue: text
  Group: VARCHAR(40)
`
	b, err := ParseBindings(bindings)
	if err != nil {
		t.Fatal(err)
	}
	stored, all = dedupeFacts(stored), dedupeFacts(all)
	split := loadState(t, datasets.GitclubPolicy, stored).Acquire()
	defer split.Release()
	full := loadState(t, datasets.GitclubPolicy, all).Acquire()
	defer full.Release()
	ref := policyOf(t, full)
	req := Request{Policy: policyOf(t, split), DB: split, Bindings: b, Context: ctxFacts}
	qo := &polar.QueryOptions{Context: ctxFacts}
	compared := 0
	for ui, u := range users {
		if ui%2 == 1 && ui < len(users)-2 {
			continue // half the users; always the malformed ones
		}
		for _, act := range []string{"read", "push"} {
			for _, r := range repos {
				want, err := ref.Authorize(full, val("User", u), act, val("Repository", r), qo)
				if err != nil {
					t.Fatal(err)
				}
				sql, err := Authorize(req, val("User", u), act, val("Repository", r))
				if err != nil {
					t.Fatal(err)
				}
				var got bool
				if err := conn.QueryRow(ctx, "SELECT allowed FROM ("+sql+") AS x", pgx.QueryExecModeSimpleProtocol).Scan(&got); err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
				if got != want {
					t.Errorf("authorize(%s, %s, %s): SQL %v, engine %v\n%s", u, act, r, got, want, sql)
				}
				compared++
			}
			for _, c := range []struct{ typ, table, col string }{{"Repository", "repos", "repos.id"}, {"Issue", `"Issues"`, `"Issues"."Id"`}} {
				ids, allIDs, err := ref.List(full, val("User", u), act, c.typ, qo)
				if err != nil {
					t.Fatal(err)
				}
				frag, err := List(req, val("User", u), act, c.typ, c.col)
				if err != nil {
					t.Fatal(err)
				}
				rows, err := conn.Query(ctx, "SELECT "+c.col+"::text FROM "+c.table+" WHERE "+frag, pgx.QueryExecModeSimpleProtocol)
				if err != nil {
					t.Fatalf("%s: %v", frag, err)
				}
				got, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					t.Fatalf("%s: %v", frag, err)
				}
				var want []string
				universe := repos
				if c.typ == "Issue" {
					universe = issues
				}
				for _, id := range universe {
					if (allIDs || slices.Contains(ids, id)) && (c.typ == "Issue" || canonicalFor(id, "int32")) {
						want = append(want, id)
					}
				}
				sort.Strings(got)
				sort.Strings(want)
				if !slices.Equal(got, want) {
					t.Errorf("list(%s, %s, %s): SQL %v, engine %v\n%s", u, act, c.typ, got, want, frag)
				}
				compared++
			}
		}
		// select mode returns typed values
		q := Query{Calls: []polar.QueryCall{{Predicate: "allow", Args: []string{"u", "a", "r"}}},
			Vars: map[string]polar.VarConstraint{"u": {Type: "User", IDs: []string{u}}, "a": {Type: "String", IDs: []string{"read"}}, "r": {Type: "Repository"}}}
		sql, err := Select(req, q, map[string]string{"r": "repo"})
		if err != nil {
			if !strings.Contains(err.Error(), "cannot be written as the sql_types type integer") {
				t.Errorf("select for %s: %v", u, err)
			}
			continue
		}
		if _, err := conn.Exec(ctx, "SELECT repo + 1 FROM ("+sql+") AS s", pgx.QueryExecModeSimpleProtocol); err != nil && canonicalFor(u, "uuid") {
			t.Errorf("select for %s: %v\n%s", u, err, sql)
		}
	}
	t.Logf("compared %d questions", compared)
}
