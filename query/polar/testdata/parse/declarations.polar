# declare, rule types and inline queries.
declare is_public(Document);
declare has_relation(Repo, String, Org);
declare nothing();

type has_role(actor: Actor, role: String, resource: Resource);
type empty();

?= allow(User{"a"}, "read", Repo{"r"});
?= x = 1 or not y(x);
