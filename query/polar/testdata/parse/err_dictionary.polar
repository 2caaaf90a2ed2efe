f(x) if x = {name: "ana"};
