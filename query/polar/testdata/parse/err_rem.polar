f(x) if x rem 2 = 0;
