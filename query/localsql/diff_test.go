package localsql

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
	"github.com/outpost-authz/outpost/testenv/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const conformanceDir = "/work/shared/conformance"

// corpus returns the policies of the differential tests with the facts of
// their test blocks (gitclub: a small generated data set).
func corpus(t *testing.T) map[string]struct {
	src   string
	facts []polar.Fact
} {
	t.Helper()
	out := map[string]struct {
		src   string
		facts []polar.Fact
	}{}
	files, _ := filepath.Glob(filepath.Join(conformanceDir, "*.polar"))
	if len(files) == 0 {
		files, _ = filepath.Glob("../../testdata/conformance/*.polar")
	}
	for _, fn := range files {
		b, err := os.ReadFile(fn)
		if err != nil {
			t.Fatal(err)
		}
		f, err := polar.Parse(filepath.Base(fn), string(b))
		if err != nil {
			t.Logf("%s: not parsed for test facts: %v", fn, err)
			continue
		}
		var facts []polar.Fact
		for _, it := range f.Items {
			var stmts []*polar.FactStmt
			switch it := it.(type) {
			case *polar.Fixture:
				stmts = it.Facts
			case *polar.TestBlock:
				if it.Setup != nil {
					stmts = it.Setup.Facts
				}
			}
			for _, s := range stmts {
				fc := polar.Fact{Predicate: s.Name}
				ok := true
				for _, a := range s.Args {
					v, good := literal(a)
					ok = ok && good
					fc.Args = append(fc.Args, v)
				}
				if ok {
					facts = append(facts, fc)
				}
			}
		}
		out[filepath.Base(fn)] = struct {
			src   string
			facts []polar.Fact
		}{string(b), facts}
	}
	var gf []polar.Fact
	datasets.Generate(datasets.Config{Facts: 400, Seed: 3}, func(f replica.Fact) error {
		pf := polar.Fact{Predicate: f.Predicate}
		for _, a := range f.Args {
			pf.Args = append(pf.Args, polar.Value(a))
		}
		gf = append(gf, pf)
		return nil
	})
	out["gitclub"] = struct {
		src   string
		facts []polar.Fact
	}{datasets.GitclubPolicy, gf}
	return out
}

func literal(t polar.Term) (polar.Value, bool) {
	switch l := t.(type) {
	case *polar.StringLit:
		return polar.Value{Type: polar.TypeString, ID: l.Value}, true
	case *polar.IntLit:
		return polar.Value{Type: polar.TypeInteger, ID: strconv.FormatInt(l.Value, 10)}, true
	case *polar.BoolLit:
		return polar.Value{Type: polar.TypeBoolean, ID: strconv.FormatBool(l.Value)}, true
	case *polar.TypedLit:
		v, ok := literal(l.Lit)
		v.Type = l.Type
		return v, ok
	}
	return polar.Value{}, false
}

