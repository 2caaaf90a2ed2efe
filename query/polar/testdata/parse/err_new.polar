f(x) if x = new User("a");
