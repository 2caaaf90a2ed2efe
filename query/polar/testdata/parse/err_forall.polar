f(x) if forall(y in x, g(y));
