package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
)

// sampleSize is how many facts of each kind a Sample keeps.
const sampleSize = 256

// Sample is what questions are built from: some of the node's role and
// relation facts and the permissions of each resource type.
type Sample struct {
	Roles       []replica.Fact      // has_role(actor, role, resource)
	Relations   []replica.Fact      // has_relation(child, name, parent)
	Permissions map[string][]string // resource type -> permissions
}

// reservoir keeps a uniform sample of at most sampleSize facts.
type reservoir struct {
	rng   *rand.Rand
	seen  int
	facts []replica.Fact
}

func (r *reservoir) offer(f func() replica.Fact) {
	r.seen++
	if len(r.facts) < sampleSize {
		r.facts = append(r.facts, f())
		return
	}
	if i := r.rng.IntN(r.seen); i < sampleSize {
		r.facts[i] = f()
	}
}

// SampleEngine samples the engine's state.
func SampleEngine(e *query.Engine, rng *rand.Rand) (Sample, error) {
	md, _, err := e.Metadata()
	if err != nil {
		return Sample{}, err
	}
	s := Sample{Permissions: map[string][]string{}}
	for t, m := range md {
		s.Permissions[t] = m.Permissions
	}
	v := e.State().Acquire()
	defer v.Release()
	for _, pred := range []string{"has_role", "has_relation"} {
		id, ok := v.RelationID(pred, 3)
		if !ok {
			continue
		}
		r := reservoir{rng: rng}
		v.ForEachTuple(id, func(t []uint32) bool {
			r.offer(func() replica.Fact {
				f := replica.Fact{Predicate: pred, Args: make([]replica.Value, 3)}
				for i, s := range t {
					typ, id := v.Value(s)
					f.Args[i] = replica.Value{Type: typ, ID: id}
				}
				return f
			})
			return true
		})
		if pred == "has_role" {
			s.Roles = r.facts
		} else {
			s.Relations = r.facts
		}
	}
	return s, nil
}

// SampleHTTP samples a node (or any Check API) over HTTP: its policy
// metadata and its has_role and has_relation facts (GET /api/facts,
// decoded as a stream).
func SampleHTTP(ctx context.Context, h HTTPAnswerer, rng *rand.Rand) (Sample, error) {
	s := Sample{Permissions: map[string][]string{}}
	var md struct {
		Metadata struct {
			Resources map[string]struct {
				Permissions []string `json:"permissions"`
			} `json:"resources"`
		} `json:"metadata"`
	}
	if err := h.get(ctx, "/api/policy_metadata", func(r io.Reader) error { return json.NewDecoder(r).Decode(&md) }); err != nil {
		return s, err
	}
	for t, m := range md.Metadata.Resources {
		s.Permissions[t] = m.Permissions
	}
	for _, pred := range []string{"has_role", "has_relation"} {
		r := reservoir{rng: rng}
		err := h.get(ctx, "/api/facts?predicate="+url.QueryEscape(pred), func(body io.Reader) error {
			dec := json.NewDecoder(body)
			if _, err := dec.Token(); err != nil {
				return err
			}
			for dec.More() {
				var f replica.Fact
				if err := dec.Decode(&f); err != nil {
					return err
				}
				if len(f.Args) == 3 {
					r.offer(func() replica.Fact { return f })
				}
			}
			_, err := dec.Token()
			return err
		})
		if err != nil {
			return s, err
		}
		if pred == "has_role" {
			s.Roles = r.facts
		} else {
			s.Relations = r.facts
		}
	}
	return s, nil
}

func (h HTTPAnswerer) get(ctx context.Context, path string, read func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(h.URL, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	setHeaders(req, h.Token)
	resp, err := h.client().Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %d: %s", path, resp.StatusCode, errMessage(data))
	}
	if err := read(resp.Body); err != nil {
		return fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	return nil
}

// Questions builds n questions from the sample: for a random role fact,
// the actor with the role's resource (authorize, actions, list of its
// type) and with a child of that resource; and pairs that should be
// denied (the actor with another fact's resource, an unknown actor).
func (s Sample) Questions(n int, rng *rand.Rand) []Question {
	if len(s.Roles) == 0 {
		return nil
	}
	children := map[replica.Value][]replica.Value{}
	for _, f := range s.Relations {
		children[f.Args[2]] = append(children[f.Args[2]], f.Args[0])
	}
	action := func(typ string) string {
		if p := s.Permissions[typ]; len(p) > 0 {
			return p[rng.IntN(len(p))]
		}
		return "read"
	}
	var out []Question
	for len(out) < n {
		f := s.Roles[rng.IntN(len(s.Roles))]
		actor, res := f.Args[0], f.Args[2]
		switch rng.IntN(6) {
		case 0:
			out = append(out, Question{Kind: KindAuthorize, Actor: actor, Action: action(res.Type), Resource: res})
		case 1:
			out = append(out, Question{Kind: KindActions, Actor: actor, Resource: res})
		case 2:
			out = append(out, Question{Kind: KindList, Actor: actor, Action: action(res.Type), ResourceType: res.Type})
		case 3:
			if c := children[res]; len(c) > 0 {
				child := c[rng.IntN(len(c))]
				out = append(out, Question{Kind: KindAuthorize, Actor: actor, Action: action(child.Type), Resource: child})
			} else {
				out = append(out, Question{Kind: KindActions, Actor: actor, Resource: res})
			}
		case 4: // probably denied: another fact's resource
			other := s.Roles[rng.IntN(len(s.Roles))].Args[2]
			out = append(out, Question{Kind: KindAuthorize, Actor: actor, Action: action(other.Type), Resource: other})
		default: // denied: an actor no fact mentions
			nobody := replica.Value{Type: actor.Type, ID: fmt.Sprintf("outpost-verify-nobody-%d", rng.Uint32())}
			out = append(out, Question{Kind: KindAuthorize, Actor: nobody, Action: action(res.Type), Resource: res})
		}
	}
	return out
}
