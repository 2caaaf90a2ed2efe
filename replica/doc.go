// Package replica is Outpost's domain core: typed values and their interning,
// the indexed fact set, events and their application, read views at a
// revision, bulk loading for checkpoints, and the state digest. It imports
// nothing from Outpost (standard library only).
//
// # Data structures
//
// Values are interned to symbols (uint32, 1, 2, 3, ... below 1<<31) by an
// append-only interner: ids live in byte chunks, with a packed offset/length
// and a type number (uint16) per symbol and an open-addressing hash table for
// lookups. Symbols are never renumbered or reused for the life of a State;
// not even a clear event resets the interner, so symbols of values that no
// fact mentions any more are reclaimed only when a node restarts from a
// checkpoint (the Loader interns what the checkpoint lists).
//
// Facts are stored per relation (predicate, arity) as dense rows of symbols,
// with a hash set for set semantics and, for every argument position, an
// index from symbol to posting list of rows. Scan walks the shortest posting
// list among the bound positions. Deletes swap the last row into the hole and
// fix the indexes (O(arity) list updates), so there are no tombstones and
// scans never slow down after deletes. See relation and posIndex for the
// layout. Nothing in the fact set holds Go pointers per value or per fact,
// so its size does not add to garbage-collection work.
//
// A Loader builds a State in bulk (checkpoint load); View.ForEachValue,
// Relations and ForEachTuple, or a detached View.Export, read it back out.
//
// The state digest is specified in digest.go (ComputeDigest); the fact part
// is a sum of per-fact hashes maintained on every insert and delete.
//
// # Concurrency
//
// A State has a writer mutex, which serialises Apply calls, and a
// reader/writer lock between the writer and readers (the gate, gate.go).
// Apply validates, canonicalises, hashes and compiles an event without
// either, then takes the writer mutex (the writer may read the store
// holding only it, since readers only read too) and the gate's write side
// only to mutate. Readers call Acquire, which takes the read side and
// returns a View; everything read through the View belongs to one revision
// until Release, so a reader never sees part of an event. The gate waits by
// spinning for short holds and blocks for long ones: with sync.RWMutex each
// hold of the write lock cost the readers that met it a park and a wake-up,
// which was most of what a writer added to the readers' p99
// (docs/performance.md).
//
// An insert-only batch of more than 16 facts is applied in pieces of 16, each
// under its own hold of the gate's write side, so a reader that arrives meanwhile
// waits for one piece (microseconds), not for the whole event. Atomic
// visibility is kept by publishing: readers see only what store.publish
// made visible (the fact count and sum, the first N relations and symbols,
// and per relation its first vis rows). Pieces only append (rows at the end
// of the row array and of every posting list, new symbols, types and
// relations after the published ones), so a reader skips what lies beyond
// the published bounds, and the last piece publishes the whole event with
// its revision. Events that delete, clear, or set the policy or tokens are
// applied in one hold (deletes move rows), as are small batches. Left-right
// copies or multi-version rows would let readers never wait at all, but
// two copies would double the fact set's memory (against the 80 B/fact
// target), and versioned rows would add bytes per fact and work per scan.
//
// Views must be short-lived: while a view is held, Apply waits, and with a
// writer waiting, new Acquire calls wait too (the gate prefers the
// writer), so a goroutine
// must never Acquire while it holds a view. A checkpoint writer should therefore take View.Export (a copy of the
// tuples, milliseconds even for millions of facts), Release, and write from
// the Export. Strings returned by a View (Value, Facts, ForEachValue) stay valid
// after Release: they alias interner bytes, which are never overwritten.
// Tuple slices passed to callbacks are valid only during the callback.
//
// State.Revision and State.Duplicates are atomic and need no lock. A Loader
// is not safe for concurrent use; the State it returns is.
package replica
