f(x, y) if y = x * 2;
