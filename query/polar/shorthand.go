package polar

// Expansion of shorthand rules inside blocks (spec §9.4–9.6). Each shorthand
// rule becomes one ordinary rule per disjunct of its body.

const (
	varActor    = 0 // A: the actor
	varResource = 1 // X: the instance of the block's type
)

type shCtx struct {
	d       *blockDecls
	s       *scope
	headVar int // variable of a `role`/`permission` head, or -1
	headId  string
}

func (b *builder) expandBlock(d *blockDecls) {
	for _, sr := range d.block.Rules {
		b.expandShorthand(d, sr)
	}
}

func (b *builder) expandShorthand(d *blockDecls, sr *ShorthandRule) {
	for _, f := range sr.Flags {
		b.errorf(f.Pos, "S001", "unknown rule flag @%s", f.Name)
	}
	global := d.block.Kind == GlobalBlock
	s := newScope()
	s.fresh("actor")
	if !global {
		s.fresh("resource")
	}
	c := &shCtx{d: d, s: s, headVar: -1}
	A := s.v(varActor)
	var pred string
	var mid irTerm
	h := sr.Head
	if h.IsString {
		k, _ := d.kind(h.Value)
		switch k {
		case kindPerm:
			pred = "has_permission"
		case kindRole:
			pred = "has_role"
		case kindRel:
			b.errorf(h.Pos, "B006", "%q is a relation of %s; relations cannot be derived by shorthand rules", h.Value, d.label())
			return
		default:
			b.errorf(h.Pos, "B003", "%q is not declared as a role or permission in %s", h.Value, d.label())
			return
		}
		mid = irTerm{kind: tConst, val: Value{TypeString, h.Value}}
	} else {
		switch h.Value {
		case "role":
			pred = "has_role"
		case "permission":
			pred = "has_permission"
		default:
			b.errorf(h.Pos, "B003", "a shorthand rule head must be a string, role or permission, not %s", h.Value)
			return
		}
		c.headVar = s.fresh(h.Value)
		c.headId = h.Value
		s.vars[c.headVar].typ = TypeString
		mid = s.v(c.headVar)
	}
	params := []irParam{{term: A, typ: TypeActor}, {term: mid}}
	if !global {
		params = append(params, irParam{term: s.v(varResource), typ: d.name})
	}
	bodies, ok := b.shBody(c, sr.Body)
	if !ok {
		return
	}
	origin := "shorthand rule in " + d.label()
	for _, body := range bodies {
		b.addRule(&irRule{pred: pred, params: params, body: body, vars: s.vars, pos: sr.Pos, file: b.file, origin: origin})
	}
}

func (b *builder) shBody(c *shCtx, e ShExpr) ([][]irLit, bool) {
	switch e := e.(type) {
	case *ShAnd:
		out := [][]irLit{nil}
		for _, a := range e.Args {
			part, ok := b.shBody(c, a)
			if !ok {
				return nil, false
			}
			var next [][]irLit
			for _, x := range out {
				for _, y := range part {
					n := make([]irLit, 0, len(x)+len(y))
					next = append(next, append(append(n, x...), y...))
				}
			}
			out = next
		}
		return out, true
	case *ShOr:
		var out [][]irLit
		for _, a := range e.Args {
			part, ok := b.shBody(c, a)
			if !ok {
				return nil, false
			}
			out = append(out, part...)
		}
		return out, true
	case *ShCall:
		l := irLit{kind: lCall, pos: e.Call.Pos, pred: e.Call.Name}
		for _, a := range e.Call.Args {
			if v, ok := a.(*Var); ok {
				switch {
				case v.Name == "resource" && c.d.block.Kind != GlobalBlock:
					l.args = append(l.args, c.s.v(varResource))
					continue
				case v.Name == "actor":
					l.args = append(l.args, c.s.v(varActor))
					continue
				}
			}
			t, _ := b.term(a, c.s)
			l.args = append(l.args, t)
		}
		if e.Not {
			return [][]irLit{{{kind: lNot, pos: e.NotPos, sub: []irLit{l}}}}, true
		}
		return [][]irLit{{l}}, true
	case *ShGlobal:
		lit, ok := b.shGlobal(c, e)
		if !ok {
			return nil, false
		}
		return [][]irLit{{lit}}, true
	case *ShAtom:
		lits, ok := b.shAtom(c, e)
		if !ok {
			return nil, false
		}
		if lits == nil {
			return nil, true // a condition that never holds: no disjunct
		}
		return [][]irLit{lits}, true
	}
	return nil, false
}

func (b *builder) shGlobal(c *shCtx, e *ShGlobal) (irLit, bool) {
	if b.global == nil {
		b.errorf(e.Pos, "B005", "global %q is used but the policy has no global block", e.Name.Value)
		return irLit{}, false
	}
	if !e.Name.IsString {
		b.errorf(e.Pos, "B005", "global must be followed by a role or permission name in quotes")
		return irLit{}, false
	}
	k := b.global.own[e.Name.Value]
	var pred string
	switch k {
	case kindRole:
		pred = "has_role"
	case kindPerm:
		pred = "has_permission"
	default:
		b.errorf(e.Pos, "B005", "%q is not declared as a role or permission in the global block", e.Name.Value)
		return irLit{}, false
	}
	A := c.s.v(varActor)
	return irLit{kind: lCall, pos: e.Pos, pred: pred, args: []irTerm{A, strTerm(e.Name.Value)}}, true
}

