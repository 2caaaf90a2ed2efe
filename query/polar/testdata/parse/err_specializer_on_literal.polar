f("a": String);
