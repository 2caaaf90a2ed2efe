package localsql

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// ErrBadRequest wraps every error that is the caller's fault: bad bindings,
// a query that cannot be translated exactly, bad request values. The
// message names the problem.
var ErrBadRequest = errors.New("bad request")

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

// Arg is one argument of a binding signature: a column (Col) of type Type,
// or the constant Value.
type Arg struct {
	Col   bool
	Value polar.Value // Value.Type is set for columns too
}

// Signature is one fact signature of a data-bindings file with its query.
type Signature struct {
	Text  string // the signature as written
	Pred  string
	Args  []Arg
	Query string // the application's SQL, trailing semicolons removed
	NCols int    // number of column arguments

	fromPrefix string // "(<query>\n) AS "
	colList    string // "(c0, c1)" or ""
}

// Bindings is a parsed data-bindings file.
type Bindings struct {
	// Facts maps "predicate/arity" to its signatures, in file order.
	Facts map[string][]*Signature
	// SQLTypes maps a Polar type name to the SQL type of its ids.
	SQLTypes map[string]string

	mu   sync.Mutex
	info *policyInfo // derived for the last policy seen
}

func predKey(name string, arity int) string { return name + "/" + strconv.Itoa(arity) }

// ParseBindings parses the YAML text of a data-bindings file (spec §3). It
// checks the syntax only; Usable sorts its signatures against a policy.
func ParseBindings(text string) (*Bindings, error) {
	if strings.TrimSpace(text) == "" {
		return nil, badf("data bindings are required for local authorization")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, badf("data bindings: invalid YAML: %v", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, badf("data bindings are required for local authorization")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, badf("data bindings: line %d: the file must be a mapping with a facts key, not %s", root.Line, nodeKind(root))
	}
	b := &Bindings{Facts: map[string][]*Signature{}, SQLTypes: map[string]string{}}
	var facts, types *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "facts":
			facts = root.Content[i+1]
		case "sql_types":
			types = root.Content[i+1]
		}
	}
	if facts == nil {
		return nil, badf("data bindings: no facts key; declare at least one fact signature under facts")
	}
	if !isNull(facts) && facts.Kind != yaml.MappingNode {
		return nil, badf("data bindings: line %d: facts must be a mapping from fact signatures to {query: ...}, not %s", facts.Line, nodeKind(facts))
	}
	// An empty facts (every signature commented out, as Oso's
	// local-authorization sample does for its centralized mode) binds
	// nothing: every answer comes from the server, as constant SQL.
	seen := map[string]bool{}
	for i := 0; i+1 < len(facts.Content); i += 2 {
		k, v := facts.Content[i], facts.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, badf("data bindings: line %d: a fact signature must be a string, not %s", k.Line, nodeKind(k))
		}
		sig, err := parseSignature(k.Value)
		if err != nil {
			return nil, badf("data bindings: fact signature %q (line %d): %v", k.Value, k.Line, err)
		}
		canon := sig.canonical()
		if seen[canon] {
			return nil, badf("data bindings: fact signature %q (line %d) is declared twice", k.Value, k.Line)
		}
		seen[canon] = true
		q, err := bindingQuery(v)
		if err != nil {
			return nil, badf("data bindings: fact signature %q (line %d): %v", k.Value, k.Line, err)
		}
		sig.Query = q
		sig.fromPrefix = "(" + q + "\n) AS "
		if sig.NCols > 0 {
			cols := make([]string, sig.NCols)
			for i := range cols {
				cols[i] = "c" + strconv.Itoa(i)
			}
			sig.colList = "(" + strings.Join(cols, ", ") + ")"
		}
		key := predKey(sig.Pred, len(sig.Args))
		b.Facts[key] = append(b.Facts[key], sig)
	}
	if types != nil && !isNull(types) {
		if types.Kind != yaml.MappingNode {
			return nil, badf("data bindings: line %d: sql_types must be a mapping from type names to SQL types, not %s", types.Line, nodeKind(types))
		}
		for i := 0; i+1 < len(types.Content); i += 2 {
			k, v := types.Content[i], types.Content[i+1]
			if k.Kind != yaml.ScalarNode || !isIdent(k.Value) {
				return nil, badf("data bindings: sql_types line %d: %q is not a type name", k.Line, k.Value)
			}
			if v.Kind != yaml.ScalarNode || isNull(v) || strings.TrimSpace(v.Value) == "" {
				return nil, badf("data bindings: sql_types.%s (line %d) must be an SQL type name such as integer, UUID or TEXT", k.Value, k.Line)
			}
			if !validSQLType(v.Value) {
				return nil, badf("data bindings: sql_types.%s (line %d): %q is not an SQL type name", k.Value, k.Line, v.Value)
			}
			b.SQLTypes[k.Value] = strings.TrimSpace(v.Value)
		}
	}
	return b, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if isNull(n) {
		return "null"
	}
	return "the scalar " + strconv.Quote(n.Value)
}

