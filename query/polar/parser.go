package polar

import (
	"strconv"
)

// This file holds the recursive-descent parser for the grammar of spec §4.
//
// Error handling: a syntax error records a Diagnostic and unwinds with a
// bailout panic to the nearest guard (a top-level item, or one member of a
// block, fixture, setup or test), which skips to the end of that construct
// and parses on. The panic never leaves Parse.

const (
	maxErrors  = 50  // Parse stops after this many diagnostics
	maxNesting = 500 // deepest nesting of parentheses and "not"
)

// bailout unwinds the parser to the nearest guard after a syntax error.
type bailout struct{}

type parser struct {
	sc       *scanner
	filename string
	tok      token // current token
	ahead    token // one token of lookahead, valid when hasAhead
	hasAhead bool
	depth    int // braces consumed and not yet closed
	nesting  int // current expression nesting
	stop     bool
	errs     ErrorList
}

// Parse parses one policy file. The error, when not nil, is an ErrorList of
// P001 (syntax), S001 (open-source dialect construct) and T007 (float or
// out-of-range integer literal) diagnostics in source order; the File then
// holds the items that could be parsed.
func Parse(filename, src string) (*File, error) {
	p := &parser{sc: newScanner(src), filename: filename}
	p.tok = p.sc.next()
	f := &File{Name: filename}
	for p.tok.kind != tkEOF && !p.stop {
		p.guard(false, func() {
			f.Items = append(f.Items, p.parseItem())
		})
	}
	return f, p.errs.Err()
}

// next consumes the current token.
func (p *parser) next() {
	switch p.tok.kind {
	case tkLBrace:
		p.depth++
	case tkRBrace:
		if p.depth > 0 {
			p.depth--
		}
	}
	if p.hasAhead {
		p.tok, p.hasAhead = p.ahead, false
		return
	}
	p.tok = p.sc.next()
}

func (p *parser) peek() token {
	if !p.hasAhead {
		p.ahead, p.hasAhead = p.sc.next(), true
	}
	return p.ahead
}

func (p *parser) isWord(w string) bool {
	return p.tok.kind == tkIdent && p.tok.text == w
}

// report records a diagnostic without unwinding.
func (p *parser) report(code string, pos Pos, msg string) {
	if p.stop {
		return
	}
	p.errs = append(p.errs, Diagnostic{Code: code, File: p.filename, Pos: pos, Message: msg})
	if len(p.errs) >= maxErrors {
		p.errs = append(p.errs, Diagnostic{Code: "P001", File: p.filename, Pos: pos, Message: "too many errors"})
		p.stop = true
		panic(bailout{})
	}
}

// unsupported fails with S001 for a construct of the open-source dialect;
// hint, when not empty, follows the message.
func (p *parser) unsupported(pos Pos, what, hint string) {
	msg := what + " is not supported in Oso Cloud Polar"
	if hint != "" {
		msg += hint
	}
	p.fail("S001", pos, msg)
}

// legacy fails with S001 for an open-source keyword.
func (p *parser) legacy(t token) {
	what, hint := legacyWhat(t.text)
	p.unsupported(t.pos, what, hint)
}

// fail records a diagnostic and unwinds to the nearest guard.
func (p *parser) fail(code string, pos Pos, msg string) {
	p.report(code, pos, msg)
	panic(bailout{})
}

// expected fails with "expected WHAT, found TOKEN" at the current token, or
// with the scanner's message when the token is malformed.
func (p *parser) expected(what string) {
	if p.tok.kind == tkIllegal {
		p.fail("P001", p.tok.pos, p.tok.text)
	}
	p.fail("P001", p.tok.pos, "expected "+what+", found "+p.tok.describe())
}

// expect consumes a token of kind k or fails; context follows the token in
// the message (`expected ";" after rule`).
func (p *parser) expect(k tokKind, context string) token {
	if p.tok.kind != k {
		p.expected(strconv.Quote(tokKindText[k]) + context)
	}
	t := p.tok
	p.next()
	return t
}

