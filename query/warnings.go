package query

import (
	"crypto/sha256"
	"log/slog"
	"sync"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// LoggingCompiler returns a replica.Compiler that compiles like Compile and
// logs the warnings of a policy (polar.Policy.Warnings: forms Oso accepts
// that a node loads with a caveat) once, at warn level, the first time it
// compiles that policy source. A node compiles the same policy again on
// resyncs and checkpoint loads; those stay quiet. Safe for concurrent use.
func LoggingCompiler(log *slog.Logger) replica.Compiler {
	var mu sync.Mutex // guards last
	var last [sha256.Size]byte
	return func(src replica.PolicySource) (any, error) {
		compiled, err := Compile(src)
		if err != nil {
			return compiled, err
		}
		p, _ := compiled.(*polar.Policy)
		if p == nil || len(p.Warnings()) == 0 {
			return compiled, nil
		}
		sum := sha256.Sum256([]byte(src.Filename + "\x00" + src.Src))
		mu.Lock()
		seen := sum == last
		last = sum
		mu.Unlock()
		if !seen {
			for _, w := range p.Warnings() {
				log.Warn("policy warning: the policy loads, with this caveat", "code", w.Code, "warning", w.Error())
			}
		}
		return compiled, nil
	}
}
