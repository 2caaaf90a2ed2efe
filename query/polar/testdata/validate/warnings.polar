# Each line here is accepted by Oso's control plane, so it loads with a
# warning (W001, W002) instead of failing.
actor User {}
resource Doc { permissions = ["read"]; }
has_permission(u: User, "read", d: Doc) if g matches Group and member(u, g) and owner(g, d);
in_group(u: User, g: Group) if member(u, g);
declare member(User, Team);
type rank(x: Level, n: Integer);
test fixture f {}
test fixture f { owner(User{"a"}, Doc{"d"}) }
test "t" { assert_not allow(User{"a"}, "read", Doc{"d"}); }
test "t" { assert_not allow(User{"b"}, "read", Doc{"d"}); }
