package datasets

import "github.com/outpost-authz/outpost/replica"

// Counts is the number of facts of each kind in a data set.
type Counts struct {
	OrgRoles       int64 // has_role(User, "member"|"admin", Organization)
	GlobalRoles    int64 // has_role(User, "support")
	GroupMembers   int64 // in_group(User, Group)
	GroupRepoRoles int64 // has_role(Group, role, Repository)
	RepoOrgs       int64 // has_relation(Repository, "organization", Organization)
	PublicRepos    int64 // is_public(Repository)
	RepoRoles      int64 // has_role(User, role, Repository)
	IssueRepos     int64 // has_relation(Issue, "repository", Repository)
	IssueCreators  int64 // has_relation(Issue, "creator", User)
}

// Total is the number of facts.
func (c Counts) Total() int64 {
	return c.OrgRoles + c.GlobalRoles + c.GroupMembers + c.GroupRepoRoles + c.RepoOrgs +
		c.PublicRepos + c.RepoRoles + c.IssueRepos + c.IssueCreators
}

// ByPredicate returns the number of facts per predicate name and arity,
// e.g. "has_role/3".
func (c Counts) ByPredicate() map[string]int64 {
	return map[string]int64{
		"has_role/2":     c.GlobalRoles,
		"has_role/3":     c.OrgRoles + c.GroupRepoRoles + c.RepoRoles,
		"has_relation/3": c.RepoOrgs + c.IssueRepos + c.IssueCreators,
		"in_group/2":     c.GroupMembers,
		"is_public/1":    c.PublicRepos,
	}
}

// Query is an authorize question: may Actor do Action on Resource?
type Query struct {
	Actor    replica.Value
	Action   string
	Resource replica.Value
}

func (q Query) String() string { return q.Actor.String() + " " + q.Action + " " + q.Resource.String() }

// Shape describes a data set without generating it: entity and fact counts
// and well-known sample questions for tests and benchmarks. Every sample
// below is checked against the Reference evaluator by this package's tests.
type Shape struct {
	Config Config // with defaults applied
	Facts  int64  // exact number of facts; equals Config.Facts

	Orgs, Repos, Issues, Users, Groups int64
	Counts                             Counts

	// BigUser is a plain member of organizations 0..BigUserOrgs-1, chosen
	// as the fewest leading organizations holding at least
	// min(BigUserTarget, 3/4 of all repositories) repositories. It has no
	// other facts, so it can read exactly the repositories of those
	// organizations plus every public repository elsewhere: BigUserRepos.
	// From about 1M facts up, BigUserRepos >= BigUserTarget (10,000).
	BigUser      replica.Value
	BigUserOrgs  int
	BigUserRepos int64

	// Direct is a "read" allowed only by a direct has_role(User, role,
	// Repository) fact (DirectRole): the user is an outside collaborator,
	// not a member of the repository's organization, and the repository is
	// not public. (Every data set of at least MinFacts facts has one; the
	// tests check it.)
	Direct     Query
	DirectRole string

	// Inherit is allowed only through organization membership:
	// member of InheritOrg ⇒ reader of InheritRepo ⇒ read on the issue. The
	// user has no direct or group role on the repository and did not create
	// the issue.
	Inherit     Query
	InheritOrg  replica.Value
	InheritRepo replica.Value

	// Denied is a "read" on Inherit's issue by a member of another
	// organization; it is not allowed.
	Denied Query

	// Group is allowed only through GroupVia: the user is a plain member of
	// the organization, and GroupVia holds a role on the repository that
	// the action needs (push, manage_issues or delete).
	Group    Query
	GroupVia replica.Value

	// Public is a "read" of a public repository by a member of another
	// organization with no role on it. (The last repository of organization
	// 0 is always public.)
	Public Query

	// Support is a "read" of an organization the user does not belong to,
	// allowed by the global role "support".
	Support Query

	p       *plan
	inherit issueRef
}

// Describe computes the shape of the data set cfg chooses, in time
// proportional to the number of repositories (milliseconds at 10M facts).
func Describe(cfg Config) (Shape, error) {
	p, err := newPlan(cfg)
	if err != nil {
		return Shape{}, err
	}
	s := Shape{
		Config:       p.cfg,
		Facts:        p.counts.Total(),
		Orgs:         int64(len(p.orgs)),
		Repos:        p.repos,
		Issues:       p.issues,
		Users:        p.homeUsers + 1,
		Groups:       p.groups,
		Counts:       p.counts,
		BigUser:      userV(0),
		BigUserOrgs:  p.bigOrgs,
		BigUserRepos: p.bigRepos,
		p:            p,
	}
	s.findDirect()
	s.findInherit()
	s.findDenied()
	s.findGroup()
	s.findPublic()
	o0 := &p.orgs[0]
	s.Support = Query{
		Actor:    userV(o0.userStart + int64(o0.nHome) - 1),
		Action:   "read",
		Resource: orgV(1),
	}
	return s, nil
}

// MustDescribe is Describe for tests and benchmarks with a known-good
// config; it panics on error.
func MustDescribe(cfg Config) Shape {
	s, err := Describe(cfg)
	if err != nil {
		panic(err)
	}
	return s
}

func userV(i int64) replica.Value  { return replica.Value{Type: TypeUser, ID: UserID(i)} }
func orgV(i int64) replica.Value   { return replica.Value{Type: TypeOrganization, ID: OrgID(i)} }
func repoV(i int64) replica.Value  { return replica.Value{Type: TypeRepository, ID: RepoID(i)} }
func issueV(i int64) replica.Value { return replica.Value{Type: TypeIssue, ID: IssueID(i)} }
func groupV(i int64) replica.Value { return replica.Value{Type: TypeGroup, ID: GroupID(i)} }

