f(x) if y = x mod 2;
