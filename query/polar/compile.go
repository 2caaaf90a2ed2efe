package polar

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

// MaxArity is the largest number of arguments a predicate may have.
const MaxArity = 8

// Policy is a validated, desugared and compiled policy. It is immutable and
// safe for concurrent use by any number of queries.
type Policy struct {
	env      *typeEnv
	preds    []*pred
	predIdx  map[string]int
	literals []Value
	litIdx   map[Value]int
	sigs     map[string][]signature
	meta     map[string]ResourceMetadata
	tests    []testDef
	fixtures map[string]*Fixture
	rules    []*irRule
	warnings ErrorList
	allow    *pred // allow/3, looked up once: every check starts there
}

type pred struct {
	idx      int
	key      string
	name     string
	arity    int
	rules    []*crule
	hasRules bool
	// scc numbers the strongly connected component of the predicate in
	// the call graph of the rules (from 1); two predicates with the same
	// scc are mutually recursive. 0: not numbered (query-time predicates).
	scc int
}

type cterm struct {
	kind termKind
	v    int // variable
	lit  int // literal index
}

type clit struct {
	kind litKind
	pos  Pos
	pred *pred
	args []cterm
	op   CompareOp
	a, b cterm
	typ  int // type index for matches
	list []cterm
	sub  []clit
}

type crule struct {
	ir      *irRule
	pred    *pred
	nvars   int
	head    []cterm
	headTyp []int // specializer type index per param, -1 when none
	varTyp  []int // static type index per variable, -1 when unknown
	body    []clit

	mu    sync.Mutex
	plans []atomic.Pointer[plan] // by adornment: bit i set = param i bound
}

// Options configure Compile.
type CompileOptions struct {
	// CompoundNegation accepts `not` over conjunctions and rule-defined
	// predicates (stratified), instead of the service's single-fact rule.
	CompoundNegation bool
}

// Compile validates and compiles parsed policy files into a Policy. The
// error, when not nil, is an ErrorList with every problem found.
func Compile(files []*File, opt CompileOptions) (*Policy, error) {
	b := &builder{
		env:       newTypeEnv(),
		blocks:    map[string]*blockDecls{},
		declares:  map[string][][]string{},
		ruleTypes: map[string][][]string{},
		fixtures:  map[string]*Fixture{},
		fixFile:   map[string]string{},
	}
	b.collectTypes(files)
	b.collectDecls(files)
	for _, name := range sortedKeys(b.blocks) {
		b.file = ""
		d := b.blocks[name]
		b.file = fileOf(files, d.block)
		b.expandBlock(d)
	}
	if b.global != nil {
		b.file = fileOf(files, b.global.block)
		b.expandBlock(b.global)
	}
	testNames := map[string]bool{}
	for _, f := range files {
		b.file = f.Name
		for _, it := range f.Items {
			switch it := it.(type) {
			case *Rule:
				b.rule(it)
			case *Declare:
				sig := make([]string, len(it.Types))
				ok := true
				for i, t := range it.Types {
					if !b.checkType(t) {
						ok = false
					}
					sig[i] = t.Name
				}
				if ok {
					key := predKey(it.Name, len(sig))
					b.declares[key] = append(b.declares[key], sig)
				}
			case *RuleType:
				sig := make([]string, len(it.Params))
				for i, p := range it.Params {
					if p.Spec != nil && b.checkType(*p.Spec) {
						sig[i] = p.Spec.Name
					}
				}
				key := predKey(it.Name, len(sig))
				b.declares[key] = append(b.declares[key], sig)
			case *InlineQuery:
				b.errorf(it.Pos, "S001", "inline queries (?=) are not supported by Oso Cloud policies")
			case *Fixture:
				if _, dup := b.fixtures[it.Name]; dup {
					b.warnf(it.Pos, "W002", "test fixture %s is declared twice; the first one is used", it.Name)
					continue
				}
				b.fixtures[it.Name] = it
				b.fixFile[it.Name] = f.Name
			case *TestBlock:
				if testNames[it.Name] {
					b.warnf(it.Pos, "W002", "test %q is declared twice", it.Name)
				}
				testNames[it.Name] = true
				b.tests = append(b.tests, testDef{block: it, file: f.Name})
			}
		}
	}
	for _, t := range b.tests {
		b.file = t.file
		if t.block.Setup == nil {
			continue
		}
		for _, fx := range t.block.Setup.Fixtures {
			if _, ok := b.fixtures[fx.Name]; !ok {
				b.errorf(fx.Pos, "X001", "test %q uses unknown fixture %s", t.block.Name, fx.Name)
			}
		}
	}
	// default allow rules (spec §11)
	hasAllow := map[int]bool{}
	for _, r := range b.rules {
		if r.pred == "allow" {
			hasAllow[len(r.params)] = true
		}
	}
	for _, arity := range []int{3, 2} {
		if hasAllow[arity] {
			continue
		}
		s := newScope()
		params := make([]irParam, arity)
		args := make([]irTerm, arity)
		for i := range params {
			v := s.v(s.fresh([]string{"actor", "action", "resource"}[i]))
			params[i].term, args[i] = v, v
		}
		b.addRule(&irRule{pred: "allow", params: params, vars: s.vars, origin: "default allow rule",
			body: []irLit{{kind: lCall, pred: "has_permission", args: args}}})
	}
	rulePreds := map[string]bool{}
	for _, r := range b.rules {
		rulePreds[r.key()] = true
	}
	for _, r := range b.rules {
		b.inferRule(r)
	}
	for _, r := range b.rules {
		b.checkRule(r, rulePreds, opt.CompoundNegation)
		if len(r.params) > MaxArity {
			b.file = r.file
			b.errorf(r.pos, "S001", "%s has %d parameters; at most %d are supported", r.pred, len(r.params), MaxArity)
		}
	}
	all, fixed := b.collectSignatures()
	b.checkCalls(fixed, rulePreds)
	b.stratify()
	// test setup facts: types must exist
	for _, t := range b.tests {
		if t.block.Setup != nil {
			b.file = t.file
			b.checkFacts(t.block.Setup.Facts)
		}
	}
	for name, fx := range b.fixtures {
		b.file = b.fixFile[name]
		b.checkFacts(fx.Facts)
	}
	if len(b.diags) > 0 {
		sortDiags(b.diags)
		return nil, b.diags
	}
	p := &Policy{
		env:      b.env,
		predIdx:  map[string]int{},
		litIdx:   map[Value]int{},
		sigs:     all,
		meta:     map[string]ResourceMetadata{},
		tests:    b.tests,
		fixtures: b.fixtures,
		rules:    b.rules,
	}
	b.describe(p)
	for _, r := range b.rules {
		p.compileRule(r)
	}
	p.numberSCCs()
	p.allow = p.lookupPred("allow", 3)
	return p, nil
}

