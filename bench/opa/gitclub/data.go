package gitclub

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// Data holds the data documents of the policy, built from facts (doc.go
// describes each one). Its JSON encoding is the data.json of an OPA bundle.
type Data struct {
	UserOrgRoles   map[string]map[string][]string `json:"user_org_roles"`
	GlobalRoles    map[string][]string            `json:"global_roles"`
	GroupMembers   map[string][]string            `json:"group_members"`
	GroupRepoRoles map[string]map[string][]string `json:"group_repo_roles"`
	UserRepoRoles  map[string]map[string][]string `json:"user_repo_roles"`
	RepoOrg        map[string]string              `json:"repo_org"`
	OrgRepos       map[string][]string            `json:"org_repos"`
	Public         map[string]bool                `json:"public"`
	IssueRepo      map[string]string              `json:"issue_repo"`
	IssueCreator   map[string]string              `json:"issue_creator"`

	facts int64
}

// NewData returns empty documents; feed them facts with Add.
func NewData() *Data {
	return &Data{
		UserOrgRoles:   map[string]map[string][]string{},
		GlobalRoles:    map[string][]string{},
		GroupMembers:   map[string][]string{},
		GroupRepoRoles: map[string]map[string][]string{},
		UserRepoRoles:  map[string]map[string][]string{},
		RepoOrg:        map[string]string{},
		OrgRepos:       map[string][]string{},
		Public:         map[string]bool{},
		IssueRepo:      map[string]string{},
		IssueCreator:   map[string]string{},
	}
}

// Build generates the data set cfg chooses into new documents.
func Build(cfg datasets.Config) (*Data, error) {
	d := NewData()
	if err := datasets.Generate(cfg, d.Add); err != nil {
		return nil, fmt.Errorf("build gitclub data: %w", err)
	}
	return d, nil
}

// Facts is the number of facts added.
func (d *Data) Facts() int64 { return d.facts }

// Add adds one fact. It fits datasets.Generate's emit parameter and rejects
// facts of a shape the documents do not hold (see doc.go).
func (d *Data) Add(f replica.Fact) error {
	a := f.Args
	is := func(i int, typ string) bool { return a[i].Type == typ }
	switch {
	case f.Predicate == "has_role" && len(a) == 3 && is(0, datasets.TypeUser) && is(1, datasets.TypeString) && is(2, datasets.TypeOrganization):
		addRole(d.UserOrgRoles, a[0].ID, a[2].ID, a[1].ID)
	case f.Predicate == "has_role" && len(a) == 3 && is(0, datasets.TypeUser) && is(1, datasets.TypeString) && is(2, datasets.TypeRepository):
		addRole(d.UserRepoRoles, a[0].ID, a[2].ID, a[1].ID)
	case f.Predicate == "has_role" && len(a) == 3 && is(0, datasets.TypeGroup) && is(1, datasets.TypeString) && is(2, datasets.TypeRepository):
		addRole(d.GroupRepoRoles, a[0].ID, a[2].ID, a[1].ID)
	case f.Predicate == "has_role" && len(a) == 2 && is(0, datasets.TypeUser) && is(1, datasets.TypeString):
		d.GlobalRoles[a[0].ID] = append(d.GlobalRoles[a[0].ID], a[1].ID)
	case f.Predicate == "in_group" && len(a) == 2 && is(0, datasets.TypeUser) && is(1, datasets.TypeGroup):
		d.GroupMembers[a[0].ID] = append(d.GroupMembers[a[0].ID], a[1].ID)
	case f.Predicate == "is_public" && len(a) == 1 && is(0, datasets.TypeRepository):
		d.Public[a[0].ID] = true
	case f.Predicate == "has_relation" && len(a) == 3 && is(1, datasets.TypeString):
		return d.addRelation(f)
	default:
		return fmt.Errorf("gitclub data: fact %s has no document", f)
	}
	d.facts++
	return nil
}

func (d *Data) addRelation(f replica.Fact) error {
	subject, name, object := f.Args[0], f.Args[1].ID, f.Args[2]
	var m map[string]string
	switch {
	case subject.Type == datasets.TypeRepository && name == "organization" && object.Type == datasets.TypeOrganization:
		m = d.RepoOrg
	case subject.Type == datasets.TypeIssue && name == "repository" && object.Type == datasets.TypeRepository:
		m = d.IssueRepo
	case subject.Type == datasets.TypeIssue && name == "creator" && object.Type == datasets.TypeUser:
		m = d.IssueCreator
	default:
		return fmt.Errorf("gitclub data: fact %s has no document", f)
	}
	if old, ok := m[subject.ID]; ok {
		if old == object.ID {
			d.facts++
			return nil // a duplicate fact: the documents already say so
		}
		return fmt.Errorf("gitclub data: fact %s: %s already has %s %s", f, subject, name, old)
	}
	m[subject.ID] = object.ID
	if name == "organization" {
		d.OrgRepos[object.ID] = append(d.OrgRepos[object.ID], subject.ID)
	}
	d.facts++
	return nil
}

func addRole(m map[string]map[string][]string, actor, resource, role string) {
	inner := m[actor]
	if inner == nil {
		inner = map[string][]string{}
		m[actor] = inner
	}
	inner[resource] = append(inner[resource], role)
}

// WriteJSON writes the documents as one JSON object (a bundle's data.json).
func (d *Data) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := json.NewEncoder(bw).Encode(d); err != nil {
		return fmt.Errorf("encode gitclub data: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write gitclub data: %w", err)
	}
	return nil
}
