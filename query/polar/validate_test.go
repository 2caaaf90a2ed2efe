package polar

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestValidationErrors checks that every error code of spec §13.4 is
// reported, at the right line, with a message naming the problem.
func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name, src, code, msg string
		line                 int
	}{
		{"syntax", "actor User {", "P001", "", 1},
		{"unknown relation target", "resource R { relations = { p: Nope }; }", "T001", "unknown type Nope", 1},
		{"unknown extends", "resource R extends Nope {}", "T001", "unknown type Nope", 1},
		{"type declared twice", "actor User {}\nactor User {}", "T002", "declared twice", 2},
		{"actor and resource", "actor User {}\nresource User {}", "T002", "both actor and resource", 2},
		{"two global blocks", "global {}\nglobal {}", "T002", "more than one global block", 2},
		{"builtin redeclared", "resource String {}", "T002", "built-in", 1},
		{"extends cycle", "resource A extends B {}\nresource B extends A {}", "T003", "cycle", 2},
		{"extends kind mismatch", "actor U {}\nresource R extends U {}", "T003", "cannot extend", 2},
		{"abstract literal", "actor User {}\nf(x: User) if g(x, Actor{\"a\"});", "T004", "abstract", 2},
		{"conflicting types", "actor User {}\nresource R {}\nf(x: User) if x matches R and g(x);", "T005", "cannot be both", 3},
		{"uninferable", "actor User {}\nf(x, x);", "T005", "cannot infer the type of variable x", 2},
		{"string comparison", "actor User {}\nf(u: User) if g(u, n) and n < \"x\";", "T007", "not an Integer", 2},
		{"float literal", "actor User {}\nf(u: User) if g(u, 1.5);", "T007", "float", 2},
		{"integer overflow", "actor User {}\nf(u: User) if g(u, 99999999999999999999);", "T007", "", 2},
		{"bad declaration key", "resource R { colours = [\"red\"]; }", "B001", "unknown declaration", 1},
		{"key repeated", "resource R { roles = [\"a\"]; roles = [\"b\"]; }", "B001", "declared twice", 1},
		{"roles as map", "resource R { roles = { a: R }; }", "B001", "list of strings", 1},
		{"relations as list", "resource R { relations = [\"a\"]; }", "B001", "map", 1},
		{"non-string role", "resource R { roles = [1]; }", "B001", "only string literals", 1},
		{"name declared twice", "resource R { roles = [\"a\"]; permissions = [\"a\"]; }", "B002", "declared twice", 1},
		{"undeclared head", "resource R { roles = [\"a\"]; \"b\" if \"a\"; }", "B003", "\"b\" is not declared", 1},
		{"undeclared body", "resource R { roles = [\"a\"]; \"a\" if \"b\"; }", "B003", "\"b\" is not declared", 1},
		{"bad head identifier", "resource R { roles = [\"a\"]; thing if \"a\"; }", "B003", "role or permission", 1},
		{"unknown relation", "resource R { roles = [\"a\"]; \"a\" if \"a\" on \"nope\"; }", "B004", "not declared as a relation", 1},
		{"target without block", "resource R { roles = [\"a\"]; relations = { p: String }; \"a\" if \"a\" on \"p\"; }", "B004", "has no block", 1},
		{"undeclared in target", "resource O {}\nresource R { roles = [\"a\"]; relations = { o: O }; \"a\" if \"x\" on \"o\"; }", "B004", "\"x\" is not declared in resource O", 2},
		{"global without block", "resource R { roles = [\"a\"]; \"a\" if global \"x\"; }", "B005", "no global block", 1},
		{"global undeclared", "global { roles = [\"g\"]; }\nresource R { roles = [\"a\"]; \"a\" if global \"x\"; }", "B005", "not declared", 2},
		{"relations in global", "resource O {}\nglobal { relations = { o: O }; }", "B005", "cannot declare relations", 2},
		{"on in global", "global { roles = [\"a\", \"b\"]; \"a\" if \"b\" on \"r\"; }", "B005", "global block", 1},
		{"relation as head", "actor U {}\nresource R { relations = { owner: U }; \"owner\" if \"owner\"; }", "B006", "cannot be derived", 2},
		{"compound negation", "actor User {}\nf(u: User) if g(u) and not (h(u) and k(u));", "N001", "single predicate call", 2},
		{"negated rule predicate", "actor User {}\nh(u: User) if k(u);\nf(u: User) if g(u) and not h(u);", "N001", "defined by rules", 3},
		{"unsafe negation", "actor User {}\nf(u: User) if g(u) and not h(u, v) and not k(v);", "N002", "variable v", 2},
		{"unbound comparison", "actor User {}\nf(u: User) if g(u) and x != u;", "N004", "never bound", 2},
		{"unknown flag", "actor User {}\n@weird f(u: User) if g(u);", "S001", "flag", 2},
		{"inline query", "?= f(1);", "S001", "inline queries", 1},
		{"forall", "actor User {}\nf(u: User) if forall(g(u), h(u));", "S001", "forall", 2},
		{"unknown fixture", "actor User {}\ntest \"t\" { setup { fixture nope; } assert f(User{\"a\"}); }", "X001", "unknown fixture nope", 2},
		{"setup fact unknown type", "test \"t\" { setup { f(Nope{\"a\"}); } }", "T001", "unknown type Nope", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := compileErr(tc.src, CompileOptions{})
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("got %v, want an ErrorList", err)
			}
			for _, d := range list {
				if d.Code == tc.code && strings.Contains(d.Message, tc.msg) && d.Pos.Line == tc.line {
					return
				}
			}
			t.Errorf("want %s at line %d containing %q; got:\n%v", tc.code, tc.line, tc.msg, err)
		})
	}
}

