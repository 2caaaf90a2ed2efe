package query

import (
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// TestCacheFollowsStateReplacement: a re-bootstrap after a fork (#17
// item 3) can replace the state with one holding other facts at the same
// revision; cached answers of the old state must not be served for it.
func TestCacheFollowsStateReplacement(t *testing.T) {
	build := func(user string) *replica.State {
		t.Helper()
		st := replica.New(replica.Config{Env: "t", Compiler: Compile})
		evs := []replica.Event{
			{Kind: replica.KindPolicy, Policy: &replica.PolicySource{Src: datasets.GitclubPolicy, Filename: "main.polar"}},
			{Kind: replica.KindBatch, Inserts: []replica.Fact{{Predicate: "has_role", Args: []replica.Value{
				{Type: "User", ID: user}, {Type: "String", ID: "reader"}, {Type: "Repository", ID: "r"}}}}},
		}
		for i, ev := range evs {
			ev.Env, ev.Seq, ev.Time = "t", uint64(i+1), time.Unix(1, 0)
			if err := st.Apply(ev); err != nil {
				t.Fatal(err)
			}
		}
		return st
	}
	e := newEngine(t, build("lost"), Config{})
	q := func(user string) bool {
		t.Helper()
		ok, _, err := e.Authorize(Check{Actor: replica.Value{Type: "User", ID: user}, Action: "read",
			Resource: replica.Value{Type: "Repository", ID: "r"}})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !q("lost") || q("new") {
		t.Fatal("before the swap: want lost allowed, new denied")
	}
	e.cache.Wait() // the answers are in the cache now
	if _, m, _ := e.Authorize(Check{Actor: replica.Value{Type: "User", ID: "lost"}, Action: "read",
		Resource: replica.Value{Type: "Repository", ID: "r"}}); !m.Cached {
		t.Fatal("the answer was not cached; the test proves nothing")
	}
	e.SetState(build("new")) // same revision 2, other facts
	if q("lost") || !q("new") {
		t.Error("after the swap to a state at the same revision: stale cached answers")
	}
}
