test "t" {
  setup { f(1); }
  assert f(1);
  setup { f(2); }
  assert f(2);
}
