f(x) if x = "line
break";
g(1);
