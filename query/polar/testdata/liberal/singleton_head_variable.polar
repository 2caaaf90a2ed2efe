# W003: a rule parameter with a name but no type, used nowhere else in the
# rule. It can only mean what `_` means (any value), so the policy loads with
# a warning instead of failing type inference.
actor Member {}
actor Service {}

resource Board {
  permissions = ["view", "edit"];
}

allow(who, "view", b: Board) if is_public(b);
allow(m: Member, action, b: Board) if owner(m, b);

test "an unused, untyped parameter matches any value" {
  setup {
    is_public(Board{"news"});
    owner(Member{"kim"}, Board{"roadmap"});
  }
  assert allow(Member{"lee"}, "view", Board{"news"});
  assert allow(Service{"ci"}, "view", Board{"news"});
  assert_not allow(Member{"lee"}, "edit", Board{"news"});
  assert allow(Member{"kim"}, "archive", Board{"roadmap"});
  assert_not allow(Member{"lee"}, "view", Board{"roadmap"});
}
