f(x) if x = User{name: "ana"};