// guard runs fn; after a syntax error it skips to the end of the construct.
// A member guard stops before the "}" that closes its container; an item
// guard consumes it.
func (p *parser) guard(member bool, fn func()) {
	d0 := p.depth
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if _, ok := r.(bailout); !ok {
			panic(r)
		}
		if p.stop {
			if member {
				panic(r)
			}
			return
		}
		p.sync(d0, member)
	}()
	fn()
}

// sync skips tokens up to and including the ";" that ends the current
// construct at brace depth d0, or up to the "}" that closes it.
func (p *parser) sync(d0 int, member bool) {
	for p.tok.kind != tkEOF {
		switch {
		case p.tok.kind == tkSemi && p.depth <= d0:
			p.next()
			return
		case p.tok.kind == tkRBrace && p.depth <= d0:
			if !member {
				p.next()
			}
			return
		case p.tok.kind == tkRBrace && p.depth == d0+1 && !member:
			// The end of a block, or of a typed literal inside a rule: stop
			// only if an item seems to start after it.
			p.next()
			if p.atItemStart() {
				return
			}
			continue
		}
		p.next()
	}
}

func (p *parser) atItemStart() bool {
	switch p.tok.kind {
	case tkEOF, tkFlag, tkQueryEq:
		return true
	case tkIdent:
		return !polarReserved(p.tok.text)
	}
	return false
}

// nest guards recursion depth; call it with defer p.unnest().
func (p *parser) nest() {
	p.nesting++
	if p.nesting > maxNesting {
		p.fail("P001", p.tok.pos, "expression nested too deeply")
	}
}

func (p *parser) unnest() { p.nesting-- }

// commaList parses elements separated by commas up to and including close.
// trailing allows a comma before close; what names an element.
func (p *parser) commaList(close tokKind, trailing bool, what string, elem func()) {
	for p.tok.kind != close {
		elem()
		if p.tok.kind == tkComma {
			p.next()
			if p.tok.kind == close && !trailing {
				p.expected(what + ` after ","`)
			}
			continue
		}
		if p.tok.kind != close {
			p.expected(`"," or ` + strconv.Quote(tokKindText[close]))
		}
	}
	p.next()
}

// name consumes an identifier that names a predicate or variable.
func (p *parser) name(what string) token {
	t := p.tok
	if t.kind != tkIdent || polarReserved(t.text) || t.text == "_" {
		p.expected(what)
	}
	if polarLegacyWord(t.text) {
		p.legacy(t)
	}
	p.next()
	return t
}

// word consumes a non-reserved identifier (fixture names).
func (p *parser) word(what string) token {
	t := p.tok
	if t.kind != tkIdent || polarReserved(t.text) {
		p.expected(what)
	}
	p.next()
	return t
}

func (p *parser) typeRef(what string) TypeRef {
	t := p.tok
	if t.kind != tkIdent || polarReserved(t.text) || t.text == "_" {
		p.expected(what)
	}
	p.next()
	return TypeRef{Pos: t.pos, Name: t.text}
}

// ---------- items ----------

func (p *parser) parseItem() Item {
	switch p.tok.kind {
	case tkFlag:
		return p.parseRule()
	case tkQueryEq:
		q := &InlineQuery{Pos: p.tok.pos}
		p.next()
		q.Body = p.parseExpr()
		p.expect(tkSemi, " after inline query")
		return q
	case tkString:
		p.fail("P001", p.tok.pos, "shorthand rules are only allowed inside a resource, actor or global block")
	case tkIdent:
		// Structural words start an item only when followed by what the
		// item needs; otherwise they name a rule (`actor(x) if ...`).
		next := p.peek()
		switch w := p.tok.text; {
		case (w == "actor" || w == "resource") && next.kind == tkIdent, w == "global" && next.kind == tkLBrace:
			b := p.parseBlock()
			// Oso's Extends reference writes `actor User {};`: one ";"
			// after a block's "}" is accepted (docs/decisions.md).
			if p.tok.kind == tkSemi {
				p.next()
			}
			return b
		case w == "declare" && next.kind == tkIdent:
			return p.parseDeclare()
		case w == "type" && next.kind == tkIdent:
			return p.parseRuleType()
		case w == "test" && (next.kind == tkString || next.kind == tkIdent && next.text == "fixture"):
			return p.parseTest()
		}
		return p.parseRule()
	}
	p.expected("a rule, block, declaration or test")
	return nil
}

