f(x) if x in y;
