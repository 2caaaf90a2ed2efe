package httpapi

import (
	"hash/maphash"
	"sync/atomic"
)

// answerMemo keeps the last authorize answers by request body, in front of
// the engine's answer cache: a repeated question (the same bytes, to the
// same store at the same revision) is answered without decoding the body,
// building a cache key or asking the cache. It is two-way set-associative:
// each body hashes to a pair of slots, a new answer takes a free or
// outdated one of the two (else the second), and a hit compares the whole
// body, so a hash collision is a miss, never a wrong answer. An
// entry is used only at the revision (and for the state) it was computed
// at, so a write, a revocation or a replaced state (a new store id) makes
// it unreachable; it holds no reference to a state.
// Only answers the engine calls Reusable (no clock read) are kept, and
// none when the engine has no answer cache.
type answerMemo struct {
	seed  maphash.Seed
	slots []atomic.Pointer[memoEntry]
	mask  uint64
}

type memoEntry struct {
	store   uint64 // replica.View.StoreID
	rev     uint64
	body    string
	allowed bool
}

// memoSlots is the memo's size: 16,384 answers, at about 220 bytes each
// (entry, body and slot) under 4 MiB.
const memoSlots = 16384

// memoMaxBody is the largest body kept: bigger ones (context facts) are
// rarely repeated byte for byte and would make the memo's memory
// unbounded in practice.
const memoMaxBody = 1024

// newAnswerMemo returns a memo of n slots (a power of two, at least 2).
func newAnswerMemo(n int) *answerMemo {
	return &answerMemo{seed: maphash.MakeSeed(), slots: make([]atomic.Pointer[memoEntry], n), mask: uint64(n - 1)}
}

// pair returns the two slots of body.
func (m *answerMemo) pair(body []byte) (*atomic.Pointer[memoEntry], *atomic.Pointer[memoEntry]) {
	i := maphash.Bytes(m.seed, body) & m.mask
	return &m.slots[i], &m.slots[i^1]
}

func (e *memoEntry) holds(store, rev uint64, body []byte) bool {
	return e != nil && e.store == store && e.rev == rev && e.body == string(body)
}

// get returns the answer kept for body at (store, rev).
func (m *answerMemo) get(store, rev uint64, body []byte) (allowed, ok bool) {
	if len(body) > memoMaxBody {
		return false, false
	}
	a, b := m.pair(body)
	if e := a.Load(); e.holds(store, rev, body) {
		return e.allowed, true
	}
	if e := b.Load(); e.holds(store, rev, body) {
		return e.allowed, true
	}
	return false, false
}

// put keeps the answer for body at (store, rev), in the first of its two
// slots that is free or holds an answer of another store or revision,
// else in the second.
func (m *answerMemo) put(store, rev uint64, body []byte, allowed bool) {
	if len(body) > memoMaxBody {
		return
	}
	a, b := m.pair(body)
	s := b
	if e := a.Load(); e == nil || e.store != store || e.rev != rev {
		s = a
	}
	s.Store(&memoEntry{store: store, rev: rev, body: string(body), allowed: allowed})
}
