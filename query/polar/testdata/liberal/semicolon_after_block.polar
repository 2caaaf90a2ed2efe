# Oso's Extends reference writes its blocks as `actor User {};`. One ";"
# after a block's closing brace is accepted (without a warning: it changes
# nothing); a second one, or one anywhere else, is still a syntax error.
actor Staff {};
resource Ticket {
  roles = ["owner"];
  permissions = ["close"];
  "close" if "owner";
};
global {
  roles = ["admin"];
};

test "blocks followed by a semicolon work as without one" {
  setup {
    has_role(Staff{"ida"}, "owner", Ticket{"t1"});
  }
  assert allow(Staff{"ida"}, "close", Ticket{"t1"});
  assert_not allow(Staff{"joe"}, "close", Ticket{"t1"});
}