// bindingQuery reads the {query: SQL} value of a signature.
func bindingQuery(v *yaml.Node) (string, error) {
	if v.Kind != yaml.MappingNode {
		if isNull(v) {
			return "", errors.New("the binding is empty; give it a query: SELECT ...")
		}
		return "", fmt.Errorf("the binding must be a mapping with a query key, not %s", nodeKind(v))
	}
	var q *yaml.Node
	for i := 0; i+1 < len(v.Content); i += 2 {
		if v.Content[i].Value == "query" {
			q = v.Content[i+1]
		}
	}
	if q == nil {
		return "", errors.New("the binding has no query key")
	}
	if q.Kind != yaml.ScalarNode || isNull(q) {
		return "", fmt.Errorf("query must be an SQL SELECT text, not %s", nodeKind(q))
	}
	s := strings.TrimSpace(q.Value)
	for strings.HasSuffix(s, ";") {
		s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	}
	if s == "" {
		return "", errors.New("query is empty")
	}
	return s, nil
}

// validSQLType accepts type names such as integer, UUID, VARCHAR(50),
// "double precision", character varying(10), int[]: letters, digits,
// spaces, underscores, parentheses, commas and brackets, nothing that could
// end a cast.
func validSQLType(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z' || s[0] == '_' || s[0] == '"') {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(" _(),[].\"", r):
		default:
			return false
		}
	}
	return strings.Count(s, "(") == strings.Count(s, ")") && strings.Count(s, "\"")%2 == 0
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// parseSignature parses predicate(arg, ...). An arg is Type:_ (a column),
// Type:value or a bare value (a String constant); values may be double- or
// single-quoted.
func parseSignature(s string) (*Signature, error) {
	text := strings.TrimSpace(s)
	open := strings.IndexByte(text, '(')
	if open < 0 || !strings.HasSuffix(text, ")") {
		return nil, errors.New("want predicate(Type:_, ...)")
	}
	name := strings.TrimSpace(text[:open])
	if !isIdent(name) {
		return nil, fmt.Errorf("%q is not a predicate name", name)
	}
	parts, err := splitArgs(text[open+1 : len(text)-1])
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, errors.New("a fact needs at least one argument")
	}
	if len(parts) > polar.MaxArity {
		return nil, fmt.Errorf("%d arguments; at most %d are supported", len(parts), polar.MaxArity)
	}
	sig := &Signature{Text: text, Pred: name}
	for i, p := range parts {
		a, err := parseArg(p.text, p.quoted)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %v", i+1, err)
		}
		if a.Col {
			sig.NCols++
		}
		sig.Args = append(sig.Args, a)
	}
	return sig, nil
}

type rawArg struct {
	text   string
	quoted int // index of the first quote, -1 when none
}

func splitArgs(s string) ([]rawArg, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []rawArg
	var cur strings.Builder
	quote := byte(0)
	first := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && i+1 < len(s) {
				cur.WriteByte(c)
				i++
				cur.WriteByte(s[i])
				continue
			}
			if c == quote {
				quote = 0
			}
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
			if first < 0 {
				first = cur.Len()
			}
			cur.WriteByte(c)
		case c == ',':
			out = append(out, rawArg{cur.String(), first})
			cur.Reset()
			first = -1
		case c == '(' || c == ')':
			return nil, fmt.Errorf("unexpected %q in the argument list", c)
		default:
			cur.WriteByte(c)
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	out = append(out, rawArg{cur.String(), first})
	return out, nil
}

