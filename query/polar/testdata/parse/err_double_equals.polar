f(x) if x == 1;
