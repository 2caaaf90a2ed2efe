f(x) if x = User{y};