func (p *parser) parseFlags() []Flag {
	var flags []Flag
	for p.tok.kind == tkFlag {
		flags = append(flags, Flag{Pos: p.tok.pos, Name: p.tok.text})
		p.next()
	}
	return flags
}

func (p *parser) parseRule() *Rule {
	r := &Rule{Pos: p.tok.pos, Flags: p.parseFlags()}
	name := p.name("a rule name")
	r.Name = name.text
	if p.tok.kind != tkLParen {
		p.expected(`"(" after rule name ` + strconv.Quote(name.text))
	}
	r.Params = p.parseParams()
	switch {
	case p.isWord("if"):
		p.next()
		r.Body = p.parseExpr()
		p.expect(tkSemi, " after rule")
	case p.tok.kind == tkSemi:
		p.next()
	default:
		p.expected(`"if" or ";" after rule head`)
	}
	return r
}

// parseParams parses "(" [ Param { "," Param } ] ")".
func (p *parser) parseParams() []Param {
	p.expect(tkLParen, "")
	var params []Param
	p.commaList(tkRParen, false, "a parameter", func() {
		params = append(params, p.parseParam())
	})
	return params
}

func (p *parser) parseParam() Param {
	t := p.parseTerm()
	if p.tok.kind != tkColon {
		return Param{Term: t}
	}
	switch t.(type) {
	case *Var, *Wildcard:
	default:
		p.fail("P001", p.tok.pos, `a type specializer ":" must follow a variable or "_"`)
	}
	p.next()
	ref := p.typeRef(`a type name after ":"`)
	return Param{Term: t, Spec: &ref}
}

func (p *parser) parseDeclare() *Declare {
	d := &Declare{Pos: p.tok.pos}
	p.next()
	d.Name = p.name("a predicate name after \"declare\"").text
	p.expect(tkLParen, " after predicate name")
	p.commaList(tkRParen, false, "a type name", func() {
		d.Types = append(d.Types, p.typeRef("a type name"))
	})
	p.expect(tkSemi, " after declare")
	return d
}

func (p *parser) parseRuleType() *RuleType {
	t := &RuleType{Pos: p.tok.pos}
	p.next()
	t.Name = p.name("a predicate name after \"type\"").text
	t.Params = p.parseParams()
	p.expect(tkSemi, " after rule type")
	return t
}

// ---------- blocks ----------

var blockKinds = map[string]BlockKind{"actor": ActorBlock, "resource": ResourceBlock, "global": GlobalBlock}

func (p *parser) parseBlock() *Block {
	b := &Block{Pos: p.tok.pos, Kind: blockKinds[p.tok.text]}
	p.next()
	if b.Kind != GlobalBlock {
		ref := p.typeRef("a type name after " + strconv.Quote(b.Kind.String()))
		b.Name, b.NamePos = ref.Name, ref.Pos
		if p.isWord("extends") {
			p.next()
			for {
				b.Extends = append(b.Extends, p.typeRef(`a type name after "extends"`))
				if p.tok.kind != tkComma {
					break
				}
				p.next()
				if p.tok.kind == tkLBrace {
					break
				}
			}
		} else if p.tok.kind != tkLBrace {
			p.expected(`"{" or "extends" after type name`)
		}
	}
	p.expect(tkLBrace, " to open block")
	for p.tok.kind != tkRBrace && p.tok.kind != tkEOF {
		p.guard(true, func() { p.parseBlockMember(b) })
	}
	p.expect(tkRBrace, " to close block")
	return b
}

