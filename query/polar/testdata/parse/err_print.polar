f(x) if print(x) and g(x);
