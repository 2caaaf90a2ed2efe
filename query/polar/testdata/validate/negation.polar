actor User {}
resource Doc { permissions = ["read"]; }
has_permission(u: User, "read", d: Doc) if
  member(u, d) and not is_banned(u, reason) and not appealed(reason);
has_permission(u: User, "read", d: Doc) if
  member(u, d) and not has_permission(u, "read", d);
g(u: User) if member(u, d) and n < "ten";
k(u: User) if member(u, d) and x != u;