func (p *parser) parseBlockMember(b *Block) {
	start := p.tok.pos
	flags := p.parseFlags()
	if p.tok.kind == tkIdent && p.peek().kind == tkEq {
		if len(flags) > 0 {
			p.fail("P001", start, "flags are only allowed before rules")
		}
		b.Decls = append(b.Decls, p.parseDeclaration())
		return
	}
	if p.tok.kind == tkIdent && p.peek().kind == tkLParen {
		p.fail("P001", p.tok.pos, "only declarations and shorthand rules are allowed inside a block; write rules like "+p.tok.text+"(...) outside it")
	}
	r := &ShorthandRule{Pos: start, Flags: flags}
	r.Head = p.shTerm("a declaration or shorthand rule")
	if !p.isWord("if") {
		p.expected(`"if" after shorthand rule head`)
	}
	p.next()
	r.Body = p.parseShExpr()
	p.expect(tkSemi, " after shorthand rule")
	b.Rules = append(b.Rules, r)
}

func (p *parser) parseDeclaration() *Declaration {
	d := &Declaration{Pos: p.tok.pos, Key: p.tok.text}
	p.next() // key
	p.next() // =
	switch p.tok.kind {
	case tkLBrack:
		p.next()
		p.commaList(tkRBrack, true, "a term", func() {
			d.List = append(d.List, p.parseTerm())
		})
	case tkLBrace:
		d.IsMap = true
		p.next()
		p.commaList(tkRBrace, true, "a relation", func() {
			d.Map = append(d.Map, p.parseRelationEntry())
		})
	default:
		p.expected(`"[" or "{" after "` + d.Key + ` ="`)
	}
	p.expect(tkSemi, " after declaration")
	return d
}

func (p *parser) parseRelationEntry() RelationEntry {
	t := p.tok
	if t.kind != tkIdent || t.text == "_" {
		p.expected("a relation name")
	}
	p.next()
	p.expect(tkColon, " after relation name")
	return RelationEntry{Pos: t.pos, Name: t.text, Type: p.typeRef(`a type name after ":"`)}
}

func (p *parser) shTerm(what string) ShTerm {
	t := p.tok
	switch {
	case t.kind == tkString:
		p.next()
		return ShTerm{Pos: t.pos, IsString: true, Value: t.text}
	case t.kind == tkIdent && shIdent(t.text):
		if polarLegacyWord(t.text) {
			p.legacy(t)
		}
		p.next()
		return ShTerm{Pos: t.pos, Value: t.text}
	}
	p.expected(what)
	return ShTerm{}
}

func (p *parser) parseShExpr() ShExpr {
	p.nest()
	defer p.unnest()
	start := p.tok.pos
	first := p.parseShAnd()
	if !p.isWord("or") {
		return first
	}
	or := &ShOr{Pos: start, Args: []ShExpr{first}}
	for p.isWord("or") {
		p.next()
		or.Args = append(or.Args, p.parseShAnd())
	}
	return or
}

func (p *parser) parseShAnd() ShExpr {
	start := p.tok.pos
	first := p.parseShAtom()
	if !p.isWord("and") {
		return first
	}
	and := &ShAnd{Pos: start, Args: []ShExpr{first}}
	for p.isWord("and") {
		p.next()
		and.Args = append(and.Args, p.parseShAtom())
	}
	return and
}

