f(x) if x < @now;
