resource Doc {
  "read" if "viewer";
  "x" if "y" }
f(x) if g(x)
}
