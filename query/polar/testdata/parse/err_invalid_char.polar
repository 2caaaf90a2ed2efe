f(x) if x = $y;
