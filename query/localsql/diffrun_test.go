package localsql

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/testenv/pgtest"
)

const fixedNow = 1_800_000_000

var (
	actorRe    = regexp.MustCompile(`(?m)^\s*actor\s+(\w+)`)
	resourceRe = regexp.MustCompile(`(?m)^\s*resource\s+(\w+)`)
)

type tally struct {
	authorize, list, actions, selects, filters, unsupported int
	reasons                                                 map[string]int
}

// TestDifferential: for random splits of the conformance policies' and
// gitclub's facts between stored facts, context facts and database tables,
// the SQL's answer on PostgreSQL equals the engine's answer with every
// fact stored.
func TestDifferential(t *testing.T) {
	srv := pgtest.Shared(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// a slow query fails the question instead of hanging the test
	if _, err := conn.Exec(ctx, "SET statement_timeout = '30s'"); err != nil {
		t.Fatal(err)
	}
	r := &runner{t: t, conn: conn}
	seeds := 6
	tl := &tally{reasons: map[string]int{}}
	for name, c := range corpus(t) {
		for seed := int64(0); seed < int64(seeds); seed++ {
			sc := makeScenario(t, name, c.src, c.facts, seed*7919+int64(len(name)))
			if sc == nil {
				continue
			}
			sc.name = fmt.Sprintf("%s/seed%d", name, seed)
			runScenario(t, r, sc, c.src, rand.New(rand.NewSource(seed)), tl)
		}
	}
	total := tl.authorize + tl.list + tl.actions + tl.selects + tl.filters
	t.Logf("questions compared: authorize %d, list %d, actions %d, select %d, filter %d; refused (400) %d",
		tl.authorize, tl.list, tl.actions, tl.selects, tl.filters, tl.unsupported)
	for k, n := range tl.reasons {
		t.Logf("refused %d× : %s", n, k)
	}
	if total < 2000 {
		t.Errorf("only %d questions compared; want thousands", total)
	}
	if tl.unsupported*4 > total {
		t.Errorf("%d questions refused against %d answered", tl.unsupported, total)
	}
}

func runScenario(t *testing.T, r *runner, sc *scenario, src string, rng *rand.Rand, tl *tally) {
	t.Helper()
	ctx := context.Background()
	schema := "s_" + strings.NewReplacer("/", "_", ".", "_").Replace(sc.name)
	exec := func(sql string) {
		if _, err := r.conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %s: %v", sc.name, sql, err)
		}
	}
	exec(`DROP SCHEMA IF EXISTS "` + schema + `" CASCADE`)
	exec(`CREATE SCHEMA "` + schema + `"`)
	exec(`SET search_path TO "` + schema + `"`)
	defer exec(`SET search_path TO public`)
	defer exec(`DROP SCHEMA "` + schema + `" CASCADE`)
	exec(strings.Join(sc.ddl, ";\n"))

	b, err := ParseBindings(sc.bindings)
	if err != nil {
		t.Fatalf("%s: bindings: %v\n%s", sc.name, err, sc.bindings)
	}
	split := sc.split.Acquire()
	defer split.Release()
	full := sc.full.Acquire()
	defer full.Release()
	ref := policyOf(t, full)
	req := Request{Policy: sc.policy, DB: split, Bindings: b, Context: sc.context, Now: fixedNow}
	qo := &polar.QueryOptions{Context: sc.context, Now: func() int64 { return fixedNow }}

	var actorTypes, resTypes []string
	for _, m := range actorRe.FindAllStringSubmatch(src, -1) {
		actorTypes = append(actorTypes, m[1])
	}
	for _, m := range resourceRe.FindAllStringSubmatch(src, -1) {
		resTypes = append(resTypes, m[1])
	}
	actionSet := map[string]bool{"read": true}
	for _, md := range sc.policy.Metadata() {
		for _, p := range md.Permissions {
			actionSet[p] = true
		}
	}
	actions := sortedKeys(actionSet)
	pick := func(types []string) (polar.Value, bool) {
		var cands []polar.Value
		for _, ty := range types {
			for _, id := range sc.values[ty] {
				cands = append(cands, polar.Value{Type: ty, ID: id})
			}
		}
		if len(cands) == 0 {
			if len(types) == 0 {
				return polar.Value{}, false
			}
			return polar.Value{Type: types[rng.Intn(len(types))], ID: "ghost"}, true
		}
		return cands[rng.Intn(len(cands))], true
	}
	refused := func(what string, err error) bool {
		if err == nil {
			return false
		}
		if !errors.Is(err, ErrBadRequest) {
			t.Fatalf("%s: %s: not a bad-request error: %v", sc.name, what, err)
		}
		msg := err.Error()
		if i := strings.Index(msg, "rule "); i >= 0 {
			msg = msg[i:]
		}
		if len(msg) > 400 {
			msg = msg[:400]
		}
		tl.unsupported++
		tl.reasons[msg]++
		return true
	}
	fail := func(what, sql string, got, want any) {
		t.Errorf("%s: %s\nSQL: %s\ngot  %v\nwant %v\nbindings:\n%s\ncontext: %v", sc.name, what, sql, got, want, sc.bindings, sc.context)
	}
	// authorize
	for i := 0; i < 60; i++ {
		actor, ok1 := pick(actorTypes)
		res, ok2 := pick(resTypes)
		if !ok1 || !ok2 {
			break
		}
		action := actions[rng.Intn(len(actions))]
		want, err := ref.Authorize(full, actor, action, res, qo)
		if err != nil {
			continue
		}
		what := fmt.Sprintf("authorize(%v, %q, %v)", actor, action, res)
		sql, err := Authorize(req, actor, action, res)
		if refused(what, err) {
			continue
		}
		rows, err := r.rows(sql)
		if err != nil || len(rows) != 1 || len(rows[0]) != 1 {
			fail(what, sql, fmt.Sprint(rows, err), want)
			continue
		}
		if rows[0][0] != fmt.Sprint(want) {
			fail(what, sql, rows[0][0], want)
		}
		tl.authorize++
	}
	// list, over a table of candidate ids per resource type
	for _, ty := range resTypes {
		tbl := `"cand ` + ty + `"`
		exec(`CREATE TABLE ` + tbl + ` (id text)`)
		ids := append(slices.Clone(sc.values[ty]), "ghost")
		for _, id := range ids {
			exec(`INSERT INTO ` + tbl + ` VALUES (` + quote(id) + `)`)
		}
		for i := 0; i < 12; i++ {
			actor, ok := pick(actorTypes)
			if !ok {
				break
			}
			action := actions[rng.Intn(len(actions))]
			got, all, err := ref.List(full, actor, action, ty, qo)
			if err != nil {
				continue
			}
			var want []string
			for _, id := range ids {
				if all || slices.Contains(got, id) {
					want = append(want, id)
				}
			}
			what := fmt.Sprintf("list(%v, %q, %s)", actor, action, ty)
			col := []string{"id", "c.id", `"c"."id"`}[rng.Intn(3)]
			frag, err := List(req, actor, action, ty, col)
			if refused(what, err) {
				continue
			}
			sql := "SELECT id FROM " + tbl + " AS c WHERE " + frag + " AND true ORDER BY id"
			rows, err := r.rows(sql)
			if err != nil {
				fail(what, sql, err, want)
				continue
			}
			var gotIDs []string
			for _, row := range rows {
				gotIDs = append(gotIDs, row[0])
			}
			sort.Strings(want)
			sort.Strings(gotIDs)
			if !slices.Equal(gotIDs, want) {
				fail(what, sql, gotIDs, want)
			}
			tl.list++
		}
	}
	// actions
	for i := 0; i < 25; i++ {
		actor, ok1 := pick(actorTypes)
		res, ok2 := pick(resTypes)
		if !ok1 || !ok2 {
			break
		}
		want, _, err := ref.Actions(full, actor, res, qo)
		if err != nil {
			continue
		}
		what := fmt.Sprintf("actions(%v, %v)", actor, res)
		sql, err := Actions(req, actor, res)
		if refused(what, err) {
			continue
		}
		rows, err := r.rows("SELECT actions FROM (" + sql + ") AS x ORDER BY 1")
		if err != nil {
			fail(what, sql, err, want)
			continue
		}
		got := []string{}
		for _, row := range rows {
			got = append(got, row[0])
		}
		if want == nil {
			want = []string{}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			fail(what, sql, got, want)
		}
		tl.actions++
	}
	// evaluate_query_local: allow(a, act, r) with the actor and action fixed
	for i := 0; i < 12; i++ {
		actor, ok1 := pick(actorTypes)
		if !ok1 || len(resTypes) == 0 {
			break
		}
		ty := resTypes[rng.Intn(len(resTypes))]
		action := actions[rng.Intn(len(actions))]
		q := Query{
			Calls: []polar.QueryCall{{Predicate: "allow", Args: []string{"a", "x", "r"}}},
			Vars: map[string]polar.VarConstraint{
				"a": {Type: actor.Type, IDs: []string{actor.ID}},
				"x": {Type: polar.TypeString, IDs: []string{action}},
				"r": {Type: ty},
			},
		}
		refRows, err := ref.EvaluateQuery(full, q.Calls, q.Vars, qo)
		if err != nil {
			continue
		}
		want := []string{}
		for _, row := range refRows {
			if v := row["r"]; v != nil {
				want = append(want, *v)
			} else {
				want = append(want, "<nil>")
			}
		}
		sort.Strings(want)
		want = slices.Compact(want)
		what := fmt.Sprintf("select(%v, %q, %s)", actor, action, ty)
		sql, err := Select(req, q, map[string]string{"r": "Resource Id", "a": "actor"})
		if refused(what, err) {
			continue
		}
		rows, err := r.rows(`SELECT "Resource Id" FROM (` + sql + `) AS s`)
		if err != nil {
			fail(what, sql, err, want)
			continue
		}
		got := []string{}
		for _, row := range rows {
			got = append(got, row[0])
		}
		sort.Strings(got)
		if len(slices.Compact(slices.Clone(got))) != len(got) {
			fail(what+" (duplicate rows)", sql, got, want)
		}
		if !slices.Equal(got, want) {
			fail(what, sql, got, want)
		}
		tl.selects++
		// select with no columns: one boolean
		sql, err = Select(req, q, nil)
		if refused(what, err) {
			continue
		}
		rows, err = r.rows(sql)
		if err != nil || len(rows) != 1 || rows[0][0] != fmt.Sprint(len(want) > 0) {
			fail(what+" (result)", sql, fmt.Sprint(rows, err), len(want) > 0)
		}
		tl.selects++
		// filter mode over the candidate table
		frag, err := Filter(req, q, "r", "c.id")
		if refused(what, err) {
			continue
		}
		sql = `SELECT id FROM "cand ` + ty + `" c WHERE ` + frag + ` ORDER BY id`
		rows, err = r.rows(sql)
		if err != nil {
			fail(what+" (filter)", sql, err, want)
			continue
		}
		var fwant []string
		for _, id := range append(slices.Clone(sc.values[ty]), "ghost") {
			if slices.Contains(want, id) || slices.Contains(want, "<nil>") {
				fwant = append(fwant, id)
			}
		}
		got = got[:0]
		for _, row := range rows {
			got = append(got, row[0])
		}
		sort.Strings(got)
		sort.Strings(fwant)
		if !slices.Equal(got, fwant) {
			fail(what+" (filter)", sql, got, fwant)
		}
		tl.filters++
	}
}