func (p *plan) isHome(k int, u int64) bool {
	o := &p.orgs[k]
	return u >= o.userStart && u < o.userStart+int64(o.nHome)
}

func (s *Shape) findDirect() {
	p := s.p
	var d repoDetail
	found := false
	for k := range p.orgs {
		for j := 0; j < p.orgs[k].nRepos; j++ {
			p.repo(k, j, &d)
			if d.public {
				continue
			}
			for _, g := range d.direct {
				if !found || !p.isHome(k, g.user) {
					s.Direct = Query{Actor: userV(g.user), Action: "read", Resource: repoV(p.orgs[k].repoStart + int64(j))}
					s.DirectRole = g.role
					found = true
				}
				if !p.isHome(k, g.user) {
					return
				}
			}
		}
	}
}

// repoRef locates one repository and its issues.
type repoRef struct {
	k, j       int
	issueStart int64
	nIssues    int64
	detail     repoDetail
}

// eachRepo calls f for the repositories of organization k in order, with
// their issue ranges, until f returns false.
func (p *plan) eachRepo(k int, f func(r *repoRef) bool) {
	r := repoRef{k: k}
	var cw int64
	for j := 0; j < p.orgs[k].nRepos; j++ {
		r.j = j
		p.repo(k, j, &r.detail)
		r.issueStart, r.nIssues = p.repoIssues(k, cw, r.detail.weight)
		cw += r.detail.weight
		if !f(&r) {
			return
		}
	}
}

// groupGrants returns the roles user u holds on local repository j of
// organization k through groups of d.
func groupGrants(d *orgDetail, nHome int, u int, j int) (n int) {
	for _, g := range d.groups {
		if !inGroup(g, nHome, u) {
			continue
		}
		for _, gr := range g.grants {
			if gr.repo == j {
				n++
			}
		}
	}
	return n
}

// inGroup reports whether home user index u (local) is in g.
func inGroup(g groupDetail, nHome, u int) bool {
	off := (u - g.start + nHome) % nHome
	return off < g.size
}

func (s *Shape) findInherit() {
	p := s.p
	for k := range p.orgs {
		o := &p.orgs[k]
		d := makeOrg(p.cfg.Seed, k)
		done := false
		p.eachRepo(k, func(r *repoRef) bool {
			if r.nIssues == 0 {
				return true
			}
			for i := o.nAdmins; i < o.nHome; i++ {
				u := o.userStart + int64(i)
				if hasUser(r.detail.direct, u) || groupGrants(&d, o.nHome, i, r.j) > 0 {
					continue
				}
				for x := r.issueStart; x < r.issueStart+r.nIssues; x++ {
					if p.hasCreator(x) && p.creator(k, x) == u {
						continue
					}
					s.Inherit = Query{Actor: userV(u), Action: "read", Resource: issueV(x)}
					s.InheritOrg = orgV(int64(k))
					s.InheritRepo = repoV(o.repoStart + int64(r.j))
					s.inherit = issueRef{k: k, j: r.j, x: x}
					done = true
					return false
				}
			}
			return true
		})
		if done {
			return
		}
	}
}

type issueRef struct {
	k, j int
	x    int64
}

func (s *Shape) findDenied() {
	p := s.p
	ref := s.inherit
	var d repoDetail
	p.repo(ref.k, ref.j, &d)
	var creator int64 = -1
	if p.hasCreator(ref.x) {
		creator = p.creator(ref.k, ref.x)
	}
	for step := 1; step < len(p.orgs); step++ {
		k2 := (ref.k + step) % len(p.orgs)
		o := &p.orgs[k2]
		for i := o.nAdmins; i < o.nHome; i++ {
			u := o.userStart + int64(i)
			if hasUser(d.direct, u) || u == creator {
				continue
			}
			s.Denied = Query{Actor: userV(u), Action: "read", Resource: s.Inherit.Resource}
			return
		}
	}
}

// groupActions maps a group's repository role to the permission that needs
// at least that role and that plain organization members lack.
var groupActions = map[string]string{"writer": "push", "maintainer": "manage_issues", "admin": "delete"}

var roleRank = map[string]int{"reader": 0, "writer": 1, "maintainer": 2, "admin": 3}

func (s *Shape) findGroup() {
	p := s.p
	var rd repoDetail
	for k := range p.orgs {
		o := &p.orgs[k]
		d := makeOrg(p.cfg.Seed, k)
		for gi, g := range d.groups {
			for _, gr := range g.grants {
				action, ok := groupActions[gr.role]
				if !ok {
					continue
				}
				p.repo(k, gr.repo, &rd)
				for m := 0; m < g.size; m++ {
					i := (g.start + m) % o.nHome
					u := o.userStart + int64(i)
					if i < o.nAdmins || hasUser(rd.direct, u) || groupGrants(&d, o.nHome, i, gr.repo) != 1 {
						continue
					}
					s.Group = Query{Actor: userV(u), Action: action, Resource: repoV(o.repoStart + int64(gr.repo))}
					s.GroupVia = groupV(o.groupStart + int64(gi))
					return
				}
			}
		}
	}
}

func (s *Shape) findPublic() {
	p := s.p
	var d repoDetail
	for k := range p.orgs {
		for j := 0; j < p.orgs[k].nRepos; j++ {
			p.repo(k, j, &d)
			if !d.public {
				continue
			}
			k2 := (k + 1) % len(p.orgs)
			o := &p.orgs[k2]
			for i := o.nAdmins; i < o.nHome; i++ {
				u := o.userStart + int64(i)
				if !hasUser(d.direct, u) {
					s.Public = Query{Actor: userV(u), Action: "read", Resource: repoV(p.orgs[k].repoStart + int64(j))}
					return
				}
			}
		}
	}
}
