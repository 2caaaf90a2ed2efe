f(x) if x = y of z;
