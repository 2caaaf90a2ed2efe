# W001: a rule parameter, a `declare` or a `type` signature naming a type
# that no block declares. Oso's sample policies carry such rules (a nested
# group rule written before the group type existed). No value has the type:
# the rule never applies and the signature admits nothing; the policy loads.
actor Member {}

resource Board {
  roles = ["reader"];
  permissions = ["view"];
  "view" if "reader";
}

in_team(m: Member, t: Team) if
  in_team(m, parent) and
  subteam(parent, t);

declare subteam(Team, Team);
type rank(level: Grade);

has_permission(m: Member, "view", b: Board) if
  is_public(b) and
  is_member(m);

test "rules over undeclared types are inert" {
  setup {
    has_role(Member{"kim"}, "reader", Board{"roadmap"});
    is_public(Board{"news"});
    is_member(Member{"lee"});
  }
  assert allow(Member{"kim"}, "view", Board{"roadmap"});
  assert allow(Member{"lee"}, "view", Board{"news"});
  assert_not allow(Member{"lee"}, "view", Board{"roadmap"});
}
