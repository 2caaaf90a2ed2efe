# gitclub: Outpost's gitclub model (testenv/datasets.GitclubPolicy) in Rego.
#
# Input:  {"actor": {"type": "User", "id": "user-0000001"},
#          "action": "read",
#          "resource": {"type": "Issue", "id": "issue-00000042"}}
# Data:   the documents built by gitclub.Build (see doc.go for their shape).
#
# allow mirrors datasets.Reference.Authorize; readable_repos mirrors
# datasets.Reference.List(actor, "read", "Repository").
package gitclub

default allow := false

# Repository roles by rank. A role implies every role of lower rank:
# "maintainer" if "admin"; "writer" if "maintainer"; "reader" if "writer".
repo_rank := {"reader": 1, "writer": 2, "maintainer": 3, "admin": 4}

actor_types := {"User", "Group"}

# The input actor, by type. Each is a rule, evaluated once per query.
user := input.actor.id if input.actor.type == "User"

group := input.actor.id if input.actor.type == "Group"

# ---- Organization ---------------------------------------------------------

# "read" if "member"  ("member" if "admin")
allow if {
	input.resource.type == "Organization"
	input.action == "read"
	org_member(input.resource.id)
}

# "read" if global "support"
allow if {
	input.resource.type == "Organization"
	input.action == "read"
	"support" in data.global_roles[user]
}

# "create_repository" if "admin"
allow if {
	input.resource.type == "Organization"
	input.action == "create_repository"
	org_admin(input.resource.id)
}

# "manage_members" if "admin"
allow if {
	input.resource.type == "Organization"
	input.action == "manage_members"
	org_admin(input.resource.id)
}

# ---- Repository -----------------------------------------------------------

# "read" if "reader"
allow if {
	input.resource.type == "Repository"
	input.action == "read"
	repo_role(input.resource.id, 1)
}

# "read" if is_public(resource)
allow if {
	input.resource.type == "Repository"
	input.action == "read"
	input.actor.type in actor_types
	data.public[input.resource.id]
}

# "create_issue" if "reader"
allow if {
	input.resource.type == "Repository"
	input.action == "create_issue"
	repo_role(input.resource.id, 1)
}

# "push" if "writer"
allow if {
	input.resource.type == "Repository"
	input.action == "push"
	repo_role(input.resource.id, 2)
}

# "manage_issues" if "maintainer"
allow if {
	input.resource.type == "Repository"
	input.action == "manage_issues"
	repo_role(input.resource.id, 3)
}

# "delete" if "admin"
allow if {
	input.resource.type == "Repository"
	input.action == "delete"
	repo_role(input.resource.id, 4)
}

# ---- Issue ----------------------------------------------------------------

# "read" if "reader" on "repository"
allow if {
	input.resource.type == "Issue"
	input.action == "read"
	repo_role(data.issue_repo[input.resource.id], 1)
}

# "comment" if "read"
allow if {
	input.resource.type == "Issue"
	input.action == "comment"
	repo_role(data.issue_repo[input.resource.id], 1)
}

# "close" if "creator"
allow if {
	input.resource.type == "Issue"
	input.action == "close"
	data.issue_creator[input.resource.id] == user
}

# "close" if "maintainer" on "repository"
allow if {
	input.resource.type == "Issue"
	input.action == "close"
	repo_role(data.issue_repo[input.resource.id], 3)
}

# ---- Roles of the input actor ---------------------------------------------

# org_member: the actor is a member of org ("member" if "admin").
org_member(org) if {
	some role in data.user_org_roles[user][org]
	role in {"member", "admin"}
}

# org_admin: the actor is an admin of org.
org_admin(org) if "admin" in data.user_org_roles[user][org]

# repo_role: the actor holds a role on repo whose rank is at least need.
# Bodies are tried in order and the first success ends the search: the
# cheapest check (a direct role) first, then the commonest grant
# (organization membership).

# A direct role.
repo_role(repo, need) if {
	some role in data.user_repo_roles[user][repo]
	repo_rank[role] >= need
}

# "reader" if "member" on "organization"
repo_role(repo, need) if {
	need <= 1
	org_member(data.repo_org[repo])
}

# A role of a group the user is in (the longhand has_role rule).
repo_role(repo, need) if {
	some g in data.group_members[user]
	some role in data.group_repo_roles[g][repo]
	repo_rank[role] >= need
}

# A group asking for itself.
repo_role(repo, need) if {
	some role in data.group_repo_roles[group][repo]
	repo_rank[role] >= need
}

# "admin" if "admin" on "organization" (admin implies every rank)
repo_role(repo, _) if org_admin(data.repo_org[repo])

# ---- List -----------------------------------------------------------------

# readable_repos: every repository the input actor may "read".

# Through membership of the repository's organization.
readable_repos contains repo if {
	some org, _ in data.user_org_roles[user]
	org_member(org)
	some repo in data.org_repos[org]
}

# Through a direct role.
readable_repos contains repo if {
	some repo, roles in data.user_repo_roles[user]
	some role in roles
	repo_rank[role] >= 1
}

# Through a group's role.
readable_repos contains repo if {
	some g in data.group_members[user]
	some repo, roles in data.group_repo_roles[g]
	some role in roles
	repo_rank[role] >= 1
}

# A group's own roles.
readable_repos contains repo if {
	some repo, roles in data.group_repo_roles[group]
	some role in roles
	repo_rank[role] >= 1
}

# Public repositories.
readable_repos contains repo if {
	input.actor.type in actor_types
	data.public[repo] == true
}
