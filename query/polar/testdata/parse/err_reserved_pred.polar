in(x) if x = 1;
