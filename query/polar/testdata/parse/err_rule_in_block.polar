resource Doc {
  has_role(u, "x", d) if true;
}
