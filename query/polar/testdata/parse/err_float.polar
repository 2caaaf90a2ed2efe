f(x) if x = 1.5;
