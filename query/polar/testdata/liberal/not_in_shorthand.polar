# A shorthand rule may negate a call, as a rule body may: "read" if
# "member" on "team" and not archived(resource). The negation follows the
# usual rules (one stored predicate, variables bound elsewhere).
actor Person {}

resource Team {
  roles = ["member"];
}

resource Board {
  permissions = ["read", "edit"];
  relations = { team: Team };
  "read" if "member" on "team" and not archived(resource);
  "edit" if "read" and not frozen(resource);
}

test "archived and frozen boards" {
  setup {
    has_role(Person{"kai"}, "member", Team{"core"});
    has_relation(Board{"live"}, "team", Team{"core"});
    has_relation(Board{"old"}, "team", Team{"core"});
    has_relation(Board{"cold"}, "team", Team{"core"});
    archived(Board{"old"});
    frozen(Board{"cold"});
  }
  assert allow(Person{"kai"}, "read", Board{"live"});
  assert allow(Person{"kai"}, "edit", Board{"live"});
  assert_not allow(Person{"kai"}, "read", Board{"old"});
  assert allow(Person{"kai"}, "read", Board{"cold"});
  assert_not allow(Person{"kai"}, "edit", Board{"cold"});
}
