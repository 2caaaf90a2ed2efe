# W004: a relation whose target is not an actor type, used where a role
# would be. No actor can be the related object, so the condition never
# holds; whether Oso rejects the form is not documented, so the policy loads
# with a warning and every other rule keeps working.
actor Member {}

resource Team {
  roles = ["lead"];
}

resource Board {
  roles = ["reader"];
  permissions = ["view", "edit"];
  relations = { team: Team, author: Member };
  "view" if "reader";
  "view" if "team";
  "edit" if "author";
  "edit" if "lead" on "team";
}

test "the relation to a team grants nothing by itself" {
  setup {
    has_relation(Board{"roadmap"}, "team", Team{"core"});
    has_relation(Board{"roadmap"}, "author", Member{"kim"});
    has_role(Member{"lee"}, "lead", Team{"core"});
    has_role(Member{"max"}, "reader", Board{"roadmap"});
  }
  assert allow(Member{"kim"}, "edit", Board{"roadmap"});
  assert allow(Member{"lee"}, "edit", Board{"roadmap"});
  assert allow(Member{"max"}, "view", Board{"roadmap"});
  assert_not allow(Member{"kim"}, "view", Board{"roadmap"});
  assert_not allow(Member{"ann"}, "view", Board{"roadmap"});
}