// numberSCCs sets pred.scc by Tarjan's algorithm over the calls of rule
// bodies (negated calls included). The planner uses it to tell recursive
// calls from others.
func (p *Policy) numberSCCs() {
	index := make([]int, len(p.preds))
	low := make([]int, len(p.preds))
	onStack := make([]bool, len(p.preds))
	var stack []int
	n, c := 1, 0
	var callees func(body []clit, out []int) []int
	callees = func(body []clit, out []int) []int {
		for i := range body {
			switch body[i].kind {
			case lCall:
				out = append(out, body[i].pred.idx)
			case lNot:
				out = callees(body[i].sub, out)
			}
		}
		return out
	}
	var strong func(v int)
	strong = func(v int) {
		index[v], low[v] = n, n
		n++
		stack = append(stack, v)
		onStack[v] = true
		var next []int
		for _, r := range p.preds[v].rules {
			next = callees(r.body, next)
		}
		for _, w := range next {
			if index[w] == 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			c++
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				p.preds[w].scc = c
				if w == v {
					break
				}
			}
		}
	}
	for v := range p.preds {
		if index[v] == 0 {
			strong(v)
		}
	}
}

func fileOf(files []*File, blk *Block) string {
	for _, f := range files {
		for _, it := range f.Items {
			if it == Item(blk) {
				return f.Name
			}
		}
	}
	return ""
}

func (b *builder) checkFacts(facts []*FactStmt) {
	for _, f := range facts {
		for _, a := range f.Args {
			b.constant(a)
		}
	}
}

func (p *Policy) predicate(name string, arity int) *pred {
	key := predKey(name, arity)
	if i, ok := p.predIdx[key]; ok {
		return p.preds[i]
	}
	pr := &pred{idx: len(p.preds), key: key, name: name, arity: arity}
	p.preds = append(p.preds, pr)
	p.predIdx[key] = pr.idx
	return pr
}

func (p *Policy) lookupPred(name string, arity int) *pred {
	if i, ok := p.predIdx[predKey(name, arity)]; ok {
		return p.preds[i]
	}
	return nil
}

