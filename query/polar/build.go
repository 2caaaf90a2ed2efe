package polar

import (
	"fmt"
	"strconv"
)

// builder turns parsed files into desugared rules, reporting every problem it
// finds as a Diagnostic. It is used once per Compile call.
type builder struct {
	diags  ErrorList
	warns  ErrorList // problems that do not stop the policy loading (W codes)
	file   string
	env    *typeEnv
	blocks map[string]*blockDecls // by type name
	global *blockDecls
	rules  []*irRule

	declares  map[string][][]string // predKey -> fixed signatures from declare/type
	ruleTypes map[string][][]string // predKey -> signatures from `type`
	fixtures  map[string]*Fixture
	fixFile   map[string]string
	tests     []testDef
}

type testDef struct {
	block *TestBlock
	file  string
}

func (b *builder) errorf(pos Pos, code, format string, args ...any) {
	b.diags = append(b.diags, Diagnostic{Code: code, File: b.file, Pos: pos, Message: fmt.Sprintf(format, args...)})
}

// warnf records a warning: the policy still loads (see warnings.go).
func (b *builder) warnf(pos Pos, code, format string, args ...any) {
	b.warns = append(b.warns, Diagnostic{Code: code, File: b.file, Pos: pos, Message: fmt.Sprintf(format, args...)})
}

// collectTypes registers every block's type (pass 1).
func (b *builder) collectTypes(files []*File) {
	for _, f := range files {
		b.file = f.Name
		for _, it := range f.Items {
			blk, ok := it.(*Block)
			if !ok {
				continue
			}
			if blk.Kind == GlobalBlock {
				if b.global != nil {
					b.errorf(blk.Pos, "T002", "more than one global block")
					continue
				}
				b.global = &blockDecls{block: blk}
				continue
			}
			if prev, ok := b.env.lookup(blk.Name); ok {
				if prev.builtin {
					b.errorf(blk.NamePos, "T002", "%s is a built-in type and cannot be declared", blk.Name)
				} else if prev.kind != blk.Kind {
					b.errorf(blk.NamePos, "T002", "type %s is declared as both %s and %s", blk.Name, prev.kind, blk.Kind)
				} else {
					b.errorf(blk.NamePos, "T002", "type %s is declared twice", blk.Name)
				}
				continue
			}
			super := TypeResource
			if blk.Kind == ActorBlock {
				super = TypeActor
			}
			t := &typeInfo{name: blk.Name, kind: blk.Kind, block: blk, file: f.Name, supers: []string{super}}
			b.env.add(t)
			b.blocks[blk.Name] = &blockDecls{block: blk, name: blk.Name}
		}
	}
	// extends, now that every type is known
	for _, f := range files {
		b.file = f.Name
		for _, it := range f.Items {
			blk, ok := it.(*Block)
			if !ok || blk.Kind == GlobalBlock {
				continue
			}
			t, _ := b.env.lookup(blk.Name)
			if t == nil || t.block != blk {
				continue
			}
			for _, ext := range blk.Extends {
				st, ok := b.env.lookup(ext.Name)
				switch {
				case !ok:
					b.errorf(ext.Pos, "T001", "unknown type %s in extends", ext.Name)
				case st.builtin:
					b.errorf(ext.Pos, "T003", "%s cannot extend the built-in type %s", blk.Name, ext.Name)
				case st.kind != blk.Kind:
					b.errorf(ext.Pos, "T003", "%s %s cannot extend %s %s", blk.Kind, blk.Name, st.kind, ext.Name)
				default:
					t.supers = append(t.supers, ext.Name)
				}
			}
		}
	}
	// cycles through extends
	state := map[string]int{}
	var visit func(t *typeInfo) bool
	visit = func(t *typeInfo) bool {
		switch state[t.name] {
		case 1:
			return false
		case 2:
			return true
		}
		state[t.name] = 1
		for i, s := range t.supers {
			st := b.env.byName[s]
			if !visit(st) {
				if t.block != nil {
					b.file = t.file
					b.errorf(t.block.NamePos, "T003", "extends cycle through %s and %s", t.name, s)
				}
				t.supers = append(t.supers[:i:i], t.supers[i+1:]...)
				break
			}
		}
		state[t.name] = 2
		return true
	}
	for _, t := range b.env.types {
		visit(t)
	}
	b.env.close()
}

