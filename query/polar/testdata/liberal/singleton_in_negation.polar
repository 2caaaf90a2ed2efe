# A variable that occurs only inside a negated call means what _ means
# there: "no value at all". With a name starting with _ it loads silently;
# with another name it loads with warning W003. Variables that also occur
# elsewhere must still be bound by a positive call (N002).
actor Member {}

resource Space {
  roles = ["guest"];
  permissions = ["enter"];
  "enter" if "guest";
}

has_role(m: Member, "guest", s: Space) if
  invited(m, s) and
  not closed_for(s, _reason);

has_permission(m: Member, "enter", s: Space) if
  owner(m, s) and
  not locked(s, why);

test "a singleton in not is existential" {
  setup {
    invited(Member{"ann"}, Space{"hall"});
    invited(Member{"ann"}, Space{"lab"});
    closed_for(Space{"lab"}, "repairs");
    owner(Member{"bo"}, Space{"yard"});
    owner(Member{"bo"}, Space{"shed"});
    locked(Space{"shed"}, "winter");
  }
  assert allow(Member{"ann"}, "enter", Space{"hall"});
  assert_not allow(Member{"ann"}, "enter", Space{"lab"});
  assert allow(Member{"bo"}, "enter", Space{"yard"});
  assert_not allow(Member{"bo"}, "enter", Space{"shed"});
}