func compileErr(src string, opt CompileOptions) error {
	f, err := Parse("t.polar", src)
	if err != nil {
		return err
	}
	_, err = Compile([]*File{f}, opt)
	return err
}

func TestRecursionThroughNegation(t *testing.T) {
	src := `actor User {}
p(u: User) if q(u) and not r(u);
r(u: User) if q(u) and not p(u);`
	err := compileErr(src, CompileOptions{CompoundNegation: true})
	if err == nil || !strings.Contains(err.Error(), "N003") {
		t.Fatalf("got %v, want N003", err)
	}
}

func TestCompoundNegationWhenEnabled(t *testing.T) {
	src := `actor User {}
resource Doc { permissions = ["read"]; }
# holds every required role
has_permission(u: User, "read", d: Doc) if
  member(u, d) and
  not (r matches String and required(d, r) and not holds(u, r));`
	if err := compileErr(src, CompileOptions{}); err == nil {
		t.Fatal("compound negation accepted in default mode")
	}
	f, _ := Parse("t.polar", src)
	p, err := Compile([]*File{f}, CompileOptions{CompoundNegation: true})
	if err != nil {
		t.Fatal(err)
	}
	facts := parseFacts(t, p, `
member(User{"a"}, Doc{"d"}); member(User{"b"}, Doc{"d"});
required(Doc{"d"}, "x"); required(Doc{"d"}, "y");
holds(User{"a"}, "x"); holds(User{"a"}, "y"); holds(User{"b"}, "x");`)
	o := &QueryOptions{Context: facts}
	runCheck(t, p, emptyDB{}, o, "authorize User:a read Doc:d true")
	runCheck(t, p, emptyDB{}, o, "authorize User:b read Doc:d false")
}