// collectDecls reads the declarations of every block (pass 2).
func (b *builder) collectDecls(files []*File) {
	for _, f := range files {
		b.file = f.Name
		for _, it := range f.Items {
			blk, ok := it.(*Block)
			if !ok {
				continue
			}
			var d *blockDecls
			if blk.Kind == GlobalBlock {
				d = b.global
			} else {
				d = b.blocks[blk.Name]
			}
			if d == nil || d.block != blk {
				continue
			}
			b.readDecls(d)
		}
	}
	// visible names: own plus inherited from supertypes' blocks (nearest wins)
	for _, t := range b.env.types {
		d := b.blocks[t.name]
		if d == nil {
			continue
		}
		d.visible = map[string]declKind{}
		d.visRel = map[string]string{}
		b.inherit(d, t, map[string]bool{})
	}
	if b.global != nil {
		b.global.visible = b.global.own
		b.global.visRel = b.global.relTarget
	}
}

func (b *builder) inherit(d *blockDecls, t *typeInfo, seen map[string]bool) {
	if seen[t.name] {
		return
	}
	seen[t.name] = true
	if src := b.blocks[t.name]; src != nil {
		for name, k := range src.own {
			if prev, ok := d.visible[name]; ok {
				if prev != k && src != d {
					b.file = ""
					b.errorf(d.block.NamePos, "B002", "%s inherits %q as a %s from %s but it is already a %s", d.name, name, k, t.name, prev)
				}
				continue
			}
			d.visible[name] = k
			if k == kindRel {
				d.visRel[name] = src.relTarget[name]
			}
		}
	}
	for _, s := range t.supers {
		if st, ok := b.env.lookup(s); ok && !st.builtin {
			b.inherit(d, st, seen)
		}
	}
}

func (b *builder) readDecls(d *blockDecls) {
	d.own = map[string]declKind{}
	d.relTarget = map[string]string{}
	seenKey := map[string]bool{}
	declare := func(pos Pos, name string, k declKind) bool {
		if prev, ok := d.own[name]; ok {
			b.errorf(pos, "B002", "%q is declared twice in %s (as %s and as %s)", name, d.label(), prev, k)
			return false
		}
		d.own[name] = k
		return true
	}
	for _, decl := range d.block.Decls {
		if seenKey[decl.Key] {
			b.errorf(decl.Pos, "B001", "%s is declared twice in %s", decl.Key, d.label())
			continue
		}
		seenKey[decl.Key] = true
		switch decl.Key {
		case "roles", "permissions":
			if decl.IsMap {
				b.errorf(decl.Pos, "B001", "%s must be a list of strings, not a map", decl.Key)
				continue
			}
			k := kindRole
			if decl.Key == "permissions" {
				k = kindPerm
			}
			for _, el := range decl.List {
				s, ok := el.(*StringLit)
				if !ok {
					b.errorf(el.Position(), "B001", "%s must contain only string literals", decl.Key)
					continue
				}
				if declare(s.Pos, s.Value, k) {
					if k == kindRole {
						d.roles = append(d.roles, s.Value)
					} else {
						d.permissions = append(d.permissions, s.Value)
					}
				}
			}
		case "relations":
			if !decl.IsMap {
				b.errorf(decl.Pos, "B001", "relations must be a map of name: Type, not a list")
				continue
			}
			if d.block.Kind == GlobalBlock {
				b.errorf(decl.Pos, "B005", "the global block cannot declare relations")
				continue
			}
			for _, r := range decl.Map {
				if _, ok := b.env.lookup(r.Type.Name); !ok {
					b.errorf(r.Type.Pos, "T001", "unknown type %s for relation %s", r.Type.Name, r.Name)
					continue
				}
				if declare(r.Pos, r.Name, kindRel) {
					d.relations = append(d.relations, r)
					d.relTarget[r.Name] = r.Type.Name
				}
			}
		default:
			b.errorf(decl.Pos, "B001", "unknown declaration %q in %s (expected roles, permissions or relations)", decl.Key, d.label())
		}
	}
}

func (d *blockDecls) label() string {
	if d.name == "" {
		return "the global block"
	}
	return d.block.Kind.String() + " " + d.name
}

// scope numbers the variables of one rule.
type scope struct {
	vars   []irVar
	byName map[string]int
}

func newScope() *scope { return &scope{byName: map[string]int{}} }

func (s *scope) named(name string) int {
	if i, ok := s.byName[name]; ok {
		return i
	}
	s.vars = append(s.vars, irVar{name: name})
	s.byName[name] = len(s.vars) - 1
	return len(s.vars) - 1
}

