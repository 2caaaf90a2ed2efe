f(and) if true;
