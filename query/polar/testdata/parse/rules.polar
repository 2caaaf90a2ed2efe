# Top-level rules: heads with specializers, literals and typed literals.
allow(actor, action, resource) if has_permission(actor, action, resource);

has_permission(_: User, "read", doc: Document) if is_public(doc);

has_role(user: User, role: String, project: Project) if
  group matches Group and
  in_group(user, group) and
  has_role(group, role, project);

is_admin(User{"root"});
limit(Account{"a1"}, 5000);
limit(Account{"a2"}, Integer{-5});
flag(Feature{"x"}, Boolean{true}, false);
seed();
any(_, _: Repo, x);

@internal @other noop(x) if x = 1;

actor(x) if is_actor(x);
test(x) if x = "test is a rule name here";
global(x) if x = 1;
declare(x) if x = 2;
type(x) if x = 3;
