package gitclub

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

const testFacts = 10_000

// load builds the 10k-fact data set into an Engine and a Reference.
func load(t testing.TB, mode StoreMode) (*Engine, *datasets.Reference, datasets.Shape) {
	t.Helper()
	cfg := datasets.Config{Facts: testFacts, Seed: 1}
	d, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.Facts() != testFacts {
		t.Fatalf("data holds %d facts, want %d", d.Facts(), testFacts)
	}
	var buf bytes.Buffer
	if err := d.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	e, _, err := Load(t.Context(), buf.Bytes(), mode)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := datasets.LoadReference(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, ref, datasets.MustDescribe(cfg)
}

func TestAgreesWithReference(t *testing.T) {
	for _, mode := range []StoreMode{StoreRaw, StoreAST} {
		t.Run(string(mode), func(t *testing.T) {
			e, ref, shape := load(t, mode)

			named := []struct {
				name string
				q    datasets.Query
				want bool
			}{
				{"direct", shape.Direct, true},
				{"inherit", shape.Inherit, true},
				{"denied", shape.Denied, false},
				{"group", shape.Group, true},
				{"public", shape.Public, true},
				{"support", shape.Support, true},
			}
			for _, c := range named {
				t.Run(c.name, func(t *testing.T) {
					got, err := e.Authorize(t.Context(), Input(c.q))
					if err != nil {
						t.Fatal(err)
					}
					if got != c.want || ref.Authorize(c.q.Actor, c.q.Action, c.q.Resource) != c.want {
						t.Errorf("%s: opa %v, want %v", c.q, got, c.want)
					}
				})
			}

			qs := shape.SampleQueries(10_000, 1)
			var allowed, wrong int
			for _, q := range qs {
				got, err := e.Authorize(t.Context(), Input(q))
				if err != nil {
					t.Fatal(err)
				}
				want := ref.Authorize(q.Actor, q.Action, q.Resource)
				if want {
					allowed++
				}
				if got != want {
					wrong++
					if wrong <= 10 {
						t.Errorf("%s: opa %v, reference %v", q, got, want)
					}
				}
			}
			if wrong > 0 {
				t.Errorf("%d of %d answers differ", wrong, len(qs))
			}
			if allowed < len(qs)/4 || allowed > 3*len(qs)/4 {
				t.Errorf("%d of %d sample questions allowed; the sample should be mixed", allowed, len(qs))
			}
		})
	}
}

func TestListAgreesWithReference(t *testing.T) {
	e, ref, shape := load(t, StoreRaw)
	actors := []struct {
		name  string
		actor replica.Value
	}{
		{"big user", shape.BigUser},
		{"direct", shape.Direct.Actor},
		{"inherit", shape.Inherit.Actor},
		{"group member", shape.Group.Actor},
		{"group", shape.GroupVia},
		{"support", shape.Support.Actor},
		{"unknown user", replica.Value{Type: datasets.TypeUser, ID: "user-9999999"}},
		{"not an actor", replica.Value{Type: datasets.TypeRepository, ID: datasets.RepoID(0)}},
	}
	for _, c := range actors {
		t.Run(c.name, func(t *testing.T) {
			want, err := ref.List(c.actor, "read", datasets.TypeRepository)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.ListReadable(t.Context(), ListInput(c.actor))
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("opa lists %d repositories, reference %d", len(got), len(want))
			}
		})
	}
	if n, _ := ref.List(shape.BigUser, "read", datasets.TypeRepository); int64(len(n)) != shape.BigUserRepos {
		t.Errorf("big user reads %d repositories, shape says %d", len(n), shape.BigUserRepos)
	}
}

func TestAddRejects(t *testing.T) {
	v := func(typ, id string) replica.Value { return replica.Value{Type: typ, ID: id} }
	s := func(id string) replica.Value { return v(datasets.TypeString, id) }
	cases := []struct {
		name string
		f    []replica.Fact // all but the last are accepted
	}{
		{"group org role", []replica.Fact{{Predicate: "has_role", Args: []replica.Value{v("Group", "g"), s("member"), v("Organization", "o")}}}},
		{"group global role", []replica.Fact{{Predicate: "has_role", Args: []replica.Value{v("Group", "g"), s("support")}}}},
		{"unknown predicate", []replica.Fact{{Predicate: "owns", Args: []replica.Value{v("User", "u"), v("Repository", "r")}}}},
		{"unknown relation", []replica.Fact{{Predicate: "has_relation", Args: []replica.Value{v("Repository", "r"), s("parent"), v("Repository", "p")}}}},
		{"second organization", []replica.Fact{
			{Predicate: "has_relation", Args: []replica.Value{v("Repository", "r"), s("organization"), v("Organization", "o1")}},
			{Predicate: "has_relation", Args: []replica.Value{v("Repository", "r"), s("organization"), v("Organization", "o1")}},
			{Predicate: "has_relation", Args: []replica.Value{v("Repository", "r"), s("organization"), v("Organization", "o2")}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewData()
			last := len(c.f) - 1
			for i, f := range c.f[:last] {
				if err := d.Add(f); err != nil {
					t.Fatalf("fact %d: %v", i, err)
				}
			}
			if err := d.Add(c.f[last]); err == nil {
				t.Errorf("Add(%s) accepted", c.f[last])
			}
		})
	}
}

func TestServerAgreesWithReference(t *testing.T) {
	e, ref, shape := load(t, StoreRaw)
	s, err := StartServer(t.Context(), e, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(t.Context()); err != nil {
			t.Error(err)
		}
	}()
	client := &http.Client{}
	for _, q := range shape.SampleQueries(200, 2) {
		body, err := json.Marshal(map[string]any{"input": Input(q)})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Post("http://"+s.Addr+AllowPath, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Result *bool `json:"result"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || out.Result == nil {
			t.Fatalf("%s: status %d, result %v, err %v", q, resp.StatusCode, out.Result, err)
		}
		if want := ref.Authorize(q.Actor, q.Action, q.Resource); *out.Result != want {
			t.Errorf("%s: server %v, reference %v", q, *out.Result, want)
		}
	}
}
