package polar

// This file defines the abstract syntax tree produced by the parser. Every node
// carries the position where it starts. The tree is plain data: validation,
// desugaring and compilation read it and never modify it.

// Pos is a position in a source file. Line and Col are 1-based; Col counts
// bytes from the start of the line.
type Pos struct {
	Line int
	Col  int
}

// File is one parsed .polar source.
type File struct {
	Name  string
	Items []Item
}

// Item is a top-level element of a policy file: *Block, *Rule, *Declare,
// *RuleType, *InlineQuery, *Fixture or *TestBlock.
type Item interface {
	Position() Pos
	itemNode()
}

// BlockKind tells actor, resource and global blocks apart.
type BlockKind int

const (
	ActorBlock BlockKind = iota
	ResourceBlock
	GlobalBlock
)

func (k BlockKind) String() string {
	switch k {
	case ActorBlock:
		return "actor"
	case ResourceBlock:
		return "resource"
	default:
		return "global"
	}
}

// TypeRef is a type name as written, with its position.
type TypeRef struct {
	Pos  Pos
	Name string
}

// Block is `actor T [extends ...] { ... }`, `resource T ... { ... }` or
// `global { ... }`. Name is empty for the global block.
type Block struct {
	Pos     Pos
	Kind    BlockKind
	Name    string
	NamePos Pos
	Extends []TypeRef
	Decls   []*Declaration
	Rules   []*ShorthandRule
}

// Declaration is `key = [ ... ];` or `key = { ... };` inside a block. The
// parser accepts any key and either value shape; validation (B001) checks
// that the key is roles, permissions or relations and that the shape fits.
type Declaration struct {
	Pos   Pos
	Key   string
	IsMap bool
	List  []Term          // elements of a [ ... ] value (strings expected)
	Map   []RelationEntry // entries of a { ... } value
}

// RelationEntry is `name: Type` inside a relations map.
type RelationEntry struct {
	Pos  Pos
	Name string
	Type TypeRef
}

// Flag is an `@name` prefix on a rule.
type Flag struct {
	Pos  Pos
	Name string
}

// ShorthandRule is `head if body;` inside a block.
type ShorthandRule struct {
	Pos   Pos
	Flags []Flag
	Head  ShTerm
	Body  ShExpr
}

// ShTerm is a string literal or an identifier (role, permission, resource)
// in a shorthand rule.
type ShTerm struct {
	Pos      Pos
	IsString bool
	Value    string // the decoded string, or the identifier's name
}

// ShExpr is the body of a shorthand rule: *ShAtom, *ShGlobal, *ShCall, *ShAnd
// or *ShOr. Parentheses leave no node of their own.
type ShExpr interface {
	Position() Pos
	shNode()
}

// ShAtom is `"y"`, `"y" on "r"`, `role on "r"` or `"y" on resource`.
type ShAtom struct {
	Pos  Pos
	Term ShTerm
	On   *ShTerm // nil when there is no `on`
}

// ShGlobal is `global "y"`.
type ShGlobal struct {
	Pos  Pos
	Name ShTerm
}

// ShCall is a predicate call inside a shorthand body, e.g. is_public(resource),
// or with Not (at NotPos) its negation, not is_locked(resource).
type ShCall struct {
	Call   *Call
	Not    bool
	NotPos Pos
}

// ShAnd is a conjunction of two or more shorthand expressions.
type ShAnd struct {
	Pos  Pos
	Args []ShExpr
}

// ShOr is a disjunction of two or more shorthand expressions.
type ShOr struct {
	Pos  Pos
	Args []ShExpr
}

// Rule is `name(params) [if body];` at top level.
type Rule struct {
	Pos    Pos
	Flags  []Flag
	Name   string
	Params []Param
	Body   Expr // nil for a rule without `if`
}

// Param is a head parameter or an assertion argument: a term, optionally with
// a specializer (`x: T`, `_: T`). Spec is nil when there is none.
type Param struct {
	Term Term
	Spec *TypeRef
}

// Term is *Var, *Wildcard, *StringLit, *IntLit, *BoolLit, *TypedLit or
// *CurrentTime.
type Term interface {
	Position() Pos
	termNode()
}

// Var is a variable.
type Var struct {
	Pos  Pos
	Name string
}

// Wildcard is `_`: a fresh, anonymous variable at each occurrence.
type Wildcard struct {
	Pos Pos
}

// StringLit is a string literal with escapes decoded.
type StringLit struct {
	Pos   Pos
	Value string
}

// IntLit is an integer literal; the parser rejects values outside int64.
type IntLit struct {
	Pos   Pos
	Value int64
}

// BoolLit is true or false.
type BoolLit struct {
	Pos   Pos
	Value bool
}

// TypedLit is `Type{literal}`; Lit is a *StringLit, *IntLit or *BoolLit.
type TypedLit struct {
	Pos  Pos
	Type string
	Lit  Term
}

// CurrentTime is `@current_unix_time`.
type CurrentTime struct {
	Pos Pos
}

// Expr is a rule body: *And, *Or, *Not, *Call, *Matches, *In, *Compare or
// *BoolExpr. Parentheses leave no node of their own.
type Expr interface {
	Position() Pos
	exprNode()
}

// And is a conjunction of two or more expressions.
type And struct {
	Pos  Pos
	Args []Expr
}

// Or is a disjunction of two or more expressions.
type Or struct {
	Pos  Pos
	Args []Expr
}

