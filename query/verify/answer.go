package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
)

// Question kinds.
const (
	KindAuthorize = "authorize"
	KindActions   = "actions"
	KindList      = "list"
)

// Question is one Check API question.
type Question struct {
	Kind         string        `json:"kind"`
	Actor        replica.Value `json:"actor"`
	Action       string        `json:"action,omitempty"`
	Resource     replica.Value `json:"resource,omitzero"`
	ResourceType string        `json:"resource_type,omitempty"`
}

func (q Question) String() string {
	switch q.Kind {
	case KindAuthorize:
		return fmt.Sprintf("authorize(%s, %q, %s)", q.Actor, q.Action, q.Resource)
	case KindActions:
		return fmt.Sprintf("actions(%s, %s)", q.Actor, q.Resource)
	default:
		return fmt.Sprintf("list(%s, %q, %s)", q.Actor, q.Action, q.ResourceType)
	}
}

// Answer is one side's answer: Allowed for authorize, Results (sorted) for
// actions and list, and the revision it was answered at ("" when the side
// does not say).
type Answer struct {
	Allowed  bool     `json:"allowed,omitempty"`
	Results  []string `json:"results,omitempty"`
	Revision string   `json:"revision,omitempty"`
}

// Same reports whether two answers to q agree.
func Same(q Question, a, b Answer) bool {
	if q.Kind == KindAuthorize {
		return a.Allowed == b.Allowed
	}
	if len(a.Results) != len(b.Results) {
		return false
	}
	for i := range a.Results {
		if a.Results[i] != b.Results[i] {
			return false
		}
	}
	return true
}

// Answerer answers questions.
type Answerer interface {
	Answer(ctx context.Context, q Question) (Answer, error)
}

// EngineAnswerer answers from a local engine.
type EngineAnswerer struct{ Engine *query.Engine }

// Answer asks the engine.
func (e EngineAnswerer) Answer(_ context.Context, q Question) (Answer, error) {
	var a Answer
	var m query.Meta
	var err error
	switch q.Kind {
	case KindAuthorize:
		a.Allowed, m, err = e.Engine.Authorize(query.Check{Actor: q.Actor, Action: q.Action, Resource: q.Resource})
	case KindActions:
		a.Results, _, m, err = e.Engine.Actions(q.Actor, q.Resource, nil)
	case KindList:
		a.Results, _, m, err = e.Engine.List(q.Actor, q.Action, q.ResourceType, nil)
	default:
		return a, fmt.Errorf("unknown question kind %q", q.Kind)
	}
	if err != nil {
		return a, err
	}
	a.Results = sorted(a.Results)
	a.Revision = strconv.FormatUint(m.Revision, 10)
	return a, nil
}

// HTTPAnswerer asks a Check API over HTTP (an Oso upstream, the reference
// control plane or a node).
type HTTPAnswerer struct {
	URL    string // base URL; /api/... is appended
	Token  string // Bearer key
	Client *http.Client
}

// Answer sends q to the Check API.
func (h HTTPAnswerer) Answer(ctx context.Context, q Question) (Answer, error) {
	body := map[string]any{"actor_type": q.Actor.Type, "actor_id": q.Actor.ID, "context_facts": []any{}}
	path := "/api/" + q.Kind
	switch q.Kind {
	case KindAuthorize:
		body["action"], body["resource_type"], body["resource_id"] = q.Action, q.Resource.Type, q.Resource.ID
	case KindActions:
		body["resource_type"], body["resource_id"] = q.Resource.Type, q.Resource.ID
	case KindList:
		body["action"], body["resource_type"] = q.Action, q.ResourceType
	default:
		return Answer{}, fmt.Errorf("unknown question kind %q", q.Kind)
	}
	var out struct {
		Allowed bool     `json:"allowed"`
		Results []string `json:"results"`
	}
	rev, err := h.post(ctx, path, body, &out)
	if err != nil {
		return Answer{}, err
	}
	return Answer{Allowed: out.Allowed, Results: sorted(out.Results), Revision: rev}, nil
}

func (h HTTPAnswerer) post(ctx context.Context, path string, body, out any) (string, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(h.URL, "/")+path, bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", path, err)
	}
	setHeaders(req, h.Token)
	resp, err := h.client().Do(req)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return "", fmt.Errorf("POST %s: read answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s: %d: %s", path, resp.StatusCode, errMessage(data))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return "", fmt.Errorf("POST %s: decode answer: %w", path, err)
	}
	return resp.Header.Get("X-Outpost-Revision"), nil
}

func (h HTTPAnswerer) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return http.DefaultClient
}

func setHeaders(req *http.Request, token string) {
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-OsoApiVersion", "0")
	req.Header.Set("User-Agent", "Outpost (verify)")
}

func errMessage(data []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &m) == nil && m.Message != "" {
		return m.Message
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func sorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}
