package datasets

import (
	"fmt"
	"math/bits"
)

// Proportions of the data set. doc.go explains them; Describe reports the
// resulting counts.
const (
	factsPerOrg = 2_000 // organizations = round(Facts / factsPerOrg), at least 2

	minRepos, spanRepos         = 20, 41 // repositories per organization: 20..60
	minHome, spanHome           = 40, 41 // home users per organization: 40..80
	minAdmins, spanAdmins       = 1, 3   // organization admins: 1..3 (the first home users)
	minGroups, spanGroups       = 2, 5   // groups (teams) per organization: 2..6
	minGroupSize, spanGroupSize = 5, 16  // members per group: 5..20 home users
	minGrants, spanGrants       = 1, 5   // repository roles per group: 1..5
	maxDirect                   = 6      // direct user roles per repository: 0..6
	outsidePercent              = 20     // direct roles given to a random user of any organization
	publicPercent               = 1      // public repositories
	homeCreatorPercent          = 85     // issues created by a home user of the organization
	supportEvery                = 100    // one global "support" user per this many organizations
	maxIssueWeight              = 100    // repository activity weight: 1 + v*v/100 for v in [0, 100)

	// BigUserTarget is the number of repositories whose organizations
	// BigUser joins, when the data set has at least 4/3 of that many.
	BigUserTarget = 10_000
)

// Role names used in facts.
var (
	repoRoles         = []string{"reader", "writer", "maintainer", "admin"}
	directRoleWeights = []int{40, 35, 20, 5}
	groupRoleWeights  = []int{20, 40, 30, 10}
)

const roleWeightTotal = 100

// orgInfo is the per-organization summary the plan keeps: small, one per
// Facts/2000 facts.
type orgInfo struct {
	nRepos, nHome, nAdmins, nGroups int
	repoStart                       int64 // global index of the first repository
	userStart                       int64 // global index of the first home user (>= 1)
	groupStart                      int64 // global index of the first group
	weight, weightBefore            int64 // issue weight of this org, and of all before it
	issueStart, nIssues             int64
	publicRepos                     int
}

// orgDetail is everything drawn from an organization's own stream.
type orgDetail struct {
	nRepos, nHome, nAdmins int
	groups                 []groupDetail
}

// groupDetail: members are home users (start+i) % nHome for i < size;
// grants are roles on distinct repositories of the organization.
type groupDetail struct {
	start, size int
	grants      []roleGrant
}

type roleGrant struct {
	repo int // local index within the organization
	role string
}

// repoDetail is everything drawn from a repository's own stream.
type repoDetail struct {
	public bool
	weight int64
	direct []userGrant
}

type userGrant struct {
	user int64 // global user index
	role string
}

// plan is the layout of a data set: the per-organization summary plus global
// totals. Building it costs O(repositories) time and O(organizations) memory.
type plan struct {
	cfg           Config
	orgs          []orgInfo
	homeUsers     int64 // users 1..homeUsers are home users; user 0 is BigUser
	repos         int64
	groups        int64
	issues        int64
	totalWeight   int64
	bigOrgs       int   // BigUser is a member of organizations [0, bigOrgs)
	bigRepos      int64 // repositories BigUser can read
	noCreatorLast bool  // the last issue has no creator fact (odd fact budget)
	counts        Counts
}

func makeOrg(seed int64, k int) orgDetail {
	r := newRNG(seed, streamOrg, uint64(k), 0)
	d := orgDetail{
		nRepos:  minRepos + r.intn(spanRepos),
		nHome:   minHome + r.intn(spanHome),
		nAdmins: minAdmins + r.intn(spanAdmins),
	}
	d.groups = make([]groupDetail, minGroups+r.intn(spanGroups))
	for i := range d.groups {
		g := &d.groups[i]
		g.size = minGroupSize + r.intn(spanGroupSize)
		g.start = r.intn(d.nHome)
		n := minGrants + r.intn(spanGrants)
		first := r.intn(d.nRepos)
		g.grants = make([]roleGrant, n)
		for j := range g.grants {
			g.grants[j] = roleGrant{
				repo: (first + j) % d.nRepos,
				role: repoRoles[r.weighted(groupRoleWeights, roleWeightTotal)],
			}
		}
	}
	return d
}

// repo fills d with the attributes of repository j of organization k.
// d.direct is reused.
func (p *plan) repo(k, j int, d *repoDetail) {
	o := &p.orgs[k]
	r := newRNG(p.cfg.Seed, streamRepo, uint64(k), uint64(j))
	// The last repository of organization 0 is always public, so that every
	// data set has one for Shape.Public.
	d.public = r.percent(publicPercent) || (k == 0 && j == o.nRepos-1)
	v := int64(r.intn(maxIssueWeight))
	d.weight = 1 + v*v/maxIssueWeight
	n := r.intn(maxDirect + 1)
	d.direct = d.direct[:0]
	for attempt := 0; len(d.direct) < n && attempt < 3*n; attempt++ {
		var u int64
		if r.percent(outsidePercent) {
			u = 1 + r.int64n(p.homeUsers)
		} else {
			u = o.userStart + int64(r.intn(o.nHome))
		}
		role := repoRoles[r.weighted(directRoleWeights, roleWeightTotal)]
		if hasUser(d.direct, u) {
			continue
		}
		d.direct = append(d.direct, userGrant{user: u, role: role})
	}
}

