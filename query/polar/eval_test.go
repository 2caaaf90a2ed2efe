package polar

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// specExample is a worked example of spec §17: a policy, facts, and checks.
// A check is one line:
//
//	authorize ACTOR ACTION RESOURCE true|false
//	actions ACTOR RESOURCE a,b,c        (empty after the resource: none)
//	list ACTOR ACTION TYPE id1,id2      ("*" first: a wildcard answer too)
//	query PRED ARG... = row;row         (rows: args joined by ",")
type specExample struct {
	name   string
	policy string
	facts  string
	checks []string
}

const example1 = `
actor User {}
resource Workspace {
  roles = ["guest", "editor", "owner"];
  permissions = ["view", "edit", "delete"];
  "view"   if "guest";
  "edit"   if "editor";
  "delete" if "owner";
  "guest"  if "editor";
  "editor" if "owner";
}`

const example2 = `
actor User {}
resource Company {
  roles = ["member", "admin"];
  "member" if "admin";
}
resource Project {
  roles = ["contributor", "lead"];
  permissions = ["open", "archive"];
  relations = { company: Company };
  "contributor" if "member" on "company";
  "lead"        if "admin"  on "company";
  "contributor" if "lead";
  "open"        if "contributor";
  "archive"     if "lead";
}
resource Ticket {
  permissions = ["comment", "close"];
  relations = { project: Project, author: User };
  "comment" if "contributor" on "project";
  "close"   if "lead" on "project";
  "close"   if "author";
}`

const example2Facts = `
has_role(User{"cleo"}, "member", Company{"acme"});
has_role(User{"dev"},  "admin",  Company{"acme"});
has_relation(Project{"apollo"}, "company", Company{"acme"});
has_relation(Ticket{"t7"}, "project", Project{"apollo"});
has_relation(Ticket{"t8"}, "project", Project{"apollo"});
has_relation(Ticket{"t8"}, "author",  User{"cleo"});`