// TestDesugaring checks the expansion of every shorthand form against the
// tables of spec §9.4–9.6 (variable names are internal; _N are generated).
func TestDesugaring(t *testing.T) {
	p := mustCompile(t, `
actor User {
  permissions = ["impersonate"];
  relations = { manager: User };
  "impersonate" if "manager";
}
resource Board { roles = ["admin"]; permissions = ["see"]; }
global {
  roles = ["auditor", "root"];
  permissions = ["create"];
  "create" if "root";
  "auditor" if "root";
}
resource Ticket {
  permissions = ["view", "close", "see2"];
  roles = ["watcher", "owner"];
  relations = { board: Board, reporter: User };
  "view"    if "watcher";
  "watcher" if "owner";
  "close"   if "reporter";
  "owner"   if "admin" on "board";
  "see2"    if "see" on "board";
  "view"    if global "auditor";
  "view"    if is_public(resource);
  "view"    if "watcher" on resource;
  role      if role on "board";
  "close"   if role on "board";
  "view"    if "owner" and "watcher" or "reporter";
}`)
	want := []string{
		`has_permission(actor: Actor, "impersonate", resource: User) if has_relation(resource, "manager", actor) and actor matches User;`,
		`has_permission(actor: Actor, "create") if has_role(actor, "root");`,
		`has_role(actor: Actor, "auditor") if has_role(actor, "root");`,
		`has_permission(actor: Actor, "view", resource: Ticket) if has_role(actor, "watcher", resource);`,
		`has_role(actor: Actor, "watcher", resource: Ticket) if has_role(actor, "owner", resource);`,
		`has_permission(actor: Actor, "close", resource: Ticket) if has_relation(resource, "reporter", actor) and actor matches User;`,
		`has_role(actor: Actor, "owner", resource: Ticket) if _2 matches Board and has_relation(resource, "board", _2) and has_role(actor, "admin", _2);`,
		`has_permission(actor: Actor, "see2", resource: Ticket) if _2 matches Board and has_relation(resource, "board", _2) and has_permission(actor, "see", _2);`,
		`has_permission(actor: Actor, "view", resource: Ticket) if has_role(actor, "auditor");`,
		`has_permission(actor: Actor, "view", resource: Ticket) if is_public(resource);`,
		`has_permission(actor: Actor, "view", resource: Ticket) if has_role(actor, "watcher", resource);`,
		`has_role(actor: Actor, role, resource: Ticket) if _3 matches Board and has_relation(resource, "board", _3) and has_role(actor, role, _3);`,
		`has_permission(actor: Actor, "close", resource: Ticket) if _2 matches Board and has_relation(resource, "board", _2) and has_role(actor, _3, _2);`,
		`has_permission(actor: Actor, "view", resource: Ticket) if has_role(actor, "owner", resource) and has_role(actor, "watcher", resource);`,
		`has_permission(actor: Actor, "view", resource: Ticket) if has_relation(resource, "reporter", actor) and actor matches User;`,
		`allow(actor, action, resource) if has_permission(actor, action, resource);`,
		`allow(actor, action) if has_permission(actor, action);`,
	}
	got := map[string]bool{}
	for _, r := range p.Rules() {
		got[r] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing expansion:\n  %s\nrules:\n  %s", w, strings.Join(p.Rules(), "\n  "))
		}
	}
}

func TestCustomAllowOfOneAritySuppressesOnlyThatDefault(t *testing.T) {
	p := mustCompile(t, `actor User {}
resource R { permissions = ["x"]; }
allow(u: User, "x", r: R) if special(u, r);`)
	for _, r := range p.Rules() {
		if strings.HasPrefix(r, "allow(actor, action, resource)") {
			t.Errorf("default allow/3 generated despite a custom one: %s", r)
		}
	}
	found := false
	for _, r := range p.Rules() {
		found = found || strings.HasPrefix(r, "allow(actor, action)")
	}
	if !found {
		t.Error("default allow/2 missing")
	}
}

func TestCheckFact(t *testing.T) {
	p := mustCompile(t, example2+"\ndeclare audit_log(User, Integer);")
	cases := []struct {
		fact Fact
		err  string
	}{
		{Fact{"has_role", []Value{{"User", "a"}, {"String", "member"}, {"Company", "c"}}}, ""},
		{Fact{"has_relation", []Value{{"Ticket", "t"}, {"String", "project"}, {"Project", "p"}}}, ""},
		{Fact{"audit_log", []Value{{"User", "a"}, {"Integer", "5"}}}, ""},
		{Fact{"audit_log", []Value{{"User", "a"}, {"String", "5"}}}, "fits none"},
		{Fact{"audit_log", []Value{{"User", "a"}}}, "takes [2] arguments"},
		{Fact{"does_not_exist", []Value{{"User", "a"}, {"String", "x"}}}, "predicate named does_not_exist"},
		{Fact{"has_role", []Value{{"Robot", "a"}, {"String", "member"}, {"Company", "c"}}}, "unknown type Robot"},
		{Fact{"has_role", []Value{{"Actor", "a"}, {"String", "member"}, {"Company", "c"}}}, "abstract"},
		{Fact{"has_relation", []Value{{"Ticket", "t"}, {"String", "project"}, {"Company", "p"}}}, "fits none"},
	}
	for _, tc := range cases {
		t.Run(tc.fact.Predicate+"/"+tc.err, func(t *testing.T) {
			err := p.CheckFact(tc.fact)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("got %v, want an error containing %q", err, tc.err)
			}
		})
	}
}