func (p *parser) parseShAtom() ShExpr {
	switch {
	case p.tok.kind == tkLParen:
		p.next()
		e := p.parseShExpr()
		p.expect(tkRParen, ` to close "("`)
		return e
	case p.tok.kind == tkIdent && p.peek().kind == tkLParen:
		return &ShCall{Call: p.parseCall()}
	case p.isWord("not"):
		// "read" if "member" and not is_locked(resource): a negated
		// call, as in a rule body (docs/decisions.md).
		pos := p.tok.pos
		p.next()
		if p.tok.kind != tkIdent || p.peek().kind != tkLParen {
			p.expected(`a predicate call after "not" in a shorthand rule`)
		}
		return &ShCall{Call: p.parseCall(), Not: true, NotPos: pos}
	case p.isWord("global"):
		if next := p.peek(); next.kind == tkString || next.kind == tkIdent && shIdent(next.text) {
			g := &ShGlobal{Pos: p.tok.pos}
			p.next()
			g.Name = p.shTerm(`a name after "global"`)
			return g
		}
	}
	t := p.shTerm("a shorthand condition")
	atom := &ShAtom{Pos: t.Pos, Term: t}
	if p.isWord("on") {
		p.next()
		on := p.shTerm(`a relation after "on"`)
		atom.On = &on
	}
	return atom
}

// ---------- tests ----------

func (p *parser) parseTest() Item {
	pos := p.tok.pos
	p.next() // test
	if p.isWord("fixture") {
		p.next()
		fx := &Fixture{Pos: pos, Name: p.word("a fixture name").text}
		p.expect(tkLBrace, " after fixture name")
		for p.tok.kind != tkRBrace && p.tok.kind != tkEOF {
			p.guard(true, func() { fx.Facts = append(fx.Facts, p.parseFact()) })
		}
		p.expect(tkRBrace, " to close fixture")
		return fx
	}
	tb := &TestBlock{Pos: pos, Name: p.tok.text}
	p.next() // name
	p.expect(tkLBrace, " after test name")
	for p.tok.kind != tkRBrace && p.tok.kind != tkEOF {
		p.guard(true, func() { p.parseTestMember(tb) })
	}
	p.expect(tkRBrace, " to close test")
	return tb
}

func (p *parser) parseTestMember(tb *TestBlock) {
	switch {
	case p.isWord("setup") && p.peek().kind == tkLBrace:
		if tb.Setup != nil || len(tb.Asserts) > 0 {
			p.report("P001", p.tok.pos, "a test has at most one setup block, before its assertions")
		}
		s := p.parseSetup()
		if tb.Setup == nil {
			tb.Setup = s
		}
	case p.isWord("assert") || p.isWord("assert_not"):
		tb.Asserts = append(tb.Asserts, p.parseAssertion())
	default:
		p.expected(`"setup", "assert" or "assert_not"`)
	}
}

func (p *parser) parseSetup() *Setup {
	s := &Setup{Pos: p.tok.pos}
	p.next() // setup
	p.next() // {
	for p.tok.kind != tkRBrace && p.tok.kind != tkEOF {
		p.guard(true, func() {
			if p.isWord("fixture") && p.peek().kind != tkLParen {
				ref := FixtureRef{Pos: p.tok.pos}
				p.next()
				ref.Name = p.word("a fixture name").text
				p.endFact(" after fixture reference")
				s.Fixtures = append(s.Fixtures, ref)
				return
			}
			s.Facts = append(s.Facts, p.parseFact())
		})
	}
	p.expect(tkRBrace, " to close setup")
	return s
}

func (p *parser) parseFact() *FactStmt {
	name := p.name("a fact")
	f := &FactStmt{Pos: name.pos, Name: name.text}
	p.expect(tkLParen, " after fact name")
	p.commaList(tkRParen, false, "a literal", func() {
		t := p.parseTerm()
		switch t.(type) {
		case *StringLit, *IntLit, *BoolLit, *TypedLit:
		default:
			p.fail("P001", t.Position(), "fact arguments must be literals or typed literals")
		}
		f.Args = append(f.Args, t)
	})
	p.endFact(" after fact")
	return f
}

// endFact ends a fact or fixture reference in a setup or fixture block: a
// ";", which may be omitted before the block's closing "}" (Oso's own docs
// publish tests written that way; spec §4).
func (p *parser) endFact(context string) {
	if p.tok.kind == tkRBrace {
		return
	}
	p.expect(tkSemi, context)
}

