f(x) if x matches! User;
