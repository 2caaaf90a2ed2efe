actor User {}
resource Doc {
  roles = ["a", ];
  "read" if "a" "b";
  "write" if forall;
  permissions = ["read", "write"];
}
f(x) if x = 1.0;
g(x) if x == 1;
h(x) if x.y = 2;
ok(x) if x = 3;
test "t" {
  assert f(x: );
  assert ok(3);
}
