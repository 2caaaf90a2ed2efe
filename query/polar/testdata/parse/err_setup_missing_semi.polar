actor User {}
test "t" {
  setup {
    f(User{"a"})
    g(User{"b"});
  }
  assert f(User{"a"});
}
