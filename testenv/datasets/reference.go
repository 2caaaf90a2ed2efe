package datasets

import (
	"errors"
	"fmt"
	"slices"

	"github.com/outpost-authz/outpost/replica"
)

// ErrUnbounded is returned by Reference.List when the answer would include
// every value of the type (a global "support" user listing readable
// organizations), which the Polar engine reports as a wildcard.
var ErrUnbounded = errors.New("answer is every value of the type")

// Reference answers authorization questions for GitclubPolicy and nothing
// else. It is the policy transcribed by hand into Go, kept obviously correct
// rather than fast, so that tests can cross-check the Polar engine on large
// data sets. It holds the facts it is given in maps (roughly 200 bytes per
// fact). Add is not safe for concurrent use with anything; once loading is
// done, Authorize and List may be called concurrently.
type Reference struct {
	roles    map[replica.Value]map[replica.Value][]string // has_role(actor, role, resource)
	global   map[replica.Value][]string                   // has_role(actor, role)
	rel      map[relKey][]replica.Value                   // has_relation(subject, name, object)
	groups   map[replica.Value][]replica.Value            // in_group(user, group)
	public   map[replica.Value]bool                       // is_public(resource)
	universe map[string]map[string]bool                   // type -> ids in any fact
	facts    int64
}

type relKey struct {
	subject replica.Value
	name    string
}

// NewReference returns an empty evaluator; feed it facts with Add.
func NewReference() *Reference {
	return &Reference{
		roles:    map[replica.Value]map[replica.Value][]string{},
		global:   map[replica.Value][]string{},
		rel:      map[relKey][]replica.Value{},
		groups:   map[replica.Value][]replica.Value{},
		public:   map[replica.Value]bool{},
		universe: map[string]map[string]bool{},
	}
}

// LoadReference generates the data set cfg chooses into a new Reference.
func LoadReference(cfg Config) (*Reference, error) {
	r := NewReference()
	if err := Generate(cfg, r.Add); err != nil {
		return nil, err
	}
	return r, nil
}

// Facts is the number of facts added (duplicates included).
func (r *Reference) Facts() int64 { return r.facts }

// Add adds one fact. It rejects facts whose predicate and arity
// GitclubPolicy gives no meaning; it fits Generate's emit parameter.
func (r *Reference) Add(f replica.Fact) error {
	a := f.Args
	switch {
	case f.Predicate == predHasRole && len(a) == 3 && a[1].Type == TypeString:
		m := r.roles[a[0]]
		if m == nil {
			m = map[replica.Value][]string{}
			r.roles[a[0]] = m
		}
		m[a[2]] = append(m[a[2]], a[1].ID)
	case f.Predicate == predHasRole && len(a) == 2 && a[1].Type == TypeString:
		r.global[a[0]] = append(r.global[a[0]], a[1].ID)
	case f.Predicate == predHasRelation && len(a) == 3 && a[1].Type == TypeString:
		k := relKey{subject: a[0], name: a[1].ID}
		r.rel[k] = append(r.rel[k], a[2])
	case f.Predicate == predInGroup && len(a) == 2:
		r.groups[a[0]] = append(r.groups[a[0]], a[1])
	case f.Predicate == predIsPublic && len(a) == 1:
		r.public[a[0]] = true
	default:
		return fmt.Errorf("reference: fact %s has no meaning in the gitclub policy", f)
	}
	for _, v := range a {
		if v.Type == TypeString {
			continue
		}
		ids := r.universe[v.Type]
		if ids == nil {
			ids = map[string]bool{}
			r.universe[v.Type] = ids
		}
		ids[v.ID] = true
	}
	r.facts++
	return nil
}

func isActor(v replica.Value) bool { return v.Type == TypeUser || v.Type == TypeGroup }

func has(xs []string, x string) bool { return slices.Contains(xs, x) }

// orgRoles: direct roles, and "member" if "admin".
func (r *Reference) orgRoles(actor, org replica.Value) map[string]bool {
	set := map[string]bool{}
	for _, role := range r.roles[actor][org] {
		set[role] = true
	}
	if set["admin"] {
		set["member"] = true
	}
	return set
}

// repoRoles: direct roles; a user's groups' roles (the longhand rule);
// "reader" if "member" on the organization; "admin" if "admin" on the
// organization; then admin ⇒ maintainer ⇒ writer ⇒ reader.
func (r *Reference) repoRoles(actor, repo replica.Value) map[string]bool {
	set := map[string]bool{}
	for _, role := range r.roles[actor][repo] {
		set[role] = true
	}
	if actor.Type == TypeUser {
		for _, g := range r.groups[actor] {
			if g.Type != TypeGroup {
				continue
			}
			for role := range r.repoRoles(g, repo) {
				set[role] = true
			}
		}
	}
	for _, org := range r.rel[relKey{repo, "organization"}] {
		if org.Type != TypeOrganization {
			continue
		}
		or := r.orgRoles(actor, org)
		if or["member"] {
			set["reader"] = true
		}
		if or["admin"] {
			set["admin"] = true
		}
	}
	if set["admin"] {
		set["maintainer"] = true
	}
	if set["maintainer"] {
		set["writer"] = true
	}
	if set["writer"] {
		set["reader"] = true
	}
	return set
}

// issueRepoRole reports whether actor holds role on some repository of issue.
func (r *Reference) issueRepoRole(actor, issue replica.Value, role string) bool {
	for _, repo := range r.rel[relKey{issue, "repository"}] {
		if repo.Type == TypeRepository && r.repoRoles(actor, repo)[role] {
			return true
		}
	}
	return false
}

// Authorize reports whether GitclubPolicy allows actor to do action on
// resource given the facts added so far.
func (r *Reference) Authorize(actor replica.Value, action string, resource replica.Value) bool {
	if !isActor(actor) {
		return false
	}
	switch resource.Type {
	case TypeOrganization:
		roles := r.orgRoles(actor, resource)
		switch action {
		case "read":
			return roles["member"] || has(r.global[actor], "support")
		case "create_repository", "manage_members":
			return roles["admin"]
		}
	case TypeRepository:
		roles := r.repoRoles(actor, resource)
		switch action {
		case "read":
			return roles["reader"] || r.public[resource]
		case "create_issue":
			return roles["reader"]
		case "push":
			return roles["writer"]
		case "manage_issues":
			return roles["maintainer"]
		case "delete":
			return roles["admin"]
		}
	case TypeIssue:
		switch action {
		case "read", "comment":
			return r.issueRepoRole(actor, resource, "reader")
		case "close":
			if actor.Type == TypeUser && slices.Contains(r.rel[relKey{resource, "creator"}], actor) {
				return true
			}
			return r.issueRepoRole(actor, resource, "maintainer")
		}
	}
	return false
}

// List returns, sorted, the ids of every value of type typ that appears in
// some fact and that actor may do action on. For a global "support" user
// listing readable organizations it returns ErrUnbounded.
func (r *Reference) List(actor replica.Value, action, typ string) ([]string, error) {
	if typ == TypeOrganization && action == "read" && isActor(actor) && has(r.global[actor], "support") {
		return nil, ErrUnbounded
	}
	var ids []string
	for id := range r.universe[typ] {
		if r.Authorize(actor, action, replica.Value{Type: typ, ID: id}) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
