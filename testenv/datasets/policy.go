package datasets

// PolicyFilename is the filename that Events gives the policy.
const PolicyFilename = "gitclub.polar"

// GitclubPolicy is the Polar policy (Oso Cloud dialect) that the generated
// facts are written for. It uses only resource-block shorthand (spec §9), the
// `resource` variable in a shorthand call (§9.5), a global block (§9.6) and
// one longhand rule for group membership.
//
// The Reference evaluator implements exactly this policy by hand; a change
// here must be mirrored there.
const GitclubPolicy = `# gitclub: organizations own repositories, repositories own issues.
# Facts for this policy come from testenv/datasets (see its doc.go).
actor User {}
actor Group {}

global {
  roles = ["support"];
}

resource Organization {
  roles = ["member", "admin"];
  permissions = ["read", "create_repository", "manage_members"];

  "member" if "admin";

  "read" if "member";
  "read" if global "support";
  "create_repository" if "admin";
  "manage_members" if "admin";
}

resource Repository {
  roles = ["reader", "writer", "maintainer", "admin"];
  permissions = ["read", "create_issue", "push", "manage_issues", "delete"];
  relations = { organization: Organization };

  "reader" if "member" on "organization";
  "admin" if "admin" on "organization";
  "maintainer" if "admin";
  "writer" if "maintainer";
  "reader" if "writer";

  "read" if "reader";
  "read" if is_public(resource);
  "create_issue" if "reader";
  "push" if "writer";
  "manage_issues" if "maintainer";
  "delete" if "admin";
}

resource Issue {
  permissions = ["read", "comment", "close"];
  relations = { repository: Repository, creator: User };

  "read" if "reader" on "repository";
  "comment" if "read";
  "close" if "creator";
  "close" if "maintainer" on "repository";
}

# Members of a group hold every role the group holds on a repository.
has_role(user: User, role: String, repo: Repository) if
  group matches Group and
  in_group(user, group) and
  has_role(group, role, repo);
`

// Actions declared by GitclubPolicy, per resource type, in declaration order.
var (
	OrganizationActions = []string{"read", "create_repository", "manage_members"}
	RepositoryActions   = []string{"read", "create_issue", "push", "manage_issues", "delete"}
	IssueActions        = []string{"read", "comment", "close"}
)

// Type names used in generated facts.
const (
	TypeUser         = "User"
	TypeGroup        = "Group"
	TypeOrganization = "Organization"
	TypeRepository   = "Repository"
	TypeIssue        = "Issue"
	TypeString       = "String"
)