func (s *scope) fresh(name string) int {
	s.vars = append(s.vars, irVar{name: name})
	return len(s.vars) - 1
}

func (s *scope) v(i int) irTerm { return irTerm{kind: tVar, v: i} }

// term converts an AST term.
func (b *builder) term(t Term, s *scope) (irTerm, bool) {
	switch t := t.(type) {
	case *Var:
		return s.v(s.named(t.Name)), true
	case *Wildcard:
		return s.v(s.fresh("_")), true
	case *CurrentTime:
		return irTerm{kind: tTime}, true
	default:
		v, ok := b.constant(t)
		return irTerm{kind: tConst, val: v}, ok
	}
}

// constant converts a literal or typed literal to a value.
func (b *builder) constant(t Term) (Value, bool) {
	switch t := t.(type) {
	case *StringLit:
		return Value{TypeString, t.Value}, true
	case *IntLit:
		return Value{TypeInteger, strconv.FormatInt(t.Value, 10)}, true
	case *BoolLit:
		return Value{TypeBoolean, strconv.FormatBool(t.Value)}, true
	case *TypedLit:
		ti, ok := b.env.lookup(t.Type)
		if !ok {
			b.errorf(t.Pos, "T001", "unknown type %s", t.Type)
			return Value{}, false
		}
		if ti.abstract {
			b.errorf(t.Pos, "T004", "the abstract type %s cannot be used as a value type", t.Type)
			return Value{}, false
		}
		inner, ok := b.constant(t.Lit)
		if !ok {
			return Value{}, false
		}
		if ti.builtin {
			if inner.Type != t.Type {
				b.errorf(t.Pos, "T005", "%s{...} must contain a %s literal", t.Type, t.Type)
				return Value{}, false
			}
			return inner, true
		}
		if inner.Type != TypeString {
			b.errorf(t.Pos, "T007", "the id in %s{...} must be a string literal", t.Type)
			return Value{}, false
		}
		if inner.ID == "" {
			b.errorf(t.Pos, "T007", "the id in %s{...} must not be empty", t.Type)
			return Value{}, false
		}
		return Value{t.Type, inner.ID}, true
	}
	b.errorf(t.Position(), "P001", "expected a literal")
	return Value{}, false
}

// deadLiteral reports whether t is a typed literal of a type that no block
// declares. No value can equal it (facts are checked for types), so Oso's
// policies that mention one still load: a warning (W001) says what the
// construct containing it does (verdict).
func (b *builder) deadLiteral(t Term, where, verdict string) bool {
	tl, ok := t.(*TypedLit)
	if !ok {
		return false
	}
	if _, known := b.env.lookup(tl.Type); known {
		return false
	}
	b.warnf(tl.Pos, "W001", "unknown type %s in %s: no value has this type, so %s", tl.Type, where, verdict)
	return true
}

// checkType checks a type named by a declare or type signature. An unknown
// one is a warning (W001): no fact can hold a value of it, so the signature
// admits nothing and is dropped.
func (b *builder) checkType(ref TypeRef) bool {
	if _, ok := b.env.lookup(ref.Name); !ok {
		b.warnf(ref.Pos, "W001", "unknown type %s in a signature: no value has this type, so the signature is ignored", ref.Name)
		return false
	}
	return true
}