func (p *parser) parseAssertion() *Assertion {
	a := &Assertion{Pos: p.tok.pos, Negated: p.tok.text == "assert_not"}
	kw := p.tok.text
	p.next()
	a.Name = p.name("a predicate after " + strconv.Quote(kw)).text
	if p.tok.kind != tkLParen {
		p.expected(`"(" after predicate name`)
	}
	a.Args = p.parseParams()
	if p.isWord("iff") {
		p.next()
		a.Iff = p.parseExpr()
	}
	p.expect(tkSemi, " after assertion")
	return a
}

// ---------- expressions ----------

func (p *parser) parseExpr() Expr {
	p.nest()
	defer p.unnest()
	start := p.tok.pos
	first := p.parseAnd()
	if !p.isWord("or") {
		return first
	}
	or := &Or{Pos: start, Args: []Expr{first}}
	for p.isWord("or") {
		p.next()
		or.Args = append(or.Args, p.parseAnd())
	}
	return or
}

func (p *parser) parseAnd() Expr {
	start := p.tok.pos
	first := p.parseNot()
	if !p.isWord("and") {
		return first
	}
	and := &And{Pos: start, Args: []Expr{first}}
	for p.isWord("and") {
		p.next()
		and.Args = append(and.Args, p.parseNot())
	}
	return and
}

func (p *parser) parseNot() Expr {
	if !p.isWord("not") {
		return p.parsePrimary()
	}
	p.nest()
	defer p.unnest()
	n := &Not{Pos: p.tok.pos}
	p.next()
	n.Arg = p.parseNot()
	return n
}

var compareOps = map[tokKind]CompareOp{
	tkEq: OpEq, tkNe: OpNe, tkLt: OpLt, tkLe: OpLe, tkGt: OpGt, tkGe: OpGe,
}

func (p *parser) parsePrimary() Expr {
	switch {
	case p.tok.kind == tkLParen:
		p.next()
		e := p.parseExpr()
		p.expect(tkRParen, ` to close "("`)
		return e
	case p.tok.kind == tkIdent && p.peek().kind == tkLParen:
		return p.parseCall()
	case !startsTerm(p.tok.kind):
		p.expected("a condition")
	}
	left := p.parseTerm()
	if op, ok := compareOps[p.tok.kind]; ok {
		p.next()
		return &Compare{Pos: left.Position(), Op: op, Left: left, Right: p.parseTerm()}
	}
	switch {
	case p.isWord("in"):
		p.next()
		in := &In{Pos: left.Position(), Left: left}
		if p.tok.kind == tkIdent {
			// x in actor.roles, x in list: a collection held in a
			// variable or field is the open-source dialect.
			p.unsupported(p.tok.pos, `"in" over a variable or field`,
				`; Oso Cloud Polar takes a list literal after "in" ([...]), or store the members as facts`)
		}
		p.expect(tkLBrack, ` after "in"`)
		p.commaList(tkRBrack, true, "a term", func() {
			in.List = append(in.List, p.parseTerm())
		})
		return in
	case p.isWord("matches"):
		p.next()
		if p.tok.kind == tkBang {
			p.unsupported(p.tok.pos, `"matches!"`, "")
		}
		m := &Matches{Pos: left.Position(), Left: left, Type: p.typeRef(`a type name after "matches"`)}
		if p.tok.kind == tkLBrace {
			p.unsupported(p.tok.pos, `"matches" with fields (Type{field: value})`, "; match the type alone and store the fields as facts")
		}
		return m
	}
	if b, ok := left.(*BoolLit); ok {
		return &BoolExpr{Pos: b.Pos, Value: b.Value}
	}
	p.expected(`an operator (= != < <= > >= in matches) after the term`)
	return nil
}

