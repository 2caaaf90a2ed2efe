package localsql

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
	"github.com/outpost-authz/outpost/testenv/pgtest"
)

// The gitclub benchmarks: relations and public flags live in PostgreSQL,
// roles and groups in the replica (see docs/performance.md).

const gitclubBenchBindings = `facts:
  has_relation(Repository:_, String:organization, Organization:_):
    query: SELECT repo, org FROM repo_org
  has_relation(Issue:_, String:repository, Repository:_):
    query: SELECT issue, repo FROM issue_repo
  has_relation(Issue:_, String:creator, User:_):
    query: SELECT issue, creator FROM issue_creator
  is_public(Repository:_):
    query: SELECT id FROM public_repos
sql_types:
  Repository: TEXT
  Issue: TEXT
`

type gitclubBench struct {
	shape datasets.Shape
	state *replica.State
	db    map[string][][]any // table → rows
	rows  int
}

var (
	benchMu    sync.Mutex
	benchCache = map[int]*gitclubBench{}
)

// gitclubSplit generates the gitclub data set of n facts and splits it:
// has_relation and is_public facts become table rows, the rest is stored.
func gitclubSplit(b testing.TB, n int) *gitclubBench {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if g, ok := benchCache[n]; ok {
		return g
	}
	cfg := datasets.Config{Facts: n, Seed: 1}
	shape, err := datasets.Describe(cfg)
	if err != nil {
		b.Fatal(err)
	}
	l := replica.NewLoader(replica.Config{Env: "bench", Compiler: compileForBench})
	if err := l.SetPolicy(replica.PolicySource{Src: datasets.GitclubPolicy, Filename: datasets.PolicyFilename}); err != nil {
		b.Fatal(err)
	}
	g := &gitclubBench{shape: shape, db: map[string][][]any{}}
	args := make([]uint32, 0, 8)
	err = datasets.Generate(cfg, func(f replica.Fact) error {
		switch {
		case f.Predicate == "has_relation" && f.Args[1].ID == "organization":
			g.db["repo_org"] = append(g.db["repo_org"], []any{f.Args[0].ID, f.Args[2].ID})
		case f.Predicate == "has_relation" && f.Args[1].ID == "repository":
			g.db["issue_repo"] = append(g.db["issue_repo"], []any{f.Args[0].ID, f.Args[2].ID})
		case f.Predicate == "has_relation" && f.Args[1].ID == "creator":
			g.db["issue_creator"] = append(g.db["issue_creator"], []any{f.Args[0].ID, f.Args[2].ID})
		case f.Predicate == "is_public":
			g.db["public_repos"] = append(g.db["public_repos"], []any{f.Args[0].ID})
		default:
			args = args[:0]
			for _, a := range f.Args {
				args = append(args, l.AddValue(a.Type, a.ID))
			}
			return l.AddFact(f.Predicate, args)
		}
		g.rows++
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if g.state, err = l.Finish(1); err != nil {
		b.Fatal(err)
	}
	benchCache[n] = g
	return g
}

func compileForBench(src replica.PolicySource) (any, error) {
	f, err := polar.Parse(src.Filename, src.Src)
	if err != nil {
		return nil, err
	}
	return polar.Compile([]*polar.File{f}, polar.CompileOptions{})
}

func benchRequest(b testing.TB, g *gitclubBench) (Request, func()) {
	b.Helper()
	bd, err := ParseBindings(gitclubBenchBindings)
	if err != nil {
		b.Fatal(err)
	}
	v := g.state.Acquire()
	return Request{Policy: policyOf(b, v), DB: v, Bindings: bd, Now: time.Now().Unix()}, v.Release
}

// BenchmarkListSQL: producing the gitclub list filter in-process (issues
// and repositories a typical user may read; the repositories of the big
// user, a member of organizations holding 10k repositories).
func BenchmarkListSQL(b *testing.B) {
	g := gitclubSplit(b, 1_000_000)
	req, release := benchRequest(b, g)
	defer release()
	for _, c := range []struct {
		name  string
		actor replica.Value
		typ   string
	}{
		{"issues", g.shape.Inherit.Actor, "Issue"},
		{"repositories", g.shape.Inherit.Actor, "Repository"},
		{"big-user-repositories", g.shape.BigUser, "Repository"},
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu := cpuTime()
			for b.Loop() {
				if _, err := List(req, polar.Value(c.actor), "read", c.typ, "id"); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
	b.Run("authorize-issue", func(b *testing.B) {
		q := g.shape.Inherit
		cpu := cpuTime()
		defer reportCPU(b, cpu)
		for b.Loop() {
			if _, err := Authorize(req, polar.Value(q.Actor), q.Action, polar.Value(q.Resource)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkListOnPostgres: the generated list filters run on PostgreSQL
// over the gitclub tables of a 1M-fact data set (indexes on every join
// column), one query per iteration.
func BenchmarkListOnPostgres(b *testing.B) {
	srv := pgtest.Shared(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.DSN(""))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	g := gitclubSplit(b, 1_000_000)
	exec := func(sql string) {
		if _, err := conn.Exec(ctx, sql); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`DROP SCHEMA IF EXISTS gitclub CASCADE`)
	exec(`CREATE SCHEMA gitclub`)
	exec(`SET search_path TO gitclub`)
	defer exec(`DROP SCHEMA gitclub CASCADE`)
	tables := map[string][]string{
		"repo_org":      {"repo", "org"},
		"issue_repo":    {"issue", "repo"},
		"issue_creator": {"issue", "creator"},
		"public_repos":  {"id"},
	}
	start := time.Now()
	for t, cols := range tables {
		ddl := "CREATE TABLE " + t + " ("
		for i, c := range cols {
			if i > 0 {
				ddl += ", "
			}
			ddl += c + " text NOT NULL"
		}
		exec(ddl + ")")
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{t}, cols, pgx.CopyFromRows(g.db[t])); err != nil {
			b.Fatal(err)
		}
	}
	for _, ix := range []string{
		"ALTER TABLE repo_org ADD PRIMARY KEY (repo)", "CREATE INDEX ON repo_org (org)",
		"ALTER TABLE issue_repo ADD PRIMARY KEY (issue)", "CREATE INDEX ON issue_repo (repo)",
		"CREATE INDEX ON issue_creator (issue)", "CREATE INDEX ON issue_creator (creator)",
		"ALTER TABLE public_repos ADD PRIMARY KEY (id)", "ANALYZE",
	} {
		exec(ix)
	}
	b.Logf("loaded %d rows into PostgreSQL in %v", g.rows, time.Since(start).Round(time.Millisecond))
	req, release := benchRequest(b, g)
	defer release()
	for _, c := range []struct {
		name, typ, table, col string
		actor                 replica.Value
	}{
		{"issues", "Issue", "issue_repo", "issue_repo.issue", g.shape.Inherit.Actor},
		{"repositories", "Repository", "repo_org", "repo_org.repo", g.shape.Inherit.Actor},
		{"big-user-repositories", "Repository", "repo_org", "repo_org.repo", g.shape.BigUser},
	} {
		frag, err := List(req, polar.Value(c.actor), "read", c.typ, c.col)
		if err != nil {
			b.Fatal(err)
		}
		sql := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", c.table, frag)
		b.Run(c.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				if err := conn.QueryRow(ctx, sql, pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil {
					b.Fatalf("%s: %v", sql, err)
				}
			}
			b.ReportMetric(float64(n), "rows")
		})
	}
}

// cpuTime is the process's user+system CPU time: on a loaded machine the
// CPU time per operation says more than the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
