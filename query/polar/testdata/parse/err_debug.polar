f(x) if debug();