func parseArg(raw string, quoted int) (Arg, error) {
	t := strings.TrimSpace(raw)
	if t == "" {
		return Arg{}, errors.New("empty argument")
	}
	typ, val, hasType := "", t, false
	if i := strings.IndexByte(t, ':'); i >= 0 && (quoted < 0 || i < strings.IndexAny(t, "\"'")) {
		typ, val, hasType = strings.TrimSpace(t[:i]), strings.TrimSpace(t[i+1:]), true
		if !isIdent(typ) {
			return Arg{}, fmt.Errorf("%q is not a type name", typ)
		}
	}
	if !hasType {
		typ = polar.TypeString
		if val == "_" {
			return Arg{}, errors.New("_ needs a type: write Type:_")
		}
	}
	if val == "_" {
		return Arg{Col: true, Value: polar.Value{Type: typ}}, nil
	}
	if val == "" {
		return Arg{}, fmt.Errorf("%s: needs a value or _", typ)
	}
	if val[0] == '"' || val[0] == '\'' {
		if len(val) < 2 || val[len(val)-1] != val[0] {
			return Arg{}, fmt.Errorf("badly quoted value %s", val)
		}
		if val[0] == '"' {
			u, err := strconv.Unquote(val)
			if err != nil {
				return Arg{}, fmt.Errorf("badly quoted value %s", val)
			}
			val = u
		} else {
			val = strings.ReplaceAll(val[1:len(val)-1], `\'`, `'`)
		}
	}
	v, err := replica.Canonical(replica.Value{Type: typ, ID: val})
	if err != nil {
		return Arg{}, err
	}
	return Arg{Value: polar.Value(v)}, nil
}

func (s *Signature) canonical() string {
	var b strings.Builder
	b.WriteString(s.Pred)
	b.WriteByte('(')
	for i, a := range s.Args {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.Value.Type)
		if a.Col {
			b.WriteString(":_")
		} else {
			b.WriteString("=" + strconv.Quote(a.Value.ID))
		}
	}
	b.WriteByte(')')
	return b.String()
}

// Usable returns the signatures of the bindings that the policy can use,
// by predicate/arity, and why each other one cannot: a type the policy
// does not declare, or a fact the policy does not admit. Oso's own files
// bind such signatures (sqlalchemy-oso-cloud writes is_public(T:_,
// Boolean:_) for every model; samples bind types another service's policy
// declares), and Oso accepts them, so they are left out, not refused: no
// call of the policy can reach them. sql_types may name any type.
func (b *Bindings) Usable(p *polar.Policy) (usable map[string][]*Signature, unused []string) {
	usable = map[string][]*Signature{}
	for _, key := range sortedKeys(b.Facts) {
		for _, s := range b.Facts[key] {
			if err := checkSignature(p, s); err != nil {
				unused = append(unused, err.Error())
				continue
			}
			usable[key] = append(usable[key], s)
		}
	}
	return usable, unused
}

// checkSignature is nil when the policy can use signature s, else why not.
func checkSignature(p *polar.Policy, s *Signature) error {
	f := polar.Fact{Predicate: s.Pred}
	for i, a := range s.Args {
		if !p.HasType(a.Value.Type) {
			return badf("data bindings: fact signature %q: argument %d has the type %s, which the policy does not declare", s.Text, i+1, a.Value.Type)
		}
		v := a.Value
		if v.ID == "" {
			v.ID = "x"
			if v.Type == polar.TypeInteger {
				v.ID = "0"
			} else if v.Type == polar.TypeBoolean {
				v.ID = "true"
			}
		}
		f.Args = append(f.Args, v)
	}
	if err := p.CheckFact(f); err != nil {
		return badf("data bindings: fact signature %q: %v", s.Text, err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Cache keeps parsed bindings by the SHA-256 of their text: the SDKs send
// the same text with every call. It holds at most Max entries (default
// 64) and MaxBytes of text (default 16 MiB; a larger text is parsed every
// time) and forgets everything when full. Safe for concurrent use.
type Cache struct {
	Max      int
	MaxBytes int

	mu    sync.Mutex
	m     map[[32]byte]*Bindings
	bytes int
}

// Parse returns the parsed bindings of text, from the cache when it has
// seen the text before. Parse errors are not cached.
func (c *Cache) Parse(text string) (*Bindings, error) {
	h := sha256.Sum256([]byte(text))
	c.mu.Lock()
	b, ok := c.m[h]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := ParseBindings(text)
	if err != nil {
		return nil, err
	}
	max, maxBytes := c.Max, c.MaxBytes
	if max <= 0 {
		max = 64
	}
	if maxBytes <= 0 {
		maxBytes = 16 << 20
	}
	if len(text) > maxBytes {
		return b, nil
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= max || c.bytes+len(text) > maxBytes {
		c.m = map[[32]byte]*Bindings{}
		c.bytes = 0
	}
	c.m[h] = b
	c.bytes += len(text)
	c.mu.Unlock()
	return b, nil
}

// Len returns the number of cached entries.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
