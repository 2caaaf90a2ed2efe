actor User {}
resource A extends B {}
resource B extends A {}
actor User {}
global {}
global {}
f(x: Nope) if g(x);
h(x, x) ;
