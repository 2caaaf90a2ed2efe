package localsql

import (
	"github.com/outpost-authz/outpost/query/polar"

	"strconv"
	"strings"
)

// quote renders s as a PostgreSQL string literal that means s whatever
// standard_conforming_strings is: an E” literal when s has a backslash.
func quote(s string) string {
	q := strings.ReplaceAll(s, "'", "''")
	if strings.Contains(s, `\`) {
		return "E'" + strings.ReplaceAll(q, `\`, `\\`) + "'"
	}
	return "'" + q + "'"
}

// quoteIdent renders an output column name as a quoted identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// sqlKind classifies an sql_types entry for literal checks.
func sqlKind(t string) string {
	t = strings.ToLower(strings.Join(strings.Fields(t), " "))
	switch t {
	case "smallint", "int2", "smallserial", "serial2":
		return "int16"
	case "integer", "int", "int4", "serial", "serial4":
		return "int32"
	case "bigint", "int8", "bigserial", "serial8":
		return "int64"
	case "uuid":
		return "uuid"
	}
	return ""
}

// lit renders v as a literal to compare with a column of Polar type typ.
// It returns false when no value of the column's SQL type can equal v in
// its canonical text form (e.g. "abc" or "007" against an integer column):
// such a value never matches, and sending it would make PostgreSQL fail.
func (g *gen) lit(v polar.Value, typ string) (string, bool) {
	if strings.IndexByte(v.ID, 0) >= 0 {
		return "", false // PostgreSQL text cannot hold NUL
	}
	if !canonicalFor(v.ID, sqlKind(g.b.SQLTypes[typ])) {
		return "", false
	}
	return quote(v.ID), true
}

// outLit renders v as an output value: cast to its sql_types type when
// the bindings give one.
func (g *gen) outLit(v polar.Value) string {
	if t, ok := g.b.SQLTypes[v.Type]; ok {
		return quote(v.ID) + "::" + t
	}
	return quote(v.ID)
}

func canonicalFor(id, kind string) bool {
	bits := 0
	switch kind {
	case "":
		return true
	case "uuid":
		if len(id) != 36 {
			return false
		}
		for i := 0; i < 36; i++ {
			c := id[i]
			switch i {
			case 8, 13, 18, 23:
				if c != '-' {
					return false
				}
			default:
				if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
					return false
				}
			}
		}
		return true
	case "int16":
		bits = 16
	case "int32":
		bits = 32
	case "int64":
		bits = 64
	}
	n, err := strconv.ParseInt(id, 10, bits)
	return err == nil && strconv.FormatInt(n, 10) == id
}

// branchSQL renders one branch as a boolean expression.
func branchSQL(s state) string {
	conds := strings.Join(s.where, " AND ")
	if len(s.from) == 0 {
		switch len(s.where) {
		case 0:
			return "true"
		case 1:
			return conds
		}
		return "(" + conds + ")"
	}
	var b strings.Builder
	b.WriteString("EXISTS (SELECT 1 FROM ")
	b.WriteString(strings.Join(s.from, ", "))
	if conds != "" {
		b.WriteString(" WHERE ")
		b.WriteString(conds)
	}
	b.WriteByte(')')
	return b.String()
}

// disjunction renders branches as one self-contained boolean expression:
// "false" for none, a top-level OR in parentheses.
func disjunction(states []state) string {
	var parts []string
	seen := map[string]bool{}
	for _, s := range states {
		e := branchSQL(s)
		if e == "true" {
			return "true"
		}
		if !seen[e] {
			seen[e] = true
			parts = append(parts, e)
		}
	}
	switch len(parts) {
	case 0:
		return "false"
	case 1:
		return parts[0]
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// selectArm renders one branch as a SELECT of the given output expressions.
func selectArm(outs []string, s state) string {
	var b strings.Builder
	b.WriteString("SELECT DISTINCT ")
	b.WriteString(strings.Join(outs, ", "))
	if len(s.from) > 0 {
		b.WriteString(" FROM ")
		b.WriteString(strings.Join(s.from, ", "))
	}
	if len(s.where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(s.where, " AND "))
	}
	return b.String()
}
