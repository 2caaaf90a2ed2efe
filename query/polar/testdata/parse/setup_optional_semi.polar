actor User {}
test fixture people {
  f(User{"a"});
  f(User{"b"})
}
test "t" {
  setup {
    fixture people
  }
  assert f(User{"a"});
}
