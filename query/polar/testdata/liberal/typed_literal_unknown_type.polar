# W001: a typed literal whose type no block declares, in a rule. No stored
# value has that type, so a call or unification with it never holds, a `!=`
# always holds, a list element never matches, and a rule with one as a
# parameter never applies; the policy loads and the rest works.
actor Member {}

resource Board {
  roles = ["reader"];
  permissions = ["view", "edit", "pin", "star"];
  "view" if "reader";
}

# Planned: a staff team that may edit every board.
has_permission(m: Member, "edit", _: Board) if in_team(m, Team{"staff"});
has_permission(m: Member, "pin", b: Board) if has_role(m, "reader", b) and not in_team(m, Team{"muted"});
has_permission(m: Member, "star", b: Board) if has_role(m, "reader", b) and m != Bot{"ci"};
has_permission(m: Member, "view", b: Board) if
  in_team(m, t) and t in [Team{"guests"}, "guests"] and open(b);
welcome(Team{"new"}, m: Member) if joined(m);

test "literals of undeclared types match nothing" {
  setup {
    has_role(Member{"kim"}, "reader", Board{"roadmap"});
    in_team(Member{"lee"}, "guests");
    open(Board{"news"});
  }
  assert_not allow(Member{"kim"}, "edit", Board{"roadmap"});
  assert allow(Member{"kim"}, "pin", Board{"roadmap"});
  assert allow(Member{"kim"}, "star", Board{"roadmap"});
  assert allow(Member{"lee"}, "view", Board{"news"});
  assert_not allow(Member{"lee"}, "view", Board{"roadmap"});
}
