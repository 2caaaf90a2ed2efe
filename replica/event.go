package replica

import "time"

// Event kinds.
const (
	KindBatch  = "batch"
	KindPolicy = "policy"
	KindClear  = "clear"
	KindTokens = "tokens"
)

// Event is one entry of an environment's ordered change log (DESIGN.md §3).
// Seq numbers start at 1 and have no gaps.
//
// A batch event applies its Deletes first, then its Inserts. The control
// plane normalises an Oso batch request (ordered groups of inserts and
// deletes) into this form; see docs/decisions.md.
type Event struct {
	Env     string        `json:"env"`
	Seq     uint64        `json:"seq"`
	Time    time.Time     `json:"time"`
	Kind    string        `json:"kind"`
	Inserts []Fact        `json:"inserts,omitempty"`
	Deletes []Pattern     `json:"deletes,omitempty"`
	Policy  *PolicySource `json:"policy,omitempty"`
	Tokens  []Token       `json:"tokens,omitempty"`
}

// PolicySource is the text of a policy.
type PolicySource struct {
	Src      string `json:"src"`
	Filename string `json:"filename"`
}

// Token is the SHA-256 hash (lower-case hex) of an API key and its access
// level ("read" or "write"). Nodes never see the keys themselves.
type Token struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
	Access string `json:"access"`
}
