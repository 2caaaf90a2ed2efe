package replica

import (
	"math/bits"
	"slices"
)

// posIndex indexes one argument position of a relation: for each symbol that
// occurs there, the list of rows (a posting list, in no particular order)
// whose tuple has that symbol at that position.
//
// Layout, chosen for memory (8 bytes per distinct symbol plus 4 per row, no
// per-key Go objects, nothing for the GC to scan) and O(1) updates:
//   - slots is an open-addressing hash table (linear probing, Fibonacci
//     hashing, backward-shift deletion, at most 3/4 full) of
//     islot{sym, ref}.
//   - ref with the inline bit set: the list has one row, ref&^inline.
//   - otherwise ref is an arena offset: the rows are arena[ref : ref+n],
//     with n = arena[ref-1] and the segment's capacity in arena[ref-2].
//     Segments grow to the next power of two (moving the list), shrink when
//     a quarter full, and freed power-of-two segments are reused through
//     per-size free lists. When more than half of the arena is free, the
//     arena is compacted. Moves keep list order, so the relation's where[]
//     entries stay valid.
//
// The relation keeps, for each row and position, the row's index in the
// posting list (where[]), so removing a row from a list is a swap with the
// list's last entry.
type posIndex struct {
	slots []islot
	used  int
	shift uint8 // 32 - log2(len(slots))

	arena     []uint32
	free      [32][]uint32 // free segment offsets by log2(capacity)
	freeWords int          // arena words in freed segments, headers included
}

type islot struct{ sym, ref uint32 }

const (
	inline      = 1 << 31
	segHeader   = 2 // capacity, length
	minSlotsLog = 3
)

func newPosIndex(keys int) posIndex {
	k := minSlotsLog
	for (1<<k)*3 < keys*4 {
		k++
	}
	return posIndex{slots: makeHuge[islot](1<<k, 1<<k), shift: uint8(32 - k)}
}

func (x *posIndex) home(sym uint32) uint32 { return (sym * 0x9E3779B1) >> x.shift }

// find returns the slot index of sym, or -1.
func (x *posIndex) find(sym uint32) int {
	mask := uint32(len(x.slots) - 1)
	for i := x.home(sym); ; i = (i + 1) & mask {
		s := x.slots[i].sym
		if s == sym {
			return int(i)
		}
		if s == 0 {
			return -1
		}
	}
}

// n returns the length of a slot's list.
func (x *posIndex) n(sl islot) uint32 {
	if sl.ref&inline != 0 {
		return 1
	}
	return x.arena[sl.ref-1]
}

// count returns the length of sym's posting list.
func (x *posIndex) count(sym uint32) int {
	if i := x.find(sym); i >= 0 {
		return int(x.n(x.slots[i]))
	}
	return 0
}

// list returns the posting list of slot sl; one provides storage for an
// inline list.
func (x *posIndex) list(sl islot, one *[1]uint32) []uint32 {
	if sl.ref&inline != 0 {
		one[0] = sl.ref &^ inline
		return one[:]
	}
	return x.arena[sl.ref : sl.ref+x.arena[sl.ref-1]]
}

// add appends row to sym's posting list and returns its index in the list.
func (x *posIndex) add(sym, row uint32) uint32 {
	mask := len(x.slots) - 1
	i := int(x.home(sym))
	for ; x.slots[i].sym != 0; i = (i + 1) & mask {
		if x.slots[i].sym != sym {
			continue
		}
		sl := &x.slots[i] // alloc and move touch the arena, never the slots
		if sl.ref&inline != 0 {
			off := x.alloc(2)
			x.arena[off] = sl.ref &^ inline
			x.arena[off+1] = row
			x.arena[off-1] = 2
			sl.ref = off
			return 1
		}
		n := x.arena[sl.ref-1]
		if n == x.arena[sl.ref-2] {
			x.move(sl, 1<<bits.Len32(n))
		}
		x.arena[sl.ref+n] = row
		x.arena[sl.ref-1] = n + 1
		return n
	}
	x.slots[i] = islot{sym: sym, ref: row | inline}
	x.used++
	if x.used*4 > len(x.slots)*3 {
		x.rehash(len(x.slots) * 2)
	}
	return 0
}

