f(x) if ;
