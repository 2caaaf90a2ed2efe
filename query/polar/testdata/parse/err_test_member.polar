test "t" {
  f(1);
  assert f(1);
}
