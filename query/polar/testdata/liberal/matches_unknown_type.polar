# W001: a type after `matches` that no block declares. Oso's control plane
# accepts it (its own sample policies plan custom roles and groups this way),
# so a node loads it: no value has the type, the condition is false, and the
# rest of the policy works.
actor Member {}

resource Board {
  roles = ["reader", "owner"];
  permissions = ["view", "edit"];
  "view" if "reader";
  "reader" if "owner";
  "edit" if "owner";
}

# Planned: roles inherited from teams, and custom roles.
has_role(m: Member, role: String, b: Board) if
  t matches Team and
  in_team(m, t) and
  has_role(t, role, b);

has_permission(m: Member, action: String, b: Board) if
  r matches CustomRole and
  has_role(m, r, b) and
  grants(r, action);

# Under `not`, the false condition makes the negation true.
has_permission(m: Member, "view", b: Board) if
  is_guest(m, b) and
  not t matches Team;

test "undeclared types never match; everything else still applies" {
  setup {
    has_role(Member{"kim"}, "owner", Board{"roadmap"});
    has_role(Member{"lee"}, "reader", Board{"roadmap"});
    is_guest(Member{"max"}, Board{"roadmap"});
  }
  assert allow(Member{"kim"}, "edit", Board{"roadmap"});
  assert allow(Member{"lee"}, "view", Board{"roadmap"});
  assert_not allow(Member{"lee"}, "edit", Board{"roadmap"});
  assert allow(Member{"max"}, "view", Board{"roadmap"});
  assert_not allow(Member{"max"}, "edit", Board{"roadmap"});
  assert allow(m: Member, "view", Board{"roadmap"}) iff m in [Member{"kim"}, Member{"lee"}, Member{"max"}];
}
