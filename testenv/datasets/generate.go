package datasets

import (
	"strconv"

	"github.com/outpost-authz/outpost/replica"
)

// Id widths: ids are zero-padded so that they sort as strings in index order
// for every size up to MaxFacts.
const (
	orgWidth   = 6
	repoWidth  = 7
	issueWidth = 8
	userWidth  = 7
	groupWidth = 6
)

// OrgID returns the id of organization i, e.g. "org-000123".
func OrgID(i int64) string { return string(appendID(nil, "org-", i, orgWidth)) }

// RepoID returns the id of repository i, e.g. "repo-0012345".
func RepoID(i int64) string { return string(appendID(nil, "repo-", i, repoWidth)) }

// IssueID returns the id of issue i, e.g. "issue-00123456".
func IssueID(i int64) string { return string(appendID(nil, "issue-", i, issueWidth)) }

// UserID returns the id of user i, e.g. "user-0001234". User 0 is BigUser.
func UserID(i int64) string { return string(appendID(nil, "user-", i, userWidth)) }

// GroupID returns the id of group i, e.g. "group-000123".
func GroupID(i int64) string { return string(appendID(nil, "group-", i, groupWidth)) }

func appendID(b []byte, prefix string, n int64, width int) []byte {
	b = append(b, prefix...)
	digits := 1
	for v := n; v >= 10; v /= 10 {
		digits++
	}
	for ; digits < width; digits++ {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, n, 10)
}

// Predicates.
const (
	predHasRole     = "has_role"
	predHasRelation = "has_relation"
	predInGroup     = "in_group"
	predIsPublic    = "is_public"
)

func str(s string) replica.Value { return replica.Value{Type: TypeString, ID: s} }

var (
	valMember       = str("member")
	valAdmin        = str("admin")
	valSupport      = str("support")
	valOrganization = str("organization")
	valRepository   = str("repository")
	valCreator      = str("creator")
	valRoles        = map[string]replica.Value{}
)

func init() {
	for _, r := range repoRoles {
		valRoles[r] = str(r)
	}
}

// Generate streams the data set chosen by cfg to emit, in a fixed order: for
// each organization, its memberships, global roles and groups, then each of
// its repositories followed by that repository's issues. It produces exactly
// Describe(cfg).Facts facts (which equals cfg.Facts) and stops at the first
// error emit returns.
//
// emit may keep the facts it receives: Generate never modifies a fact after
// passing it on. Memory use is independent of cfg.Facts apart from a small
// record per organization.
func Generate(cfg Config, emit func(replica.Fact) error) error {
	p, err := newPlan(cfg)
	if err != nil {
		return err
	}
	g := generator{p: p, emit: emit}
	for k := range p.orgs {
		if err := g.org(k); err != nil {
			return err
		}
	}
	return nil
}

type generator struct {
	p     *plan
	emit  func(replica.Fact) error
	slab  []replica.Value // facts' Args are carved from here; never reused
	buf   []byte
	home  []replica.Value
	repos []replica.Value
	rd    repoDetail
}

const slabSize = 3 * 2048

func (g *generator) args(n int) []replica.Value {
	if len(g.slab) < n {
		g.slab = make([]replica.Value, slabSize)
	}
	a := g.slab[:n:n]
	g.slab = g.slab[n:]
	return a
}

func (g *generator) fact1(pred string, a replica.Value) error {
	args := g.args(1)
	args[0] = a
	return g.emit(replica.Fact{Predicate: pred, Args: args})
}

func (g *generator) fact2(pred string, a, b replica.Value) error {
	args := g.args(2)
	args[0], args[1] = a, b
	return g.emit(replica.Fact{Predicate: pred, Args: args})
}

func (g *generator) fact3(pred string, a, b, c replica.Value) error {
	args := g.args(3)
	args[0], args[1], args[2] = a, b, c
	return g.emit(replica.Fact{Predicate: pred, Args: args})
}

func (g *generator) value(typ, prefix string, n int64, width int) replica.Value {
	g.buf = appendID(g.buf[:0], prefix, n, width)
	return replica.Value{Type: typ, ID: string(g.buf)}
}

func (g *generator) user(u int64) replica.Value {
	return g.value(TypeUser, "user-", u, userWidth)
}

func (g *generator) org(k int) error {
	p := g.p
	o := &p.orgs[k]
	d := makeOrg(p.cfg.Seed, k)
	orgV := g.value(TypeOrganization, "org-", int64(k), orgWidth)

	g.home = g.home[:0]
	for i := 0; i < o.nHome; i++ {
		g.home = append(g.home, g.user(o.userStart+int64(i)))
	}
	g.repos = g.repos[:0]
	for j := 0; j < o.nRepos; j++ {
		g.repos = append(g.repos, g.value(TypeRepository, "repo-", o.repoStart+int64(j), repoWidth))
	}

	for i, u := range g.home {
		role := valMember
		if i < o.nAdmins {
			role = valAdmin
		}
		if err := g.fact3(predHasRole, u, role, orgV); err != nil {
			return err
		}
	}
	if k < p.bigOrgs {
		if err := g.fact3(predHasRole, g.user(0), valMember, orgV); err != nil {
			return err
		}
	}
	if k%supportEvery == 0 {
		if err := g.fact2(predHasRole, g.home[o.nHome-1], valSupport); err != nil {
			return err
		}
	}
	for i, gd := range d.groups {
		gv := g.value(TypeGroup, "group-", o.groupStart+int64(i), groupWidth)
		for m := 0; m < gd.size; m++ {
			if err := g.fact2(predInGroup, g.home[(gd.start+m)%o.nHome], gv); err != nil {
				return err
			}
		}
		for _, gr := range gd.grants {
			if err := g.fact3(predHasRole, gv, valRoles[gr.role], g.repos[gr.repo]); err != nil {
				return err
			}
		}
	}

	var cw int64
	for j, repoV := range g.repos {
		p.repo(k, j, &g.rd)
		if err := g.fact3(predHasRelation, repoV, valOrganization, orgV); err != nil {
			return err
		}
		if g.rd.public {
			if err := g.fact1(predIsPublic, repoV); err != nil {
				return err
			}
		}
		for _, dg := range g.rd.direct {
			var uv replica.Value
			if i := dg.user - o.userStart; i >= 0 && i < int64(o.nHome) {
				uv = g.home[i]
			} else {
				uv = g.user(dg.user)
			}
			if err := g.fact3(predHasRole, uv, valRoles[dg.role], repoV); err != nil {
				return err
			}
		}
		start, n := p.repoIssues(k, cw, g.rd.weight)
		cw += g.rd.weight
		for x := start; x < start+n; x++ {
			issueV := g.value(TypeIssue, "issue-", x, issueWidth)
			if err := g.fact3(predHasRelation, issueV, valRepository, repoV); err != nil {
				return err
			}
			if !p.hasCreator(x) {
				continue
			}
			c := p.creator(k, x)
			var uv replica.Value
			if i := c - o.userStart; i >= 0 && i < int64(o.nHome) {
				uv = g.home[i]
			} else {
				uv = g.user(c)
			}
			if err := g.fact3(predHasRelation, issueV, valCreator, uv); err != nil {
				return err
			}
		}
	}
	return nil
}
