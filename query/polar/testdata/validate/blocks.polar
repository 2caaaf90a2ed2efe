actor User {}
resource Repo {
  roles = ["reader"];
  permissions = ["read"];
  relations = { org: Org };
  "read" if "reader";
  "push" if "reader";
  "read" if "member" on "org";
  "read" if "x" on "nope";
}
