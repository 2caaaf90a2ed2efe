package httpapi

import (
	"net/url"

	"github.com/outpost-authz/outpost/replica"
)

// FactsPattern parses GET /api/facts's query string (check-api.md §4.7)
// into a pattern, with the same errors the handler answers 400 with. The
// reference control plane uses it to enforce its optional result limit.
func FactsPattern(q url.Values) (replica.Pattern, error) { return factsPattern(q) }
