f(user) if user.name = "ana";