// remove deletes entry at index at of sym's posting list. When another row
// moves into index at, it returns that row and true.
func (x *posIndex) remove(sym, at uint32) (moved uint32, ok bool) {
	i := x.find(sym)
	if i < 0 {
		return 0, false // unreachable for a consistent relation
	}
	sl := &x.slots[i]
	if sl.ref&inline != 0 {
		x.deleteSlot(i)
		return 0, false
	}
	off := sl.ref
	n := x.arena[off-1]
	if n == 2 {
		keep := x.arena[off+1-at]
		x.release(off)
		sl.ref = keep | inline
		x.maybeCompact()
		return keep, at == 0
	}
	last := n - 1
	if at != last {
		moved, ok = x.arena[off+last], true
		x.arena[off+at] = moved
	}
	x.arena[off-1] = last
	if c := x.arena[off-2]; c >= 32 && last <= c/4 {
		x.move(sl, 2<<bits.Len32(last-1))
		x.maybeCompact()
	}
	return moved, ok
}

// rename replaces row entry at index at of sym's list with row.
func (x *posIndex) rename(sym, at, row uint32) {
	i := x.find(sym)
	if i < 0 {
		return
	}
	sl := &x.slots[i]
	if sl.ref&inline != 0 {
		sl.ref = row | inline
	} else {
		x.arena[sl.ref+at] = row
	}
}

// move relocates a slot's list to a new segment of capacity c.
func (x *posIndex) move(sl *islot, c uint32) {
	off := x.alloc(c)
	n := x.arena[sl.ref-1]
	copy(x.arena[off:off+n], x.arena[sl.ref:sl.ref+n])
	x.arena[off-1] = n
	x.release(sl.ref)
	sl.ref = off
}

// alloc returns the offset of a new segment of capacity c and length 0.
func (x *posIndex) alloc(c uint32) uint32 {
	if c&(c-1) == 0 {
		k := bits.TrailingZeros32(c)
		if fl := x.free[k]; len(fl) > 0 {
			off := fl[len(fl)-1]
			x.free[k] = fl[:len(fl)-1]
			x.freeWords -= int(c) + segHeader
			x.arena[off-1] = 0
			return off
		}
	}
	n := len(x.arena)
	x.arena = slices.Grow(x.arena, int(c)+segHeader)[:n+int(c)+segHeader]
	x.arena[n] = c
	x.arena[n+1] = 0
	return uint32(n + segHeader)
}

// release frees the segment at off.
func (x *posIndex) release(off uint32) {
	c := x.arena[off-2]
	x.freeWords += int(c) + segHeader
	if c&(c-1) == 0 {
		k := bits.TrailingZeros32(c)
		x.free[k] = append(x.free[k], off)
	}
}

// maybeCompact rewrites the arena when more than half of it is free.
func (x *posIndex) maybeCompact() {
	if x.freeWords < 4096 || x.freeWords*2 < len(x.arena) {
		return
	}
	arena := make([]uint32, 0, len(x.arena)-x.freeWords)
	for i := range x.slots {
		sl := &x.slots[i]
		if sl.sym == 0 || sl.ref&inline != 0 {
			continue
		}
		c, n := x.arena[sl.ref-2], x.arena[sl.ref-1]
		off := len(arena) + segHeader
		arena = append(arena, c, n)
		arena = append(arena, x.arena[sl.ref:sl.ref+n]...)
		arena = append(arena, make([]uint32, c-n)...)
		sl.ref = uint32(off)
	}
	x.arena = arena
	x.free = [32][]uint32{}
	x.freeWords = 0
}

func (x *posIndex) deleteSlot(i int) {
	mask := len(x.slots) - 1
	j := i
	for {
		j = (j + 1) & mask
		s := x.slots[j].sym
		if s == 0 {
			break
		}
		k := int(x.home(s))
		// Move slot j back to i unless its home lies cyclically in (i, j].
		if (i <= j && (k <= i || k > j)) || (i > j && k <= i && k > j) {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = islot{}
	x.used--
}

// rehash resizes the slot table to size (a power of two).
func (x *posIndex) rehash(size int) {
	old := x.slots
	x.slots = makeHuge[islot](size, size)
	x.shift = uint8(32 - bits.TrailingZeros(uint(size)))
	mask := uint32(size - 1)
	for _, sl := range old {
		if sl.sym == 0 {
			continue
		}
		i := x.home(sl.sym)
		for x.slots[i].sym != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = sl
	}
}

// insertNew adds a slot for a symbol known to be absent and returns its
// index (bulk building; no resizing).
func (x *posIndex) insertNew(sl islot) uint32 {
	mask := uint32(len(x.slots) - 1)
	i := x.home(sl.sym)
	for x.slots[i].sym != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = sl
	x.used++
	return i
}