func strTerm(s string) irTerm { return irTerm{kind: tConst, val: Value{TypeString, s}} }

func (b *builder) shAtom(c *shCtx, e *ShAtom) ([]irLit, bool) {
	d := c.d
	global := d.block.Kind == GlobalBlock
	A := c.s.v(varActor)
	// `"y" on resource` means `"y"` (spec §9.5).
	on := e.On
	if on != nil && !on.IsString && on.Value == "resource" {
		on = nil
	}
	if on == nil {
		if !e.Term.IsString {
			b.errorf(e.Pos, "B003", "%s in a shorthand body must be followed by on \"relation\"", e.Term.Value)
			return nil, false
		}
		y := e.Term.Value
		k, target := d.kind(y)
		switch {
		case k == kindPerm && global:
			return []irLit{{kind: lCall, pos: e.Pos, pred: "has_permission", args: []irTerm{A, strTerm(y)}}}, true
		case k == kindRole && global:
			return []irLit{{kind: lCall, pos: e.Pos, pred: "has_role", args: []irTerm{A, strTerm(y)}}}, true
		case k == kindPerm:
			return []irLit{{kind: lCall, pos: e.Pos, pred: "has_permission", args: []irTerm{A, strTerm(y), c.s.v(varResource)}}}, true
		case k == kindRole:
			return []irLit{{kind: lCall, pos: e.Pos, pred: "has_role", args: []irTerm{A, strTerm(y), c.s.v(varResource)}}}, true
		case k == kindRel:
			if !b.env.subtypeName(target, TypeActor) {
				// No actor is a target: the condition never holds. Whether Oso
				// rejects this is not documented (spec Q17), so the policy
				// loads with a warning rather than not at all.
				b.warnf(e.Pos, "W004", "relation %q points to %s, which is not an actor type, so using it as a role never holds for an actor", y, target)
				return nil, true
			}
			return []irLit{
				{kind: lCall, pos: e.Pos, pred: "has_relation", args: []irTerm{c.s.v(varResource), strTerm(y), A}},
				{kind: lMatches, pos: e.Pos, a: A, typ: target},
			}, true
		}
		b.errorf(e.Term.Pos, "B003", "%q is not declared in %s", y, d.label())
		return nil, false
	}
	if global {
		b.errorf(on.Pos, "B005", "on cannot be used in the global block")
		return nil, false
	}
	if !on.IsString {
		b.errorf(on.Pos, "B004", "on must be followed by a relation name in quotes or resource")
		return nil, false
	}
	rk, target := d.kind(on.Value)
	if rk != kindRel {
		b.errorf(on.Pos, "B004", "%q is not declared as a relation of %s", on.Value, d.label())
		return nil, false
	}
	td := b.blocks[target]
	if td == nil {
		b.errorf(on.Pos, "B004", "relation %q points to %s, which has no block", on.Value, target)
		return nil, false
	}
	Y := c.s.v(c.s.fresh(""))
	prefix := []irLit{
		{kind: lMatches, pos: e.Pos, a: Y, typ: target},
		{kind: lCall, pos: e.Pos, pred: "has_relation", args: []irTerm{c.s.v(varResource), strTerm(on.Value), Y}},
	}
	if !e.Term.IsString {
		var pred string
		switch e.Term.Value {
		case "role":
			pred = "has_role"
		case "permission":
			pred = "has_permission"
		default:
			b.errorf(e.Term.Pos, "B003", "expected a string, role or permission before on, found %s", e.Term.Value)
			return nil, false
		}
		var v irTerm
		if c.headVar >= 0 && c.headId == e.Term.Value {
			v = c.s.v(c.headVar)
		} else {
			i := c.s.fresh("")
			c.s.vars[i].typ = TypeString
			v = c.s.v(i)
		}
		return append(prefix, irLit{kind: lCall, pos: e.Pos, pred: pred, args: []irTerm{A, v, Y}}), true
	}
	y := e.Term.Value
	k, rtarget := td.kind(y)
	switch k {
	case kindPerm:
		return append(prefix, irLit{kind: lCall, pos: e.Pos, pred: "has_permission", args: []irTerm{A, strTerm(y), Y}}), true
	case kindRole:
		return append(prefix, irLit{kind: lCall, pos: e.Pos, pred: "has_role", args: []irTerm{A, strTerm(y), Y}}), true
	case kindRel:
		_ = rtarget
		return append(prefix, irLit{kind: lCall, pos: e.Pos, pred: "has_relation", args: []irTerm{Y, strTerm(y), A}}), true
	}
	b.errorf(e.Term.Pos, "B004", "%q is not declared in %s (the target of relation %q)", y, td.label(), on.Value)
	return nil, false
}
