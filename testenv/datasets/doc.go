// Package datasets generates deterministic synthetic "gitclub" data at any
// size from 2,000 to 200M facts, for tests, the demo and benchmarks
// (DESIGN.md §10 measures at 1M and 10M facts).
//
// # Model
//
// GitclubPolicy is the policy the data is written for. Organizations have
// members and admins; repositories belong to one organization and have
// readers, writers, maintainers and admins (organization members are
// readers, organization admins are admins); issues belong to one repository
// and have a creator, who may close them. Users belong to groups (teams);
// a group's role on a repository is held by each of its members. A few
// repositories are public (anyone may read them), and a few users hold the
// global role "support" (read on every organization).
//
// Facts, in the order Generate emits them per organization:
//
//	has_role(User, "member"|"admin", Organization)   every home user of the org; BigUser
//	has_role(User, "support")                        one home user of every 100th org
//	in_group(User, Group)                            group members
//	has_role(Group, role, Repository)                group roles on the org's repositories
//	has_relation(Repository, "organization", Organization)
//	is_public(Repository)
//	has_role(User, role, Repository)                 direct roles
//	has_relation(Issue, "repository", Repository)
//	has_relation(Issue, "creator", User)
//
// Ids are fixed-width so that they sort in index order: "org-000123",
// "repo-0012345", "issue-00123456", "user-0001234", "group-000123"
// (OrgID, RepoID, IssueID, UserID, GroupID).
//
// # Proportions
//
// Organizations = round(Facts/2000), at least 2. Per organization, drawn
// uniformly: 20–60 repositories, 40–80 home users (the first 1–3 are admins,
// the rest members), 2–6 groups of 5–20 home users, each group holding a role
// (reader 20%, writer 40%, maintainer 30%, admin 10%) on 1–5 distinct
// repositories. Per repository: 1% are public (and the last
// repository of organization 0 always is); 0–6 direct user roles
// (reader 40%, writer 35%, maintainer 20%, admin 5%), a fifth of them given to
// users of other organizations (outside collaborators). Issues take all
// remaining facts, two each (repository, creator); they are spread over
// repositories by an activity weight 1+v²/100 (v uniform in 0..99), so a few
// repositories are busy and many are quiet. 85% of issues are created by a home
// user of the repository's organization, the rest by anyone. If the remaining
// budget is odd, the very last issue has no creator, so a data set has
// exactly Config.Facts facts.
//
// At 1M facts this gives about 500 organizations, 20.5k repositories, 30k
// users, 2k groups and 429k issues; 43% of facts are has_relation to a
// repository, 43% issue creators, the rest roles and memberships. Describe
// reports the exact counts.
//
// User 0 ("user-0000000") is BigUser: a plain member of the fewest leading
// organizations that let it read at least min(10,000, ¾ of all repositories)
// repositories, counting public repositories elsewhere; Shape.BigUserRepos is
// the exact number. Shape also names sample questions (direct role, access
// only through org → repo → issue inheritance, a denial, a group grant, a
// public repository, a global role); the tests check each of them with the
// Reference evaluator.
//
// # Reproducing a data set
//
// A data set is fully determined by Config{Facts, Seed}: every entity draws
// from its own SplitMix64 stream keyed by (seed, entity), using integer
// arithmetic only, so the output is the same on every platform. The tests pin
// a SHA-256 of the 10,000-fact, seed-1 stream; a change to the generator that
// alters any data set must update that hash deliberately. To write a data set
// to a file:
//
//	f, _ := os.Create("gitclub-1m.jsonl")
//	n, err := datasets.WriteJSONLines(f, datasets.Config{Facts: 1_000_000, Seed: 1})
//
// Events turns the same data into an event log (a policy event, then batches
// of inserts) for ingest benchmarks.
//
// # Concurrency
//
// Generate, Events, Describe and Shape's methods have no shared state and may
// run concurrently. Reference must be loaded by one goroutine; afterwards its
// Authorize and List may be called concurrently.
package datasets
