f(x) if x > 2e9 and x < -3.25;