var hostile = []string{`'`, `\`, `'; DROP TABLE t0; --`, `ü日本`, ` SELECT`, `"q"`, `\'`, `''`, ` OR 1=1`}

// scenario is one random split of a policy's facts.
type scenario struct {
	name     string
	policy   *polar.Policy
	full     *replica.State // every fact stored: the reference
	split    *replica.State // the stored part only
	context  []polar.Fact
	bindings string
	ddl      []string
	values   map[string][]string // type → ids seen
}

func isBuiltin(t string) bool {
	return t == polar.TypeString || t == polar.TypeInteger || t == polar.TypeBoolean
}

func makeScenario(t *testing.T, name, src string, base []polar.Fact, seed int64) *scenario {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	// hostile renaming of entity ids, consistently
	rename := map[polar.Value]string{}
	mapVal := func(v polar.Value) polar.Value {
		if isBuiltin(v.Type) {
			return v
		}
		if r, ok := rename[v]; ok {
			return polar.Value{Type: v.Type, ID: r}
		}
		id := v.ID
		if rng.Intn(3) == 0 {
			id += hostile[rng.Intn(len(hostile))]
		}
		rename[v] = id
		return polar.Value{Type: v.Type, ID: id}
	}
	var facts []polar.Fact
	values := map[string][]string{}
	seen := map[polar.Value]bool{}
	addVal := func(v polar.Value) {
		if !seen[v] {
			seen[v] = true
			values[v.Type] = append(values[v.Type], v.ID)
		}
	}
	for _, f := range base {
		nf := polar.Fact{Predicate: f.Predicate}
		for _, a := range f.Args {
			a = mapVal(a)
			addVal(a)
			nf.Args = append(nf.Args, a)
		}
		facts = append(facts, nf)
	}
	// random variations: one entity argument replaced by another of its type
	n := len(facts)
	for i := 0; i < n/2; i++ {
		f := facts[rng.Intn(n)]
		nf := polar.Fact{Predicate: f.Predicate, Args: append([]polar.Value(nil), f.Args...)}
		j := rng.Intn(len(nf.Args))
		if ids := values[nf.Args[j].Type]; !isBuiltin(nf.Args[j].Type) && len(ids) > 0 {
			nf.Args[j].ID = ids[rng.Intn(len(ids))]
		}
		facts = append(facts, nf)
	}
	facts = dedupeFacts(facts)
	{
		st := loadState(t, src, nil)
		v := st.Acquire()
		p := policyOf(t, v)
		v.Release()
		kept := facts[:0]
		for _, f := range facts {
			if p.CheckFact(f) == nil {
				kept = append(kept, f)
			}
		}
		facts = kept
	}
	// choose bound predicates
	byPred := map[string][]polar.Fact{}
	for _, f := range facts {
		k := predKey(f.Predicate, len(f.Args))
		byPred[k] = append(byPred[k], f)
	}
	var stored, ctx, dbf []polar.Fact
	var yaml strings.Builder
	yaml.WriteString("facts:\n")
	var ddl []string
	table := 0
	sqlTypes := map[string]bool{}
	for _, k := range sortedKeys(byPred) {
		fs := byPred[k]
		local := rng.Intn(2) == 0
		if !local {
			for _, f := range fs {
				if rng.Intn(5) == 0 {
					ctx = append(ctx, f)
				} else {
					stored = append(stored, f)
				}
			}
			continue
		}
		// one table per type tuple
		byTypes := map[string][]polar.Fact{}
		for _, f := range fs {
			var ts []string
			for _, a := range f.Args {
				ts = append(ts, a.Type)
			}
			byTypes[strings.Join(ts, ",")] = append(byTypes[strings.Join(ts, ",")], f)
		}
		for _, tk := range sortedKeys(byTypes) {
			group := byTypes[tk]
			types := strings.Split(tk, ",")
			// a String argument with one value may become a constant
			constArg := -1
			for j, typ := range types {
				if typ == polar.TypeString && rng.Intn(2) == 0 {
					constArg = j
					break
				}
			}
			var subsets [][]polar.Fact
			if constArg >= 0 {
				bv := map[string][]polar.Fact{}
				for _, f := range group {
					bv[f.Args[constArg].ID] = append(bv[f.Args[constArg].ID], f)
				}
				for _, id := range sortedKeys(bv) {
					subsets = append(subsets, bv[id])
				}
			} else {
				subsets = [][]polar.Fact{group}
			}
			for _, sub := range subsets {
				tname := fmt.Sprintf("t%d", table)
				table++
				style := rng.Intn(5)
				quoted := style == 2
				qt, col := tname, func(j int) string { return "c" + strconv.Itoa(j) }
				if quoted {
					qt = `"T ` + tname + `"`
					col = func(j int) string { return `"Col` + strconv.Itoa(j) + `"` }
				}
				var cols, sel, sigArgs []string
				cols = append(cols, "k integer")
				for j, typ := range types {
					if j == constArg {
						sigArgs = append(sigArgs, typ+":"+yamlQuote(sub[0].Args[j].ID))
						continue
					}
					cols = append(cols, col(j)+" text")
					sigArgs = append(sigArgs, typ+":_")
					c := "a." + col(j)
					if style == 4 {
						c += "::text"
					}
					sel = append(sel, c)
				}
				ddl = append(ddl, "CREATE TABLE "+qt+" ("+strings.Join(cols, ", ")+")")
				ddl = append(ddl, "CREATE TABLE "+tname+"_ok (k integer)")
				empty := rng.Intn(6) == 0
				for i, f := range sub {
					toDB := !empty && rng.Intn(5) != 0
					if !toDB && rng.Intn(2) == 0 {
						ctx = append(ctx, f)
					}
					var vals []string
					vals = append(vals, strconv.Itoa(i))
					for j, a := range f.Args {
						if j != constArg {
							vals = append(vals, quote(a.ID))
						}
					}
					ddl = append(ddl, "INSERT INTO "+qt+" VALUES ("+strings.Join(vals, ", ")+")")
					if toDB {
						dbf = append(dbf, f)
						ddl = append(ddl, "INSERT INTO "+tname+"_ok VALUES ("+strconv.Itoa(i)+")")
					}
				}
				var q string
				selList := strings.Join(sel, ", ")
				if selList == "" {
					selList = "1"
				}
				switch style {
				case 1:
					q = "select " + selList + " from " + qt + " a join " + tname + "_ok o on o.k = a.k"
				default:
					q = "SELECT " + selList + "\n  FROM " + qt + " AS a\n  JOIN " + tname + "_ok o ON o.k = a.k -- rows kept"
				}
				sig := strings.Split(k, "/")[0] + "(" + strings.Join(sigArgs, ", ") + ")"
				if rng.Intn(2) == 0 {
					sig = yamlQuote(sig)
				}
				fmt.Fprintf(&yaml, "  %s:\n    query: |-\n      %s\n", sig, strings.ReplaceAll(q, "\n", "\n      "))
				if rng.Intn(3) == 0 {
					fmt.Fprintf(&yaml, "    db: main\n")
				}
				for _, typ := range types {
					sqlTypes[typ] = true
				}
			}
		}
	}
	if table == 0 {
		return nil
	}
	yaml.WriteString("dbs:\n  main: {}\n")
	if rng.Intn(2) == 0 {
		yaml.WriteString("sql_types:\n")
		for _, typ := range sortedKeys(sqlTypes) {
			if !isBuiltin(typ) {
				fmt.Fprintf(&yaml, "  %s: TEXT\n", typ)
			}
		}
	}
	full := loadState(t, src, append(append([]polar.Fact(nil), stored...), dbf...))
	split := loadState(t, src, stored)
	v := split.Acquire()
	p := policyOf(t, v)
	v.Release()
	return &scenario{name: name, policy: p, full: full, split: split, context: ctx,
		bindings: yaml.String(), ddl: ddl, values: values}
}

func yamlQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func dedupeFacts(fs []polar.Fact) []polar.Fact {
	seen := map[string]bool{}
	var out []polar.Fact
	for _, f := range fs {
		k := fmt.Sprint(f)
		if !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	return out
}

var errUnsupported = errors.New("unsupported")

type runner struct {
	t    *testing.T
	conn *pgx.Conn
}

func (r *runner) rows(sql string) ([][]string, error) {
	rows, err := r.conn.Query(context.Background(), sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				row[i] = "<nil>"
			} else {
				row[i] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}