var specExamples = []specExample{
	{
		name:   "1 rbac",
		policy: example1,
		facts: `has_role(User{"ana"}, "owner",  Workspace{"w1"});
			has_role(User{"ben"}, "guest",  Workspace{"w1"});
			has_role(User{"ben"}, "editor", Workspace{"w2"});`,
		checks: []string{
			"authorize User:ana delete Workspace:w1 true",
			"authorize User:ben edit Workspace:w1 false",
			"actions User:ana Workspace:w1 delete,edit,view",
			"actions User:ben Workspace:w2 edit,view",
			"list User:ben view Workspace w1,w2",
			"authorize User:nobody view Workspace:w1 false",
			"authorize User:ana fly Workspace:w1 false",
		},
	},
	{
		name:   "2 relations",
		policy: example2,
		facts:  example2Facts,
		checks: []string{
			"authorize User:cleo comment Ticket:t7 true",
			"authorize User:cleo close Ticket:t7 false",
			"authorize User:cleo close Ticket:t8 true",
			"authorize User:dev close Ticket:t7 true",
			"actions User:dev Project:apollo archive,open",
			"list User:cleo close Ticket t8",
			"list User:dev close Ticket t7,t8",
		},
	},
	{
		name: "3 global roles",
		policy: `
actor User {}
global {
  roles = ["support", "superuser"];
  permissions = ["create_company"];
  "support"        if "superuser";
  "create_company" if "superuser";
}
resource Company {
  roles = ["member", "auditor"];
  permissions = ["read", "export"];
  "auditor" if global "support";
  "read"    if "member";
  "read"    if "auditor";
  "export"  if global "superuser";
}`,
		facts: `has_role(User{"sam"},  "support");
			has_role(User{"root"}, "superuser");
			has_role(User{"mia"},  "member", Company{"acme"});`,
		checks: []string{
			"authorize User:sam read Company:globex true",
			"authorize User:sam export Company:acme false",
			"authorize User:root read Company:acme true",
			"authorize User:root export Company:acme true",
			"query allow User:root String:create_company = User:root,String:create_company",
			"query allow User:mia String:create_company =",
			"authorize User:mia read Company:globex false",
			"list User:sam read Company *",
			"list User:mia read Company acme",
		},
	},
	{
		name: "4 conditions",
		policy: `
actor User {}
resource Document {
  roles = ["viewer"];
  permissions = ["read", "edit"];
  relations = { owner: User };
  "read" if "viewer";
  "read" if is_public(resource);
  "edit" if "owner";
}
has_permission(user: User, "edit", doc: Document) if
  has_role(user, "viewer", doc) and
  allows_suggestions(doc, true);`,
		facts: `is_public(Document{"faq"});
			allows_suggestions(Document{"draft"}, true);
			allows_suggestions(Document{"memo"},  false);
			has_role(User{"kim"}, "viewer", Document{"draft"});
			has_role(User{"kim"}, "viewer", Document{"memo"});
			has_relation(Document{"memo"}, "owner", User{"lee"});`,
		checks: []string{
			"authorize User:nobody read Document:faq true",
			"authorize User:kim edit Document:draft true",
			"authorize User:kim edit Document:memo false",
			"authorize User:lee edit Document:memo true",
			"actions User:kim Document:memo read",
			"list User:kim read Document draft,faq,memo",
		},
	},
	{
		name: "5 negation",
		policy: `
actor User {}
resource Organization {
  roles = ["member"];
  permissions = ["read"];
  "read" if "member";
}
resource Repository {
  roles = ["member"];
  permissions = ["read", "push"];
  relations = { org: Organization };
  "read" if "member";
  "push" if "member";
}
has_role(user: User, "member", repo: Repository) if
  o matches Organization and
  has_relation(repo, "org", o) and
  has_role(user, "member", o) and
  not is_private(repo);
allow(user: User, action: String, res: Resource) if
  has_permission(user, action, res) and
  not is_suspended(user);`,
		facts: `has_role(User{"ola"}, "member", Organization{"acme"});
			has_role(User{"pat"}, "member", Organization{"acme"});
			is_suspended(User{"pat"});
			has_relation(Repository{"site"},  "org", Organization{"acme"});
			has_relation(Repository{"vault"}, "org", Organization{"acme"});
			is_private(Repository{"vault"});
			has_role(User{"quin"}, "member", Repository{"vault"});`,
		checks: []string{
			"authorize User:ola push Repository:site true",
			"authorize User:ola read Repository:vault false",
			"authorize User:quin read Repository:vault true",
			"authorize User:pat read Organization:acme false",
			"actions User:pat Repository:site",
			"list User:ola read Repository site",
		},
	},
	{
		name: "6 recursive groups with a cycle",
		policy: `
actor User {}
actor Group {}
resource Folder {
  roles = ["reader", "writer"];
  permissions = ["browse", "upload"];
  "reader" if "writer";
  "browse" if "reader";
  "upload" if "writer";
}
in_group(user: User, group: Group) if member_of(user, group);
in_group(user: User, group: Group) if
  sub matches Group and
  in_group(user, sub) and
  subgroup_of(sub, group);
has_role(user: User, role: String, folder: Folder) if
  group matches Group and
  in_group(user, group) and
  has_role(group, role, folder);`,
		facts: `member_of(User{"rae"}, Group{"interns"});
			subgroup_of(Group{"interns"}, Group{"eng"});
			subgroup_of(Group{"eng"},     Group{"staff"});
			subgroup_of(Group{"staff"},   Group{"eng"});
			has_role(Group{"staff"}, "writer", Folder{"shared"});
			has_role(Group{"eng"},   "reader", Folder{"specs"});`,
		checks: []string{
			"query in_group User:rae Group:_ = User:rae,Group:eng;User:rae,Group:interns;User:rae,Group:staff",
			"authorize User:rae upload Folder:shared true",
			"authorize User:rae browse Folder:specs true",
			"authorize User:rae upload Folder:specs false",
			"authorize User:sol browse Folder:shared false",
			"list User:rae browse Folder shared,specs",
		},
	},
	{
		name: "7 time",
		policy: `
actor User {}
resource Report {
  roles = ["reader"];
  permissions = ["download"];
  "download" if "reader";
}
has_role(user: User, role: String, report: Report) if
  until matches Integer and
  temp_role(user, role, report, until) and
  @current_unix_time < until;`,
		facts: `temp_role(User{"val"}, "reader", Report{"q3"}, 4102444800);
			temp_role(User{"wes"}, "reader", Report{"q3"}, 946684800);`,
		checks: []string{
			"authorize User:val download Report:q3 true",
			"authorize User:wes download Report:q3 false",
		},
	},
	{
		name:   "8A custom allow replaces the default",
		policy: example8,
		facts:  example8Facts,
		checks: []string{
			"authorize User:hal view Invoice:inv1 true",
			"authorize User:hal pay Invoice:inv1 false",
			"authorize User:ivy pay Invoice:inv1 false",
			"authorize User:ivy view Invoice:inv1 false",
		},
	},
	{
		name:   "8B custom allow restating the default",
		policy: example8 + "\nallow(user: User, action: String, res: Resource) if has_permission(user, action, res);",
		facts:  example8Facts,
		checks: []string{
			"authorize User:hal view Invoice:inv1 true",
			"authorize User:hal pay Invoice:inv1 false",
			"authorize User:ivy pay Invoice:inv1 true",
			"authorize User:ivy view Invoice:inv1 true",
		},
	},
	{
		name: "9 custom roles",
		policy: `
actor User {}
resource Role {}
resource Workspace {
  permissions = ["view", "billing.read", "billing.write"];
}
has_permission(user: User, perm: String, ws: Workspace) if
  r matches Role and
  has_role(user, r, ws) and
  role_grants(r, perm);`,
		facts: `role_grants(Role{"finance"}, "billing.read");
			role_grants(Role{"finance"}, "billing.write");
			has_role(User{"amy"}, Role{"finance"}, Workspace{"hq"});`,
		checks: []string{
			"actions User:amy Workspace:hq billing.read,billing.write",
			"authorize User:amy view Workspace:hq false",
		},
	},
	{
		name: "10 role if role on",
		policy: `
actor User {}
resource Drive { roles = ["viewer", "editor"]; }
resource Folder {
  roles = ["viewer", "editor"];
  relations = { drive: Drive, parent: Folder };
  role if role on "drive";
  role if role on "parent";
}
resource File {
  roles = ["viewer", "editor"];
  permissions = ["open", "save"];
  relations = { folder: Folder };
  role if role on "folder";
  "viewer" if "editor";
  "open" if "viewer";
  "save" if "editor";
}`,
		facts: `has_role(User{"gus"}, "editor", Drive{"d1"});
			has_relation(Folder{"root"}, "drive",  Drive{"d1"});
			has_relation(Folder{"src"},  "parent", Folder{"root"});
			has_relation(Folder{"lib"},  "parent", Folder{"src"});
			has_relation(File{"main.go"}, "folder", Folder{"lib"});
			has_role(User{"hana"}, "viewer", Folder{"src"});`,
		checks: []string{
			"authorize User:gus save File:main.go true",
			"actions User:gus File:main.go open,save",
			"authorize User:hana open File:main.go true",
			"authorize User:hana save File:main.go false",
			"list User:hana open File main.go",
		},
	},
	{
		name: "11 management chain",
		policy: `
actor Employee {
  roles = ["supervisor"];
  relations = { reports_to: Employee };
  "supervisor" if "reports_to";
  "supervisor" if "supervisor" on "reports_to";
}
resource Timesheet {
  permissions = ["view", "approve"];
  relations = { owner: Employee };
  "view"    if "owner";
  "view"    if "supervisor" on "owner";
  "approve" if "supervisor" on "owner";
}`,
		facts: `has_relation(Employee{"eve"}, "reports_to", Employee{"fay"});
			has_relation(Employee{"fay"}, "reports_to", Employee{"gil"});
			has_relation(Timesheet{"ts1"}, "owner", Employee{"eve"});`,
		checks: []string{
			"authorize Employee:gil approve Timesheet:ts1 true",
			"authorize Employee:eve approve Timesheet:ts1 false",
			"authorize Employee:eve view Timesheet:ts1 true",
			"list Employee:fay approve Timesheet ts1",
		},
	},
}

