package query

import (
	"sync/atomic"
	"testing"

	"github.com/outpost-authz/outpost/replica"
)

// TestTimeDependentAnswersAreNotCached: an answer that read
// @current_unix_time depends on the clock as well as on the revision, so
// the answer cache must not serve it once the clock has moved on (here an
// expiring grant).
func TestTimeDependentAnswersAreNotCached(t *testing.T) {
	st, must := newApplied(t)
	must(replica.Event{Env: "t", Seq: 1, Kind: replica.KindPolicy, Policy: &replica.PolicySource{Src: `actor User {}
resource Doc { permissions = ["read", "list"]; }
has_permission(u: User, "read", d: Doc) if
  grant_until(u, d, t) and t > @current_unix_time;
has_permission(_: User, "list", _: Doc);
declare grant_until(User, Doc, Integer);`}})
	a, d := replica.Value{Type: "User", ID: "a"}, replica.Value{Type: "Doc", ID: "d"}
	must(replica.Event{Env: "t", Seq: 2, Kind: replica.KindBatch, Inserts: []replica.Fact{
		{Predicate: "grant_until", Args: []replica.Value{a, d, {Type: "Integer", ID: "1000"}}}}})
	var now atomic.Int64
	now.Store(999)
	e := newEngine(t, st, Config{Now: now.Load})
	read := Check{Actor: a, Action: "read", Resource: d}
	for range 20 { // ristretto admits asynchronously: give it every chance
		if ok, _, err := e.Authorize(read); err != nil || !ok {
			t.Fatalf("before expiry: allowed=%v err=%v", ok, err)
		}
		e.cache.Wait()
	}
	for range 20 {
		if ids, _, _, err := e.List(a, "read", "Doc", nil); err != nil || len(ids) != 1 {
			t.Fatalf("list before expiry: %v %v", ids, err)
		}
		e.cache.Wait()
	}
	now.Store(1000)
	ok, m, err := e.Authorize(read)
	if err != nil || ok || m.Cached {
		t.Fatalf("after expiry: allowed=%v cached=%v err=%v, want denied, evaluated", ok, m.Cached, err)
	}
	if ids, _, m, err := e.List(a, "read", "Doc", nil); err != nil || len(ids) != 0 || m.Cached {
		t.Fatalf("list after expiry: %v cached=%v err=%v, want none, evaluated", ids, m.Cached, err)
	}

	// A question whose evaluation never reads the clock is still cached.
	list := Check{Actor: a, Action: "list", Resource: d}
	cached := false
	for range 50 {
		ok, m, err := e.Authorize(list)
		if err != nil || !ok {
			t.Fatalf("list: allowed=%v err=%v", ok, err)
		}
		if cached = m.Cached; cached {
			break
		}
		e.cache.Wait()
	}
	if !cached {
		t.Error("an answer that did not read the clock was never served from the cache")
	}
}

// TestAuthorizeAllocations: an uncached check allocates once (the view);
// the query options stay on the caller's stack even though the query
// reports back through them (ReadClock).
func TestAuthorizeAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	st, s := gitclub(t, 10_000)
	e := newEngine(t, st, Config{CacheMaxBytes: -1})
	c := Check{Actor: s.Direct.Actor, Action: s.Direct.Action, Resource: s.Direct.Resource}
	if ok, _, err := e.Authorize(c); err != nil || !ok {
		t.Fatalf("authorize %v: %v %v", c, ok, err)
	}
	if n := testing.AllocsPerRun(200, func() { e.Authorize(c) }); n > 1 {
		t.Errorf("an uncached check allocates %.1f times, want at most 1", n)
	}
}
