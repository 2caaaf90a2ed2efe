package polar

import "sort"

// Warnings: problems that Oso's control plane accepts, so a node must load
// the policy anyway (a node that refuses a policy the control plane took has
// no policy when it is needed). Each has a stable code, like the errors of
// spec §13.4; `outpost test` prints them and a node logs them once per
// policy.
//
//	W001  unknown type where no value can ever have it: after matches (the
//	      condition is false), as a rule parameter's specializer (the rule
//	      never applies), in a declare or type signature (the signature is
//	      ignored), as a typed literal in a rule (a call or = with it never
//	      holds, != always holds, a list element never matches, a rule
//	      parameter makes the rule inert).
//	W002  a test or test fixture name used twice (the first fixture wins;
//	      tests run in order either way).
//	W003  a rule parameter with a name but no type that occurs nowhere else
//	      in the rule: it matches any value, as _ does.
//	W004  a relation to a non-actor type used as a role in a shorthand rule:
//	      no actor is ever the related object, so the condition never holds.

// Warnings returns the warnings found when the policy was compiled, in
// source order. The policy works as described by each warning.
func (p *Policy) Warnings() ErrorList {
	return p.warnings
}

// MetadataKeyGlobal is the key of the global block's entry in Metadata.
const MetadataKeyGlobal = "global"

// describe fills what a compiled policy reports about itself: the metadata
// of every actor and resource block plus the global entry (always present,
// empty without a global block), and the warnings.
func (b *builder) describe(p *Policy) {
	p.meta = make(map[string]ResourceMetadata, len(b.blocks)+1)
	for name, d := range b.blocks {
		p.meta[name] = d.metadata()
	}
	if b.global != nil {
		p.meta[MetadataKeyGlobal] = b.global.metadata()
	} else {
		p.meta[MetadataKeyGlobal] = (&blockDecls{}).metadata()
	}
	sortDiags(b.warns)
	p.warnings = b.warns
}

// metadata is what /api/policy_metadata reports for one block: roles and
// permissions sorted (check-api.md §4.8), never nil.
func (b *blockDecls) metadata() ResourceMetadata {
	m := ResourceMetadata{
		Roles:       append([]string{}, b.roles...),
		Permissions: append([]string{}, b.permissions...),
		Relations:   map[string]string{},
	}
	sort.Strings(m.Roles)
	sort.Strings(m.Permissions)
	for _, r := range b.relations {
		m.Relations[r.Name] = r.Type.Name
	}
	return m
}