// Not is `not expr`.
type Not struct {
	Pos Pos
	Arg Expr
}

// Call is a predicate call `name(args)`.
type Call struct {
	Pos  Pos
	Name string
	Args []Term
}

// Matches is `x matches T`.
type Matches struct {
	Pos  Pos
	Left Term // a *Var in valid policies
	Type TypeRef
}

// In is `x in [a, b, ...]`.
type In struct {
	Pos  Pos
	Left Term
	List []Term
}

// CompareOp is one of the binary operators = != < <= > >=.
type CompareOp int

const (
	OpEq CompareOp = iota
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
)

func (o CompareOp) String() string {
	return [...]string{"=", "!=", "<", "<=", ">", ">="}[o]
}

// Compare is `left op right`.
type Compare struct {
	Pos   Pos
	Op    CompareOp
	Left  Term
	Right Term
}

// BoolExpr is `true` or `false` standing alone as a condition.
type BoolExpr struct {
	Pos   Pos
	Value bool
}

// Declare is `declare name(T1, ..., Tn);`.
type Declare struct {
	Pos   Pos
	Name  string
	Types []TypeRef
}

// RuleType is `type name(params);`.
type RuleType struct {
	Pos    Pos
	Name   string
	Params []Param
}

// InlineQuery is `?= expr;`. It is parsed so that validation can reject it
// with a clear message.
type InlineQuery struct {
	Pos  Pos
	Body Expr
}

// Fixture is `test fixture name { facts }`.
type Fixture struct {
	Pos   Pos
	Name  string
	Facts []*FactStmt
}

// FactStmt is a ground fact `name(args);` in a fixture or setup block. Args
// are *StringLit, *IntLit, *BoolLit or *TypedLit.
type FactStmt struct {
	Pos  Pos
	Name string
	Args []Term
}

// TestBlock is `test "name" { [setup { ... }] assertions }`.
type TestBlock struct {
	Pos     Pos
	Name    string
	Setup   *Setup // nil when absent
	Asserts []*Assertion
}

// Setup is the setup block of a test.
type Setup struct {
	Pos      Pos
	Facts    []*FactStmt
	Fixtures []FixtureRef
}

// FixtureRef is `fixture name;` inside setup.
type FixtureRef struct {
	Pos  Pos
	Name string
}

// Assertion is `assert q [iff expr];` or `assert_not q;`.
type Assertion struct {
	Pos     Pos
	Negated bool // assert_not
	Name    string
	Args    []Param
	Iff     Expr // nil when absent
}

func (n *Block) Position() Pos       { return n.Pos }
func (n *Rule) Position() Pos        { return n.Pos }
func (n *Declare) Position() Pos     { return n.Pos }
func (n *RuleType) Position() Pos    { return n.Pos }
func (n *InlineQuery) Position() Pos { return n.Pos }
func (n *Fixture) Position() Pos     { return n.Pos }
func (n *TestBlock) Position() Pos   { return n.Pos }

func (*Block) itemNode()       {}
func (*Rule) itemNode()        {}
func (*Declare) itemNode()     {}
func (*RuleType) itemNode()    {}
func (*InlineQuery) itemNode() {}
func (*Fixture) itemNode()     {}
func (*TestBlock) itemNode()   {}

func (n *ShAtom) Position() Pos   { return n.Pos }
func (n *ShGlobal) Position() Pos { return n.Pos }
func (n *ShCall) Position() Pos {
	if n.Not {
		return n.NotPos
	}
	return n.Call.Pos
}
func (n *ShAnd) Position() Pos { return n.Pos }
func (n *ShOr) Position() Pos  { return n.Pos }

func (*ShAtom) shNode()   {}
func (*ShGlobal) shNode() {}
func (*ShCall) shNode()   {}
func (*ShAnd) shNode()    {}
func (*ShOr) shNode()     {}

func (n *Var) Position() Pos         { return n.Pos }
func (n *Wildcard) Position() Pos    { return n.Pos }
func (n *StringLit) Position() Pos   { return n.Pos }
func (n *IntLit) Position() Pos      { return n.Pos }
func (n *BoolLit) Position() Pos     { return n.Pos }
func (n *TypedLit) Position() Pos    { return n.Pos }
func (n *CurrentTime) Position() Pos { return n.Pos }

func (*Var) termNode()         {}
func (*Wildcard) termNode()    {}
func (*StringLit) termNode()   {}
func (*IntLit) termNode()      {}
func (*BoolLit) termNode()     {}
func (*TypedLit) termNode()    {}
func (*CurrentTime) termNode() {}

func (n *And) Position() Pos      { return n.Pos }
func (n *Or) Position() Pos       { return n.Pos }
func (n *Not) Position() Pos      { return n.Pos }
func (n *Call) Position() Pos     { return n.Pos }
func (n *Matches) Position() Pos  { return n.Pos }
func (n *In) Position() Pos       { return n.Pos }
func (n *Compare) Position() Pos  { return n.Pos }
func (n *BoolExpr) Position() Pos { return n.Pos }

func (*And) exprNode()      {}
func (*Or) exprNode()       {}
func (*Not) exprNode()      {}
func (*Call) exprNode()     {}
func (*Matches) exprNode()  {}
func (*In) exprNode()       {}
func (*Compare) exprNode()  {}
func (*BoolExpr) exprNode() {}