// dnf converts a rule body to disjunctive normal form.
func (b *builder) dnf(e Expr, s *scope) [][]irLit {
	switch e := e.(type) {
	case *And:
		out := [][]irLit{nil}
		for _, a := range e.Args {
			part := b.dnf(a, s)
			var next [][]irLit
			for _, x := range out {
				for _, y := range part {
					c := make([]irLit, 0, len(x)+len(y))
					next = append(next, append(append(c, x...), y...))
				}
			}
			out = next
		}
		return out
	case *Or:
		var out [][]irLit
		for _, a := range e.Args {
			out = append(out, b.dnf(a, s)...)
		}
		return out
	case *Not:
		inner := b.dnf(e.Arg, s)
		conj := make([]irLit, 0, len(inner))
		for _, d := range inner {
			conj = append(conj, irLit{kind: lNot, pos: e.Pos, sub: d})
		}
		return [][]irLit{conj}
	case *BoolExpr:
		if e.Value {
			return [][]irLit{nil}
		}
		return nil
	case *Call:
		l := irLit{kind: lCall, pos: e.Pos, pred: e.Name}
		dead := false
		for _, a := range e.Args {
			if b.deadLiteral(a, "a call to "+e.Name, "the call never holds") {
				dead = true
				continue
			}
			t, _ := b.term(a, s)
			l.args = append(l.args, t)
		}
		if dead {
			return nil
		}
		return [][]irLit{{l}}
	case *Matches:
		a, _ := b.term(e.Left, s)
		if a.kind != tVar {
			b.errorf(e.Pos, "P001", "the left side of matches must be a variable")
		}
		if _, ok := b.env.lookup(e.Type.Name); !ok {
			// Oso loads this (spec §13.4, W001): no value has the type, so
			// the condition is false and its conjunction is dropped.
			b.warnf(e.Type.Pos, "W001", "unknown type %s after matches: no value has this type, so the condition is always false", e.Type.Name)
			return nil
		}
		return [][]irLit{{{kind: lMatches, pos: e.Pos, a: a, typ: e.Type.Name}}}
	case *In:
		a, _ := b.term(e.Left, s)
		l := irLit{kind: lIn, pos: e.Pos, a: a}
		for _, el := range e.List {
			if b.deadLiteral(el, "a list after in", "this element never matches") {
				continue
			}
			t, ok := b.term(el, s)
			if ok && t.kind != tConst {
				b.errorf(el.Position(), "T005", "list elements after in must be literals, not variables")
				continue
			}
			l.list = append(l.list, t)
		}
		return [][]irLit{{l}}
	case *Compare:
		if e.Op == OpEq || e.Op == OpNe {
			verdict := "the unification never holds"
			if e.Op == OpNe {
				verdict = "the comparison always holds"
			}
			deadL := b.deadLiteral(e.Left, e.Op.String(), verdict)
			deadR := b.deadLiteral(e.Right, e.Op.String(), verdict)
			if deadL || deadR {
				for _, t := range []Term{e.Left, e.Right} {
					if _, ok := t.(*TypedLit); !ok {
						b.term(t, s) // name the variable in the rule's scope
					}
				}
				if e.Op == OpNe {
					return [][]irLit{nil}
				}
				return nil
			}
		}
		a, _ := b.term(e.Left, s)
		c, _ := b.term(e.Right, s)
		switch e.Op {
		case OpEq:
			return [][]irLit{{{kind: lEq, pos: e.Pos, a: a, b: c}}}
		case OpNe:
			return [][]irLit{{{kind: lNe, pos: e.Pos, a: a, b: c}}}
		default:
			return [][]irLit{{{kind: lCmp, pos: e.Pos, op: e.Op, a: a, b: c}}}
		}
	}
	b.errorf(e.Position(), "P001", "unsupported expression")
	return nil
}

// rule converts a top-level rule.
func (b *builder) rule(r *Rule) {
	for _, f := range r.Flags {
		b.errorf(f.Pos, "S001", "unknown rule flag @%s", f.Name)
	}
	s := newScope()
	params := make([]irParam, len(r.Params))
	dead := false
	for i, p := range r.Params {
		if b.deadLiteral(p.Term, fmt.Sprintf("parameter %d of %s", i+1, r.Name), "this rule never applies") {
			dead = true
			params[i].term = s.v(s.fresh("_"))
			continue
		}
		t, _ := b.term(p.Term, s)
		params[i].term = t
		if p.Spec != nil {
			if t.kind != tVar {
				b.errorf(p.Spec.Pos, "P001", "only variables and _ can have a type specializer")
			}
			if _, ok := b.env.lookup(p.Spec.Name); ok {
				params[i].typ = p.Spec.Name
			} else {
				// Like matches (W001): no value has the type, so the rule
				// never applies; Oso's sample policies declare such rules.
				b.warnf(p.Spec.Pos, "W001", "unknown type %s for parameter %d of %s: no value has this type, so this rule never applies", p.Spec.Name, i+1, r.Name)
				dead = true
			}
		}
		if t.kind == tTime {
			b.errorf(p.Term.Position(), "T005", "@current_unix_time cannot be a rule parameter")
		}
	}
	var bodies [][]irLit
	if r.Body == nil {
		bodies = [][]irLit{nil}
	} else {
		bodies = b.dnf(r.Body, s)
	}
	if dead {
		return
	}
	for _, body := range bodies {
		b.addRule(&irRule{pred: r.Name, params: params, body: body, vars: s.vars, pos: r.Pos, file: b.file, origin: "rule"})
	}
}

func (b *builder) addRule(r *irRule) {
	vars := make([]irVar, len(r.vars))
	copy(vars, r.vars)
	r.vars = vars
	b.rules = append(b.rules, r)
}
