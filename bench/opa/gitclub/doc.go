// Package gitclub is Outpost's gitclub model (testenv/datasets.GitclubPolicy)
// written in Rego for OPA, with the data documents it reads built from the
// same facts that datasets.Generate emits. It exists so that OPA can be
// benchmarked on exactly the data and questions Outpost is (see
// cmd/opabench); datasets.Reference is the oracle for both.
//
// # Policy
//
// Policy (gitclub.rego, package gitclub) defines
//
//   - data.gitclub.allow: may input.actor do input.action on input.resource?
//     The input is {"actor": {"type", "id"}, "action", "resource": {"type",
//     "id"}}, the JSON form of datasets.Query.
//   - data.gitclub.readable_repos: the set of repository ids input.actor may
//     "read" (the list question; the answer datasets.Reference.List gives for
//     ("read", "Repository")).
//
// Role inheritance is written as ranks (reader 1, writer 2, maintainer 3,
// admin 4): a rule needing "writer" accepts any role of rank ≥ 2. Nothing is
// precomputed in the data: every derived role is derived by the policy.
//
// # Data
//
// Build turns facts into these documents at the root of OPA's data tree
// (every id is a string; lists keep duplicate facts):
//
//	user_org_roles[user][org]     = [role]   has_role(User, role, Organization)
//	global_roles[user]            = [role]   has_role(User, role)
//	group_members[user]           = [group]  in_group(User, Group)
//	group_repo_roles[group][repo] = [role]   has_role(Group, role, Repository)
//	user_repo_roles[user][repo]   = [role]   has_role(User, role, Repository)
//	repo_org[repo]                = org      has_relation(Repository, "organization", Organization)
//	org_repos[org]                = [repo]   the same facts, indexed by organization (for listing)
//	public[repo]                  = true     is_public(Repository)
//	issue_repo[issue]             = repo     has_relation(Issue, "repository", Repository)
//	issue_creator[issue]          = user     has_relation(Issue, "creator", User)
//
// Every fact maps to exactly one document except the repository's
// organization, which is also indexed the other way round (org_repos) so
// that listing does not scan every repository. Facts of any other shape
// (a group's organization role, a second organization for a repository, ...)
// are rejected by Add: the generator never emits them, and rejecting them
// keeps the Rego provably equivalent to the Reference on every accepted data
// set.
//
// # Concurrency
//
// Data is built by one goroutine. An Engine is safe for concurrent use once
// Load returns.
package gitclub