const example8 = `
actor User {
  permissions = ["impersonate"];
  "impersonate" if global "helpdesk";
}
global { roles = ["helpdesk"]; }
resource Invoice {
  roles = ["payer"];
  permissions = ["view", "pay"];
  "view" if "payer";
  "pay"  if "payer";
}
allow(user: User, "view", inv: Invoice) if
  target matches User and
  acting_as(user, target) and
  has_permission(user, "impersonate", target) and
  has_permission(target, "view", inv);`

const example8Facts = `has_role(User{"ivy"}, "payer", Invoice{"inv1"});
	has_role(User{"hal"}, "helpdesk");
	acting_as(User{"hal"}, User{"ivy"});`

func parseValue(tb testing.TB, s string) Value {
	tb.Helper()
	typ, id, ok := strings.Cut(s, ":")
	if !ok {
		tb.Fatalf("bad value %q", s)
	}
	if id == "_" {
		return Value{Type: typ}
	}
	return Value{typ, id}
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// runCheck evaluates one check line against db with options o.
func runCheck(t *testing.T, p *Policy, db Database, o *QueryOptions, line string) {
	t.Helper()
	f := strings.Fields(line)
	switch f[0] {
	case "authorize":
		got, err := p.Authorize(db, parseValue(t, f[1]), f[2], parseValue(t, f[3]), o)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if want := f[4] == "true"; got != want {
			t.Errorf("%s: got %v", line, got)
		}
	case "actions":
		got, all, err := p.Actions(db, parseValue(t, f[1]), parseValue(t, f[2]), o)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		want := ""
		if len(f) > 3 {
			want = f[3]
		}
		if strings.Join(got, ",") != want || all {
			t.Errorf("%s: got %v (all=%v)", line, got, all)
		}
	case "list":
		got, all, err := p.List(db, parseValue(t, f[1]), f[2], f[3], o)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		want := ""
		if len(f) > 4 {
			want = f[4]
		}
		wantAll := strings.HasPrefix(want, "*")
		want = strings.TrimPrefix(strings.TrimPrefix(want, "*"), ",")
		if strings.Join(got, ",") != want || all != wantAll {
			t.Errorf("%s: got %v (all=%v)", line, got, all)
		}
	case "query":
		head, want, _ := strings.Cut(line, " =")
		hf := strings.Fields(head)
		var args []Value
		for _, a := range hf[2:] {
			args = append(args, parseValue(t, a))
		}
		rows, err := p.Query(db, hf[1], args, o)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		var got []string
		for _, r := range rows {
			s := make([]string, len(r))
			for i, v := range r {
				s[i] = v.String()
			}
			got = append(got, strings.Join(s, ","))
		}
		sort.Strings(got)
		if strings.Join(got, ";") != strings.TrimSpace(want) {
			t.Errorf("%s: got %s", line, strings.Join(got, ";"))
		}
	default:
		t.Fatalf("unknown check %q", line)
	}
}

// TestSpecExamples runs the worked examples of spec §17 with the facts in a
// store, and again with the same facts sent as context facts.
func TestSpecExamples(t *testing.T) {
	now := func() int64 { return 1767225600 } // 2026-01-01
	for _, ex := range specExamples {
		t.Run(ex.name, func(t *testing.T) {
			p := mustCompile(t, ex.policy)
			facts := parseFacts(t, p, ex.facts)
			db := newMemDB()
			for _, f := range facts {
				db.add(f)
			}
			for _, c := range ex.checks {
				t.Run("stored/"+c, func(t *testing.T) {
					runCheck(t, p, db, &QueryOptions{Now: now}, c)
				})
				t.Run("context/"+c, func(t *testing.T) {
					runCheck(t, p, emptyDB{}, &QueryOptions{Now: now, Context: facts}, c)
				})
			}
		})
	}
}

// TestContextFactsAreNotKept is spec Example 13.
func TestContextFactsAreNotKept(t *testing.T) {
	p := mustCompile(t, example2)
	db := newMemDB()
	for _, f := range parseFacts(t, p, example2Facts) {
		db.add(f)
	}
	ctx := &QueryOptions{Context: parseFacts(t, p, `has_relation(Ticket{"t9"}, "project", Project{"apollo"});`)}
	runCheck(t, p, db, nil, "authorize User:cleo comment Ticket:t9 false")
	runCheck(t, p, db, ctx, "authorize User:cleo comment Ticket:t9 true")
	runCheck(t, p, db, nil, "authorize User:cleo comment Ticket:t9 false")
	runCheck(t, p, db, ctx, "list User:cleo comment Ticket t7,t8,t9")
}

func TestClockIsInjected(t *testing.T) {
	p := mustCompile(t, `
actor User {}
resource Doc { roles = ["r"]; permissions = ["read"]; "read" if "r"; }
has_role(u: User, "r", d: Doc) if until(u, d, t) and @current_unix_time < t;`)
	facts := parseFacts(t, p, `until(User{"a"}, Doc{"d"}, 1000);`)
	for _, tc := range []struct {
		now  int64
		want string
	}{{999, "true"}, {1000, "false"}, {5000, "false"}} {
		o := &QueryOptions{Now: func() int64 { return tc.now }, Context: facts}
		runCheck(t, p, emptyDB{}, o, "authorize User:a read Doc:d "+tc.want)
	}
}

// TestWallClockReadWhenUsed checks the default clock, which a query reads
// only when the policy asks for the time.
func TestWallClockReadWhenUsed(t *testing.T) {
	p := mustCompile(t, `
actor User {}
resource Doc { roles = ["r"]; permissions = ["read"]; "read" if "r"; }
has_role(u: User, "r", d: Doc) if until(u, d, t) and @current_unix_time < t;`)
	facts := parseFacts(t, p, `until(User{"a"}, Doc{"past"}, 1000); until(User{"a"}, Doc{"future"}, 99999999999);`)
	o := &QueryOptions{Context: facts}
	runCheck(t, p, emptyDB{}, o, "authorize User:a read Doc:past false")
	runCheck(t, p, emptyDB{}, o, "authorize User:a read Doc:future true")
}

// TestManyQueryLocalValues checks values the store does not have, past
// the number looked up by scanning (localScan) and again in a query with
// few of them.
func TestManyQueryLocalValues(t *testing.T) {
	p := mustCompile(t, `
actor User {}
resource Doc { permissions = ["read"]; }
allow(u: User, "read", d: Doc) if grant(u, d);`)
	var src strings.Builder
	for i := range 3 * localScan {
		fmt.Fprintf(&src, "grant(User{\"u%d\"}, Doc{\"d%d\"});\n", i, i)
	}
	o := &QueryOptions{Context: parseFacts(t, p, src.String())}
	for i := range 3 * localScan {
		runCheck(t, p, emptyDB{}, o, fmt.Sprintf("authorize User:u%d read Doc:d%d true", i, i))
		runCheck(t, p, emptyDB{}, o, fmt.Sprintf("authorize User:u%d read Doc:d%d false", i, (i+1)%(3*localScan)))
	}
	runCheck(t, p, emptyDB{}, o, "list User:u5 read Doc d5")
	few := &QueryOptions{Context: parseFacts(t, p, `grant(User{"x"}, Doc{"y"});`)}
	runCheck(t, p, emptyDB{}, few, "authorize User:x read Doc:y true")
	runCheck(t, p, emptyDB{}, few, "authorize User:u5 read Doc:d5 false")
}

func TestBudgetIsAnErrorNotFalse(t *testing.T) {
	p := mustCompile(t, example2)
	db := newMemDB()
	for _, f := range parseFacts(t, p, example2Facts) {
		db.add(f)
	}
	_, err := p.Authorize(db, Value{"User", "dev"}, "close", Value{"Ticket", "t7"}, &QueryOptions{MaxSteps: 3})
	if !errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("got %v, want ErrBudgetExceeded", err)
	}
	if !strings.Contains(err.Error(), "3 steps") {
		t.Errorf("message %q does not name the budget", err)
	}
}

func TestUnknownTypeInRequest(t *testing.T) {
	p := mustCompile(t, example1)
	_, err := p.Authorize(emptyDB{}, Value{"Robot", "r2"}, "view", Value{"Workspace", "w1"}, nil)
	if !errors.Is(err, ErrUnknownType) {
		t.Fatalf("got %v, want ErrUnknownType", err)
	}
	_, _, err = p.List(emptyDB{}, Value{"User", "a"}, "view", "Nope", nil)
	if !errors.Is(err, ErrUnknownType) {
		t.Fatalf("list: got %v, want ErrUnknownType", err)
	}
}
