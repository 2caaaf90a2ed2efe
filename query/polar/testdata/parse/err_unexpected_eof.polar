f(x) if g(x) and
