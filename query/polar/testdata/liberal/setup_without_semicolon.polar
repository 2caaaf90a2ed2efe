# The `;` after the last fact of a setup or fixture block (or after a
# trailing fixture reference) may be left out, as Oso's own docs write tests.
actor Member {}

resource Board {
  roles = ["reader", "owner"];
  permissions = ["view", "edit"];
  "view" if "reader";
  "reader" if "owner";
  "edit" if "owner";
}

test fixture owners {
  has_role(Member{"kim"}, "owner", Board{"roadmap"});
  has_role(Member{"ana"}, "owner", Board{"budget"})
}

test "last setup fact without a semicolon" {
  setup {
    has_role(Member{"lee"}, "reader", Board{"roadmap"})
  }
  assert allow(Member{"lee"}, "view", Board{"roadmap"});
  assert_not allow(Member{"lee"}, "edit", Board{"roadmap"});
}

test "fixture without a final semicolon, and a trailing fixture reference" {
  setup {
    has_role(Member{"lee"}, "reader", Board{"budget"});
    fixture owners
  }
  assert allow(Member{"kim"}, "edit", Board{"roadmap"});
  assert allow(Member{"ana"}, "edit", Board{"budget"});
  assert allow(Member{"lee"}, "view", Board{"budget"});
}

test "an empty setup" {
  setup {}
  assert_not allow(Member{"kim"}, "view", Board{"roadmap"});
}
