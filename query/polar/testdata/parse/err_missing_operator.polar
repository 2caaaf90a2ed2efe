f(x) if x;