func (p *Policy) literal(v Value) int {
	if i, ok := p.litIdx[v]; ok {
		return i
	}
	p.literals = append(p.literals, v)
	p.litIdx[v] = len(p.literals) - 1
	return len(p.literals) - 1
}

func (p *Policy) cterm(t irTerm) cterm {
	c := cterm{kind: t.kind, v: t.v}
	if t.kind == tConst {
		c.lit = p.literal(t.val)
	}
	return c
}

func (p *Policy) compileRule(r *irRule) {
	pr := p.predicate(r.pred, len(r.params))
	cr := p.newRule(r, pr)
	pr.rules = append(pr.rules, cr)
	pr.hasRules = true
}

func (p *Policy) newRule(r *irRule, pr *pred) *crule {
	cr := &crule{ir: r, pred: pr, nvars: len(r.vars)}
	for _, prm := range r.params {
		cr.head = append(cr.head, p.cterm(prm.term))
		cr.headTyp = append(cr.headTyp, p.env.index(prm.typ))
	}
	for _, v := range r.vars {
		cr.varTyp = append(cr.varTyp, p.env.index(v.typ))
	}
	cr.body = p.clits(r.body)
	cr.plans = make([]atomic.Pointer[plan], 1<<len(r.params))
	return cr
}

func (p *Policy) clits(body []irLit) []clit {
	out := make([]clit, len(body))
	for i, l := range body {
		c := clit{kind: l.kind, pos: l.pos, op: l.op, a: p.cterm(l.a), b: p.cterm(l.b), typ: -1}
		switch l.kind {
		case lCall:
			c.pred = p.predicate(l.pred, len(l.args))
			for _, a := range l.args {
				c.args = append(c.args, p.cterm(a))
			}
		case lMatches:
			c.typ = p.env.index(l.typ)
		case lIn:
			for _, e := range l.list {
				c.list = append(c.list, p.cterm(e))
			}
		case lNot:
			c.sub = p.clits(l.sub)
		}
		out[i] = c
	}
	return out
}

// Metadata returns the roles, permissions and relations of every actor and
// resource block, keyed by type name.
func (p *Policy) Metadata() map[string]ResourceMetadata { return p.meta }

// Types returns the declared actor and resource type names, sorted.
func (p *Policy) Types() []string {
	var out []string
	for _, t := range p.env.types {
		if !t.builtin {
			out = append(out, t.name)
		}
	}
	sort.Strings(out)
	return out
}

// HasType reports whether name is a declared or built-in concrete type.
func (p *Policy) HasType(name string) bool {
	t, ok := p.env.lookup(name)
	return ok && !t.abstract
}

// Rules returns the desugared rules in Polar syntax (for debugging and tests).
func (p *Policy) Rules() []string {
	out := make([]string, len(p.rules))
	for i, r := range p.rules {
		out[i] = r.String()
	}
	return out
}

// CheckFact validates a fact against the policy's fact signatures (spec
// §6.4): the predicate must be known with that arity, every type declared,
// and the argument types must fit at least one signature.
func (p *Policy) CheckFact(f Fact) error {
	for i, a := range f.Args {
		t, ok := p.env.lookup(a.Type)
		if !ok {
			return fmt.Errorf("argument %d of %s has unknown type %s", i, f.Predicate, a.Type)
		}
		if t.abstract {
			return fmt.Errorf("argument %d of %s has the abstract type %s; use a concrete type", i, f.Predicate, a.Type)
		}
	}
	key := predKey(f.Predicate, len(f.Args))
	sigs := p.sigs[key]
	if len(sigs) == 0 {
		var arities []int
		for k := range p.sigs {
			if len(k) > len(f.Predicate) && k[:len(f.Predicate)+1] == f.Predicate+"/" {
				var n int
				fmt.Sscanf(k[len(f.Predicate)+1:], "%d", &n)
				arities = append(arities, n)
			}
		}
		if len(arities) > 0 {
			sort.Ints(arities)
			return fmt.Errorf("%s takes %v arguments in this policy, not %d", f.Predicate, arities, len(f.Args))
		}
		return fmt.Errorf("the policy does not use or declare a predicate named %s", f.Predicate)
	}
	for _, s := range sigs {
		ok := true
		for i, a := range f.Args {
			if s[i] != "" && !p.env.subtypeName(a.Type, s[i]) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("%s(%s) fits none of the signatures the policy allows: %s", f.Predicate, typesOf(f.Args), sigList(sigs))
}

func typesOf(vs []Value) string {
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += ", "
		}
		s += v.Type
	}
	return s
}
