package datasets

import "github.com/outpost-authz/outpost/replica"

// SampleQueries returns n authorize questions about the data set, the same
// for the same (shape, n, seed). They mix likely-allowed and likely-denied
// questions (roughly half each on this model):
//
//   - 25% a home user of an organization on that organization, one of its
//     repositories or one of its issues;
//   - 20% any user (BigUser included) on any organization, repository or issue;
//   - 10% a direct repository role holder on that repository;
//   - 10% an issue's creator on that issue;
//   - 10% a group member on a repository the group holds a role on;
//   - 10% BigUser on any repository;
//   - 5% anyone on a public repository;
//   - 5% a global "support" user on any organization;
//   - 5% odd actors: a Group as actor, or a user id that has no facts.
//
// Actions are drawn from the permissions the resource's type declares. No
// answers are included: callers compute them with two evaluators and compare.
func (s Shape) SampleQueries(n int, seed int64) []Query {
	p := s.p
	if p == nil || n <= 0 {
		return nil
	}
	r := newRNG(seed, streamQueries, uint64(p.cfg.Seed), uint64(p.cfg.Facts))
	qs := make([]Query, 0, n)
	var rd repoDetail
	for len(qs) < n {
		k := r.intn(len(p.orgs))
		o := &p.orgs[k]
		home := func() int64 { return o.userStart + int64(r.intn(o.nHome)) }
		anyUser := func() int64 { return r.int64n(p.homeUsers + 1) }
		var q Query
		switch c := r.intn(100); {
		case c < 25:
			q = s.onOrg(&r, k, userV(home()))
		case c < 45:
			q = s.onOrg(&r, r.intn(len(p.orgs)), userV(anyUser()))
		case c < 55:
			j := r.intn(o.nRepos)
			p.repo(k, j, &rd)
			if len(rd.direct) == 0 {
				continue
			}
			g := rd.direct[r.intn(len(rd.direct))]
			q = Query{Actor: userV(g.user), Action: pick(&r, RepositoryActions), Resource: repoV(o.repoStart + int64(j))}
		case c < 65:
			if o.nIssues == 0 {
				continue
			}
			x := o.issueStart + r.int64n(o.nIssues)
			if !p.hasCreator(x) {
				continue
			}
			q = Query{Actor: userV(p.creator(k, x)), Action: pick(&r, IssueActions), Resource: issueV(x)}
		case c < 75:
			d := makeOrg(p.cfg.Seed, k)
			g := d.groups[r.intn(len(d.groups))]
			u := o.userStart + int64((g.start+r.intn(g.size))%o.nHome)
			gr := g.grants[r.intn(len(g.grants))]
			q = Query{Actor: userV(u), Action: pick(&r, RepositoryActions), Resource: repoV(o.repoStart + int64(gr.repo))}
		case c < 85:
			q = Query{Actor: s.BigUser, Action: pick(&r, RepositoryActions), Resource: repoV(r.int64n(p.repos))}
		case c < 90:
			j := -1
			for jj := 0; jj < o.nRepos; jj++ {
				if p.repo(k, jj, &rd); rd.public {
					j = jj
					break
				}
			}
			if j < 0 {
				continue
			}
			q = Query{Actor: userV(anyUser()), Action: pick(&r, RepositoryActions), Resource: repoV(o.repoStart + int64(j))}
		case c < 95:
			sk := supportEvery * r.intn((len(p.orgs)+supportEvery-1)/supportEvery)
			so := &p.orgs[sk]
			q = Query{Actor: userV(so.userStart + int64(so.nHome) - 1), Action: pick(&r, OrganizationActions), Resource: orgV(int64(r.intn(len(p.orgs))))}
		default:
			var actor replica.Value
			if r.intn(2) == 0 {
				actor = groupV(o.groupStart + int64(r.intn(o.nGroups)))
			} else {
				actor = userV(p.homeUsers + 1 + r.int64n(1000))
			}
			q = s.onOrg(&r, k, actor)
		}
		qs = append(qs, q)
	}
	return qs
}

// onOrg asks about organization k itself (10%), one of its repositories
// (45%) or one of its issues (45%).
func (s Shape) onOrg(r *rng, k int, actor replica.Value) Query {
	o := &s.p.orgs[k]
	switch c := r.intn(100); {
	case c < 10:
		return Query{Actor: actor, Action: pick(r, OrganizationActions), Resource: orgV(int64(k))}
	case c < 55 || o.nIssues == 0:
		return Query{Actor: actor, Action: pick(r, RepositoryActions), Resource: repoV(o.repoStart + int64(r.intn(o.nRepos)))}
	default:
		return Query{Actor: actor, Action: pick(r, IssueActions), Resource: issueV(o.issueStart + r.int64n(o.nIssues))}
	}
}

// IssueReads returns n "may this user read this issue?" questions, the
// workload of the side-by-side comparison in DESIGN.md §11: a random issue,
// asked by a home user of its organization (half, mostly allowed through
// organization → repository → issue) or by any user (half, mostly
// denied). The same for the same (shape, n, seed).
func (s Shape) IssueReads(n int, seed int64) []Query {
	p := s.p
	if p == nil || n <= 0 {
		return nil
	}
	r := newRNG(seed, streamIssueReads, uint64(p.cfg.Seed), uint64(p.cfg.Facts))
	qs := make([]Query, 0, n)
	for tries := 0; len(qs) < n && tries < 100*n; tries++ {
		k := r.intn(len(p.orgs))
		o := &p.orgs[k]
		if o.nIssues == 0 {
			continue
		}
		actor := userV(r.int64n(p.homeUsers + 1))
		if r.intn(2) == 0 {
			actor = userV(o.userStart + int64(r.intn(o.nHome)))
		}
		qs = append(qs, Query{Actor: actor, Action: "read", Resource: issueV(o.issueStart + r.int64n(o.nIssues))})
	}
	return qs
}

func pick(r *rng, xs []string) string { return xs[r.intn(len(xs))] }
