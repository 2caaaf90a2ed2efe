f(x) if x = "café";
g(y) if y = 1; # bad ÿ in comment
h(Ã(x);