func (p *parser) parseCall() *Call {
	name := p.name("a predicate name")
	c := &Call{Pos: name.pos, Name: name.text}
	p.next() // (
	p.commaList(tkRParen, false, "an argument", func() {
		c.Args = append(c.Args, p.parseTerm())
	})
	return c
}

// parseTerm parses a term and rejects an open-source operator after it.
func (p *parser) parseTerm() Term {
	t := p.term()
	switch p.tok.kind {
	case tkDot:
		p.unsupported(p.tok.pos, `field access with "."`, "")
	case tkPlus, tkMinus, tkStar, tkSlash:
		p.unsupported(p.tok.pos, "arithmetic operator "+strconv.Quote(tokKindText[p.tok.kind]), "")
	case tkEqEq:
		p.unsupported(p.tok.pos, `"=="`, `; use "=" for unification`)
	case tkColonEq:
		p.unsupported(p.tok.pos, `":="`, `; use "=" for unification`)
	case tkIdent:
		if polarLegacyWord(p.tok.text) {
			p.legacy(p.tok)
		}
	}
	return t
}

func (p *parser) term() Term {
	t := p.tok
	switch t.kind {
	case tkString:
		p.next()
		return &StringLit{Pos: t.pos, Value: t.text}
	case tkInt:
		p.next()
		return p.intLit(t.pos, t.text)
	case tkFloat:
		p.next()
		p.report("T007", t.pos, "float literals are not supported")
		return &IntLit{Pos: t.pos}
	case tkPlus, tkMinus:
		// A sign belongs to a number written right after it (§3.6).
		if n := p.peek(); n.off == t.end && n.kind == tkInt {
			p.next()
			p.next()
			return p.intLit(t.pos, tokKindText[t.kind]+n.text)
		} else if n.off == t.end && n.kind == tkFloat {
			p.next()
			return p.term() // reports the float
		}
		p.unsupported(t.pos, "arithmetic operator "+strconv.Quote(tokKindText[t.kind]), "")
	case tkFlag:
		if t.text == "current_unix_time" {
			p.next()
			return &CurrentTime{Pos: t.pos}
		}
		p.fail("P001", t.pos, "unknown constant "+strconv.Quote("@"+t.text)+"; the only constant is @current_unix_time")
	case tkLBrace:
		p.unsupported(t.pos, "a dictionary literal", "")
	case tkLBrack:
		p.fail("P001", t.pos, `list literals are only allowed after "in"`)
	case tkIdent:
		switch t.text {
		case "true", "false":
			p.next()
			return &BoolLit{Pos: t.pos, Value: t.text == "true"}
		case "_":
			p.next()
			return &Wildcard{Pos: t.pos}
		}
		if !polarReserved(t.text) && p.peek().kind == tkLBrace {
			return p.typedLit()
		}
		p.name("a term")
		return &Var{Pos: t.pos, Name: t.text}
	}
	p.expected("a term")
	return nil
}

func (p *parser) typedLit() Term {
	tl := &TypedLit{Pos: p.tok.pos, Type: p.tok.text}
	p.next() // type name
	p.next() // {
	if p.tok.kind == tkIdent && p.peek().kind == tkColon {
		p.unsupported(p.tok.pos, "an instance or dictionary literal", "")
	}
	if p.tok.kind == tkRBrace {
		p.expected("a literal inside " + tl.Type + "{...}")
	}
	lit := p.term()
	switch lit.(type) {
	case *StringLit, *IntLit, *BoolLit:
	default:
		p.fail("P001", lit.Position(), "a typed literal holds one string, integer or boolean literal")
	}
	tl.Lit = lit
	p.expect(tkRBrace, " to close typed literal")
	return tl
}

func (p *parser) intLit(pos Pos, text string) *IntLit {
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		if len(text) > 32 {
			text = text[:32] + "..."
		}
		p.report("T007", pos, "integer literal "+text+" is out of range (64-bit signed)")
	}
	return &IntLit{Pos: pos, Value: v}
}
