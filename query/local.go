package query

import (
	"time"

	"github.com/outpost-authz/outpost/query/polar"
	"github.com/outpost-authz/outpost/replica"
)

// LocalInput is what a local-authorization translation needs from the
// engine: one view, its compiled policy, the request's context facts
// (checked and canonical) and the engine's clock and budget.
type LocalInput struct {
	DB       polar.Database
	Policy   *polar.Policy
	Context  []polar.Fact
	Now      int64
	MaxSteps int
}

// Local runs fn over the current view (held for the call), after checking
// the context facts as every other question does. The answer is never
// cached: it depends on the data-bindings text.
func (e *Engine) Local(context []replica.Fact, fn func(in LocalInput) error) (Meta, error) {
	v, p, err := e.begin()
	if err != nil {
		return Meta{}, err
	}
	defer v.Release()
	m := Meta{Revision: v.Revision()}
	if err := checkContext(p, context); err != nil {
		return m, err
	}
	in := LocalInput{DB: v, Policy: p, MaxSteps: e.cfg.MaxSteps}
	if e.cfg.Now != nil {
		in.Now = e.cfg.Now()
	} else {
		in.Now = time.Now().Unix()
	}
	for _, f := range context {
		in.Context = append(in.Context, toPolarFact(f))
	}
	return m, fn(in)
}