func hasUser(gs []userGrant, u int64) bool {
	for _, g := range gs {
		if g.user == u {
			return true
		}
	}
	return false
}

// creator returns the global user index of the creator of issue x, which
// belongs to organization k.
func (p *plan) creator(k int, x int64) int64 {
	o := &p.orgs[k]
	r := newRNG(p.cfg.Seed, streamIssue, uint64(x), 0)
	if r.percent(homeCreatorPercent) {
		return o.userStart + int64(r.intn(o.nHome))
	}
	return 1 + r.int64n(p.homeUsers)
}

// hasCreator reports whether issue x has a creator fact.
func (p *plan) hasCreator(x int64) bool { return !(p.noCreatorLast && x == p.issues-1) }

// mulDiv returns floor(a*b/c) for 0 <= b <= c, without overflow.
func mulDiv(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}

// repoIssues returns the issues of repository j of organization k as a
// global index range [start, start+n), given cw, the weight of repositories
// [0, j) of k, and w, the weight of repository j.
func (p *plan) repoIssues(k int, cw, w int64) (start, n int64) {
	o := &p.orgs[k]
	a := mulDiv(o.nIssues, cw, o.weight)
	b := mulDiv(o.nIssues, cw+w, o.weight)
	return o.issueStart + a, b - a
}

func newPlan(cfg Config) (*plan, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &plan{cfg: cfg}
	nOrgs := max(2, (cfg.Facts+factsPerOrg/2)/factsPerOrg)
	p.orgs = make([]orgInfo, nOrgs)
	c := &p.counts

	// Pass 1: organizations, their users and groups.
	userNext := int64(1)
	for k := range p.orgs {
		d := makeOrg(cfg.Seed, k)
		o := &p.orgs[k]
		o.nRepos, o.nHome, o.nAdmins, o.nGroups = d.nRepos, d.nHome, d.nAdmins, len(d.groups)
		o.repoStart, o.userStart, o.groupStart = p.repos, userNext, p.groups
		p.repos += int64(d.nRepos)
		userNext += int64(d.nHome)
		p.groups += int64(len(d.groups))
		c.OrgRoles += int64(d.nHome)
		if k%supportEvery == 0 {
			c.GlobalRoles++
		}
		for _, g := range d.groups {
			c.GroupMembers += int64(g.size)
			c.GroupRepoRoles += int64(len(g.grants))
		}
	}
	p.homeUsers = userNext - 1

	// Pass 2: repositories.
	var d repoDetail
	for k := range p.orgs {
		o := &p.orgs[k]
		o.weightBefore = p.totalWeight
		for j := 0; j < o.nRepos; j++ {
			p.repo(k, j, &d)
			o.weight += d.weight
			c.RepoRoles += int64(len(d.direct))
			if d.public {
				o.publicRepos++
			}
		}
		p.totalWeight += o.weight
		c.RepoOrgs += int64(o.nRepos)
		c.PublicRepos += int64(o.publicRepos)
	}

	// BigUser joins the fewest leading organizations such that it can read
	// at least target repositories: theirs, plus public ones elsewhere.
	target := min(int64(BigUserTarget), p.repos*3/4)
	p.bigRepos = c.PublicRepos
	for p.bigRepos < target && p.bigOrgs < nOrgs {
		o := &p.orgs[p.bigOrgs]
		p.bigRepos += int64(o.nRepos - o.publicRepos)
		p.bigOrgs++
	}
	c.OrgRoles += int64(p.bigOrgs)

	// Issues fill the rest: two facts each (repository, creator).
	budget := int64(cfg.Facts) - c.Total()
	if budget < 0 {
		return nil, fmt.Errorf("datasets plan: %d facts leave no room for issues (structure needs %d)", cfg.Facts, c.Total())
	}
	p.issues = (budget + 1) / 2
	p.noCreatorLast = budget%2 == 1
	c.IssueRepos = p.issues
	c.IssueCreators = p.issues
	if p.noCreatorLast {
		c.IssueCreators--
	}
	for k := range p.orgs {
		o := &p.orgs[k]
		o.issueStart = mulDiv(p.issues, o.weightBefore, p.totalWeight)
		o.nIssues = mulDiv(p.issues, o.weightBefore+o.weight, p.totalWeight) - o.issueStart
	}
	return p, nil
}

// orgOfUser returns the organization whose home user u is (u >= 1).
func (p *plan) orgOfUser(u int64) int {
	lo, hi := 0, len(p.orgs)
	for lo+1 < hi {
		m := (lo + hi) / 2
		if p.orgs[m].userStart <= u {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}
