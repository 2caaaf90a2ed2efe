f(x) if g(x,);