// TestMetadata compares the whole metadata: every actor and resource
// block, roles and permissions sorted, and a global entry that is always
// there (check-api.md §4.8).
func TestMetadata(t *testing.T) {
	none := ResourceMetadata{Roles: []string{}, Permissions: []string{}, Relations: map[string]string{}}
	cases := []struct {
		name, src string
		want      map[string]ResourceMetadata
	}{
		{"no global block", example2, map[string]ResourceMetadata{
			"User":    none,
			"Company": {Roles: []string{"admin", "member"}, Permissions: []string{}, Relations: map[string]string{}},
			"Project": {Roles: []string{"contributor", "lead"}, Permissions: []string{"archive", "open"}, Relations: map[string]string{"company": "Company"}},
			"Ticket":  {Roles: []string{}, Permissions: []string{"close", "comment"}, Relations: map[string]string{"author": "User", "project": "Project"}},
			"global":  none,
		}},
		{"global block", `actor User { permissions = ["impersonate"]; }
global { roles = ["support", "admin"]; permissions = ["create_org"]; "create_org" if "admin"; }`,
			map[string]ResourceMetadata{
				"User":   {Roles: []string{}, Permissions: []string{"impersonate"}, Relations: map[string]string{}},
				"global": {Roles: []string{"admin", "support"}, Permissions: []string{"create_org"}, Relations: map[string]string{}},
			}},
		{"empty policy", "", map[string]ResourceMetadata{"global": none}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mustCompile(t, tc.src).Metadata()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("metadata:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestValidationWarnings: what Oso's control plane accepts loads, with a
// warning at the right place, and behaves as the warning says.
func TestValidationWarnings(t *testing.T) {
	cases := []struct {
		name, src, code, msg string
		line                 int
	}{
		{"unknown matches type", "actor User {}\nf(x: User) if y matches Nope and g(x, y);", "W001", "unknown type Nope after matches", 2},
		{"unknown matches type under not", "actor User {}\nf(x: User) if g(x, y) and not y matches Nope;", "W001", "always false", 2},
		{"unknown specializer", "actor User {}\nf(x: Nope) if g(x);", "W001", "never applies", 2},
		{"unknown specializer, no body", "actor User {}\nf(_: User, _: Nope);", "W001", "parameter 2 of f", 2},
		{"unknown declare type", "declare f(Nope);", "W001", "signature is ignored", 1},
		{"unknown typed literal in a call", "actor User {}\nf(x: User) if g(x, Nope{\"a\"});", "W001", "unknown type Nope in a call to g", 2},
		{"unknown typed literal unified", "actor User {}\nf(x: User) if g(x, y) and y = Nope{\"a\"};", "W001", "never holds", 2},
		{"unknown typed literal compared", "actor User {}\nf(x: User) if g(x, y) and y != Nope{\"a\"};", "W001", "always holds", 2},
		{"unknown typed literal in a list", "actor User {}\nf(x: User) if g(x, y) and y in [User{\"a\"}, Nope{\"b\"}];", "W001", "element never matches", 2},
		{"unknown typed literal as a parameter", "actor User {}\nf(x: User, Nope{\"a\"}) if g(x);", "W001", "parameter 2 of f", 2},
		{"unknown rule type", "type f(x: Nope);", "W001", "signature is ignored", 1},
		{"non-actor relation as role", "resource O {}\nresource R { permissions = [\"p\"]; relations = { o: O }; \"p\" if \"o\"; }", "W004", "not an actor type", 2},
		{"singleton head variable", "actor User {}\nresource D {}\nallow(actor, \"read\", d: D) if is_public(d);", "W003", "variable actor of allow is used nowhere else", 3},
		{"call outside the declared signatures", "actor User {}\nresource B {}\nresource T { relations = { board: B }; }\nf(t: T, u: User) if has_relation(t, \"board\", u);", "W006", "fit none of its declared signatures", 4},
		{"call outside a declare", "actor User {}\nresource B {}\ndeclare g(User, B);\nf(u: User, v: User) if g(u, v);", "W006", "fit none", 4},
		{"duplicate fixture", "test fixture a {}\ntest fixture a {}", "W002", "declared twice", 2},
		{"duplicate test", "test \"t\" {}\ntest \"t\" {}", "W002", "declared twice", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, tc.src)
			for _, d := range p.Warnings() {
				if d.Code == tc.code && strings.Contains(d.Message, tc.msg) && d.Pos.Line == tc.line {
					return
				}
			}
			t.Errorf("want %s at line %d containing %q; got:\n%v", tc.code, tc.line, tc.msg, p.Warnings())
		})
	}
}

// TestUnknownTypeSemantics: an unknown type after matches is false (true
// under not), and a rule with an unknown specializer never applies.
func TestUnknownTypeSemantics(t *testing.T) {
	p := mustCompile(t, `actor User {}
resource Doc { permissions = ["read", "edit", "share"]; }
has_permission(u: User, "read", d: Doc) if owner(d, u) or (g matches Group and member(u, g));
has_permission(u: User, "edit", d: Doc) if owner(d, u) and not g matches Group;
has_permission(u: User, "share", d: Doc) if g matches Group and owner(d, u);
has_permission(u: User, "share", g: Group) if owner(g, u);
allow(u: User, "any", d: Doc) if owner(d, u) and x matches Nope;
allow(u: User, "team", d: Doc) if owner(d, u) and member(u, Team{"core"});
allow(u: User, "not-team", d: Doc) if owner(d, u) and not member(u, Team{"core"});
allow(u: User, "listed", d: Doc) if owner(d, u) and u in [User{"ann"}, Bot{"b"}];
allow(u: User, "other", d: Doc) if owner(d, u) and u != Bot{"b"};
allow(u: User, "same", d: Doc) if owner(d, u) and u = Bot{"b"};
allow(u: User, a: String, d: Doc) if has_permission(u, a, d);`)
	if len(p.Warnings()) != 10 {
		t.Errorf("warnings: %v", p.Warnings())
	}
	facts := parseFacts(t, p, `owner(Doc{"d"}, User{"ann"});`)
	o := &QueryOptions{Context: facts}
	for _, c := range []string{
		"authorize User:ann read Doc:d true",
		"authorize User:ann edit Doc:d true",
		"authorize User:ann share Doc:d false",
		"authorize User:ann any Doc:d false",
		"authorize User:ann team Doc:d false",
		"authorize User:ann not-team Doc:d true",
		"authorize User:ann listed Doc:d true",
		"authorize User:ann other Doc:d true",
		"authorize User:ann same Doc:d false",
		"authorize User:bob read Doc:d false",
	} {
		runCheck(t, p, emptyDB{}, o, c)
	}
}

// TestCheckFactAdmitsCallSignatures: a call outside the declared relations
// (W006) widens what facts are admitted, so a node takes the facts the
// policy's rules read.
func TestCheckFactAdmitsCallSignatures(t *testing.T) {
	p := mustCompile(t, `actor User {}
resource Org {}
resource Plan {}
resource Feature { relations = { plan: Plan }; }
subscribed(o: Org) if p matches Plan and has_relation(p, "subscribed", o);`)
	for _, f := range []Fact{
		{"has_relation", []Value{{"Feature", "f"}, {"String", "plan"}, {"Plan", "p"}}},
		{"has_relation", []Value{{"Plan", "p"}, {"String", "subscribed"}, {"Org", "o"}}},
	} {
		if err := p.CheckFact(f); err != nil {
			t.Errorf("CheckFact(%v): %v", f, err)
		}
	}
	if err := p.CheckFact(Fact{"has_relation", []Value{{"Org", "o"}, {"String", "x"}, {"Plan", "p"}}}); err == nil || !strings.Contains(err.Error(), "fits none") {
		t.Errorf("a fact no signature or call admits: got %v, want fits none", err)
	}
}
