package httpapi

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
)

// TestAnswerMemoCompares: slots shared by several bodies (one pair here)
// never answer one with another's answer, nor with an answer of another
// store or revision; bodies past memoMaxBody are not kept.
func TestAnswerMemoCompares(t *testing.T) {
	m := newAnswerMemo(2)
	a, b := []byte(`{"a":1}`), []byte(`{"b":2}`)
	m.put(7, 3, a, true)
	if v, ok := m.get(7, 3, a); !ok || !v {
		t.Fatalf("get(a) = %v, %v; want true, true", v, ok)
	}
	for _, c := range []struct {
		name       string
		store, rev uint64
		body       []byte
	}{{"other body", 7, 3, b}, {"other revision", 7, 4, a}, {"other store", 8, 3, a}, {"prefix", 7, 3, a[:5]}} {
		if _, ok := m.get(c.store, c.rev, c.body); ok {
			t.Errorf("%s: a hit", c.name)
		}
	}
	m.put(7, 3, b, false)
	if v, ok := m.get(7, 3, b); !ok || v {
		t.Errorf("get(b) = %v, %v; want false, true", v, ok)
	}
	c := []byte(`{"c":3}`)
	m.put(7, 3, c, true)
	if v, ok := m.get(7, 3, c); !ok || !v {
		t.Errorf("get(c) = %v, %v; want true, true", v, ok)
	}
	kept := 0
	for _, body := range [][]byte{a, b} {
		if v, ok := m.get(7, 3, body); ok {
			kept++
			if v != (string(body) == string(a)) {
				t.Errorf("%s answered %v", body, v)
			}
		}
	}
	if kept != 1 {
		t.Errorf("%d of a and b kept beside c in a pair of slots, want 1", kept)
	}
	m.put(7, 4, a, false) // a new revision takes an outdated slot
	if v, ok := m.get(7, 4, a); !ok || v {
		t.Errorf("get(a) at revision 4 = %v, %v; want false, true", v, ok)
	}
	big := []byte(`{"x":"` + strings.Repeat("y", memoMaxBody) + `"}`)
	m.put(7, 3, big, true)
	if _, ok := m.get(7, 3, big); ok {
		t.Error("a body past memoMaxBody was kept")
	}
}

// TestAnswerMemoOverHTTP: a repeated question is answered from the memo
// with the revision header of its revision; after a write that revokes the
// grant the same bytes are evaluated again and denied.
func TestAnswerMemoOverHTTP(t *testing.T) {
	st := loadedState(t)
	ts := startServer(t, st, nil)
	body := authzBody("User:alice", "read", "Repository:anvil")
	if r := ts.post(t, "/api/authorize", body); r.status != 200 || !r.object(t)["allowed"].(bool) {
		t.Fatalf("first answer: %d %s", r.status, r.body)
	}
	info := ts.srv.stateInfo()
	if v, ok := ts.srv.memo.get(info.store, info.revision, []byte(body)); !ok || !v {
		t.Fatalf("the answer was not kept: %v %v", v, ok)
	}
	hits, _ := ts.eng.CacheStats()
	r := ts.post(t, "/api/authorize", body)
	if r.status != 200 || !r.object(t)["allowed"].(bool) || r.header.Get(headerRevision) != "3" {
		t.Fatalf("memo answer: %d %s revision %q", r.status, r.body, r.header.Get(headerRevision))
	}
	if h, _ := ts.eng.CacheStats(); h != hits+1 {
		t.Errorf("cache hits went from %d to %d, want one more", hits, h)
	}

	a := &applier{t, st}
	a.apply(replica.Event{Kind: replica.KindBatch, Deletes: []replica.Pattern{{Predicate: "has_role",
		Args: []replica.PatternArg{replica.Exact(val("User", "alice")), replica.Any(), replica.Any()}}}})
	r = ts.post(t, "/api/authorize", body)
	if r.status != 200 || r.object(t)["allowed"].(bool) || r.header.Get(headerRevision) != "4" {
		t.Fatalf("after revoking: %d %s revision %q, want denied at 4", r.status, r.body, r.header.Get(headerRevision))
	}
}

// TestAnswerMemoSkipsClockAnswers: an answer that read @current_unix_time
// is not kept, so it changes when the clock passes an expiry.
func TestAnswerMemoSkipsClockAnswers(t *testing.T) {
	st := newState()
	a := &applier{t, st}
	a.policy(`actor User {}
resource Doc { permissions = ["read"]; }
has_permission(u: User, "read", d: Doc) if grant_until(u, d, t) and t > @current_unix_time;
declare grant_until(User, Doc, Integer);`)
	a.tokens(testKey)
	a.insert(fact("grant_until", val("User", "a"), val("Doc", "d"), val("Integer", "1000")))
	var now atomic.Int64
	now.Store(999)
	ts := startServerWith(t, st, query.Config{Now: now.Load}, nil)
	body := authzBody("User:a", "read", "Doc:d")
	for range 3 {
		if r := ts.post(t, "/api/authorize", body); r.status != 200 || !r.object(t)["allowed"].(bool) {
			t.Fatalf("before expiry: %d %s", r.status, r.body)
		}
	}
	now.Store(1000)
	if r := ts.post(t, "/api/authorize", body); r.status != 200 || r.object(t)["allowed"].(bool) {
		t.Fatalf("after expiry: %d %s, want denied", r.status, r.body)
	}
}

// TestAnswerMemoFollowsTheCache: a node without an answer cache keeps no
// memo either (the uncached figures stay uncached).
func TestAnswerMemoFollowsTheCache(t *testing.T) {
	if ts := startServerWith(t, loadedState(t), query.Config{CacheMaxBytes: -1}, nil); ts.srv.memo != nil {
		t.Error("a server over an uncached engine has an answer memo")
	}
}
