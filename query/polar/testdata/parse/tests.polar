# Test syntax: fixtures, setup, assertions and iff.
test fixture two_owners {
  owns(User{"ann"}, Plot{"p1"});
  owns(User{"bo"}, Plot{"p2"});
}

test fixture empty {}

test "owners can water their own plot" {
  setup {
    fixture two_owners;
    rain_forecast(Plot{"p1"}, false);
    counted(Plot{"p1"}, -3, "x");
  }
  assert can_water(User{"ann"}, Plot{"p1"});
  assert_not can_water(User{"ann"}, Plot{"p2"});
  assert allow(User{"ann"}, action: String, Plot{"p1"}) iff action in ["water", "view"];
  assert allow(User{"ann"}, _, Plot{"p1"});
  assert allow(User{"ann"}, "view", _: Plot);
  assert q(x: Integer) iff x > 3 and x < 10;
}

test "only setup" {
  setup {}
}

test "no setup" {
  assert f(1);
}

test "empty" {}
