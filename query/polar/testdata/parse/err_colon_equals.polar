f(x) if y := x;
