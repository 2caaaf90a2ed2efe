actor User {}
test fixture people { has_role(User{"a"}, "r", Nope{"x"}); }
test fixture people {}
test "t" { setup { fixture missing; } assert allow(User{"a"}, "r", User{"b"}); }
test "t" { assert allow(User{"a"}, "r", User{"b"}); }
?= allow(User{"a"}, "r", User{"b"});
