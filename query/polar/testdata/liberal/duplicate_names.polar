# W002: a test or fixture name used twice. Tests never change what the
# policy answers, so a node loads the policy; the first fixture of a name is
# the one that setups include, and both tests run.
actor Member {}

resource Board {
  roles = ["reader"];
  permissions = ["view"];
  "view" if "reader";
}

test fixture readers {
  has_role(Member{"kim"}, "reader", Board{"roadmap"});
}

test fixture readers {
  has_role(Member{"lee"}, "reader", Board{"roadmap"});
}

test "readers can view" {
  setup { fixture readers; }
  assert allow(Member{"kim"}, "view", Board{"roadmap"});
  assert_not allow(Member{"lee"}, "view", Board{"roadmap"});
}

test "readers can view" {
  assert_not allow(Member{"kim"}, "view", Board{"roadmap"});
}
