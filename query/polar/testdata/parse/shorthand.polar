# Every shorthand rule form.
resource Repo {
  permissions = ["read", "write", "admin", "view"];
  roles = ["reader", "writer", "owner"];
  relations = { org: Org, parent: Repo, creator: User };

  "read" if "reader";
  "reader" if "member" on "org";
  "read" if global "support";
  role if role on "parent";
  permission if permission on "parent";
  "reader" if role on "org";
  "view" if "read" on resource;
  "read" if is_public(resource);
  "write" if "writer" and not_archived(resource);
  "write" if "owner" or "creator";
  "admin" if "owner" and ("member" on "org" or global "admin");
  "admin" if ("owner" or "writer") and "admin" on "org";
  "view" if "reader" or "writer" and "owner";
  "view" if ("reader" or "writer") or "owner";
  @internal "view" if has_flag(resource, true, 3, User{"x"});
  @a @b "view" if global role;
}
