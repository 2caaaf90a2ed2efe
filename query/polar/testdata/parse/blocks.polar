# Block forms: actor, resource, global, extends, declarations.
actor User {}

actor Group extends User {
  relations = { parent: Group, };
}

resource Asset {}

resource Image extends Asset, Media, {
  permissions = ["view", "edit",];
  roles = [];
  relations = {};
  custom = ["any key is accepted by the parser"];
  odd = { shape: Mismatch };
}

global {
  roles = ["admin", "support"];
  permissions = ["create"];
  "create" if "admin";
}

resource Folder extends Asset
{
  roles = ["viewer"]; permissions = ["read"];
  relations = {
    parent: Folder,
    owner: User
  };
  "read" if "viewer";
}
