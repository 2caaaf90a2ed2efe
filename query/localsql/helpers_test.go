package localsql

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/pgtest"
)

// loadState returns a replica state with the policy and the facts.
func loadState(tb testing.TB, src string, facts []polar.Fact) *replica.State {
	tb.Helper()
	l := replica.NewLoader(replica.Config{Env: "test", Compiler: query.Compile})
	if err := l.SetPolicy(replica.PolicySource{Src: src, Filename: "policy.polar"}); err != nil {
		tb.Fatal(err)
	}
	for _, f := range facts {
		args := make([]uint32, len(f.Args))
		for i, a := range f.Args {
			args[i] = l.AddValue(a.Type, a.ID)
		}
		if err := l.AddFact(f.Predicate, args); err != nil {
			tb.Fatal(err)
		}
	}
	st, err := l.Finish(1)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func policyOf(tb testing.TB, v *replica.View) *polar.Policy {
	tb.Helper()
	_, c := v.Policy()
	p, ok := c.(*polar.Policy)
	if !ok {
		tb.Fatal("no compiled policy")
	}
	return p
}

func val(t, id string) polar.Value { return polar.Value{Type: t, ID: id} }

func fact(pred string, args ...polar.Value) polar.Fact {
	return polar.Fact{Predicate: pred, Args: args}
}

// pgConn connects to the shared test PostgreSQL; the connection closes
// with the test.
func pgConn(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pgtest.Shared(t).DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// pgIDs creates table from create and rows from insert (dropping it when
// the test ends), then returns the ids of `SELECT id FROM table WHERE
// fragment ORDER BY id`.
func pgIDs(t *testing.T, table, create, insert, fragment string) []string {
	t.Helper()
	conn := pgConn(t)
	ctx := t.Context()
	for _, stmt := range []string{`DROP TABLE IF EXISTS ` + table, create, insert} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() { conn.Exec(context.Background(), `DROP TABLE `+table) })
	rows, err := conn.Query(ctx, `SELECT id FROM `+table+` WHERE `+fragment+` ORDER BY id`)
	if err != nil {
		t.Fatalf("%s: %v", fragment, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
