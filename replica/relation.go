package replica

import (
	"math/bits"
	"slices"
)

// maxRows bounds the rows of one relation (a row number must leave the
// posting lists' inline bit free, and row+1 the dedupe entries' tag bit).
const maxRows = 1<<31 - 1

// relation holds the facts of one (predicate, arity).
//
// Rows are dense: row r's tuple is data[r*arity : (r+1)*arity]. Deleting a
// row moves the last row into its place (swap-remove) and fixes the indexes,
// so a relation never holds dead rows and scans never skip garbage.
//
// Removing a row from a posting list needs the row's index in the list.
// Short lists are searched; once some list at position p grows beyond
// whereMin entries, where[p][r] records row r's index in its list at p
// (from then on, for the life of the relation). Positions whose lists all
// stay short, like unique ids, cost no memory for this.
//
// dedupe is an open-addressing hash set of rows (linear probing,
// backward-shift deletion, at most 3/4 full) keyed by tuple, giving set
// semantics to inserts and O(1) exact deletes. An entry is row+1 (below
// 1<<31) with bit 31 of the tuple's hash in its bit 31 (see dedupeEntry),
// which spares half the tuple comparisons of a probe; 0 = empty.
type relation struct {
	name  string
	arity int
	id    int
	ph    fnv128 // FNV state after predicate and arity (digest)

	data  []uint32
	where [][]uint32 // per position; nil while every list there is short

	dedupe []uint32
	dused  int
	dshift uint8 // 64 - log2(len(dedupe))

	idx []posIndex

	// vis is the number of rows readers may see (store.publish sets it).
	// Rows at or beyond it were added by an event still being applied in
	// pieces; they are only ever appended (pending rows sit at the end of
	// data and of every posting list), so readers just skip them.
	vis int
}

// whereMin is the longest posting list that is searched rather than
// tracked in where.
const whereMin = 32

func newRelation(name string, arity, id int) *relation {
	r := &relation{name: name, arity: arity, id: id, ph: predicateHash(name, arity)}
	r.idx = make([]posIndex, arity)
	r.where = make([][]uint32, arity)
	for p := range r.idx {
		r.idx[p] = newPosIndex(0)
	}
	r.dedupe = make([]uint32, 8)
	r.dshift = 64 - 3
	return r
}

func (r *relation) rows() int { return len(r.data) / r.arity }

// visible returns the number of rows a reader may see: vis, or fewer while
// the writer deletes (vis is published again before readers run).
func (r *relation) visible() int { return min(r.vis, r.rows()) }

func (r *relation) tuple(row uint32) []uint32 {
	i := int(row) * r.arity
	return r.data[i : i+r.arity : i+r.arity]
}

// dedupeTag is the bit of a dedupe entry that holds a bit of its tuple's
// hash (row+1 is below maxRows+1 = 1<<31).
const dedupeTag = 1 << 31

// dedupeEntry returns the dedupe entry of row, whose tuple hash is h.
func dedupeEntry(row int, h uint64) uint32 { return uint32(row+1) | uint32(h)&dedupeTag }

// entryRow returns the row of a (non-empty) dedupe entry.
func entryRow(e uint32) int { return int(e&^dedupeTag) - 1 }

func tupleHash(t []uint32) uint64 {
	h := uint64(len(t))
	for _, s := range t {
		h = (h ^ uint64(s)) * 0x9E3779B97F4A7C15
		h ^= h >> 32
	}
	return h * 0xBF58476D1CE4E5B9
}

// findRow returns the row holding tuple t and its dedupe slot, or -1 and
// the empty slot where t would go.
func (r *relation) findRow(t []uint32) (row, slot int) {
	row, slot, _ = r.findRowHash(t)
	return row, slot
}

// findRowHash is findRow that also returns t's hash.
func (r *relation) findRowHash(t []uint32) (row, slot int, h uint64) {
	mask := len(r.dedupe) - 1
	a := r.arity
	h = tupleHash(t)
	tag := uint32(h) & dedupeTag
	for i := int(h >> r.dshift); ; i = (i + 1) & mask {
		e := r.dedupe[i]
		if e == 0 {
			return -1, i, h
		}
		if e&dedupeTag == tag {
			row := entryRow(e)
			if slices.Equal(r.data[row*a:row*a+a], t) {
				return row, i, h
			}
		}
	}
}

func (r *relation) contains(t []uint32) bool {
	row, _ := r.findRow(t)
	return row >= 0
}

// insert adds tuple t (len == arity, valid symbols); false if present.
func (r *relation) insert(t []uint32) bool {
	row, slot, h := r.findRowHash(t)
	if row >= 0 {
		return false
	}
	row = r.rows()
	r.data = append(r.data, t...)
	for p, s := range t {
		at := r.idx[p].add(s, uint32(row))
		if w := r.where[p]; w != nil {
			r.where[p] = append(w, at)
		} else if at >= whereMin {
			r.trackWhere(p)
		}
	}
	r.dedupe[slot] = dedupeEntry(row, h)
	r.dused++
	if r.dused*4 > len(r.dedupe)*3 {
		r.rehashDedupe(len(r.dedupe) * 2)
	}
	return true
}

// delete removes tuple t; false if absent.
func (r *relation) delete(t []uint32) bool {
	row, slot := r.findRow(t)
	if row < 0 {
		return false
	}
	r.deleteRow(uint32(row), slot)
	return true
}

func (r *relation) deleteRow(row uint32, slot int) {
	a := r.arity
	r.deleteDedupeSlot(slot)
	base := int(row) * a
	for p := range a {
		at := r.at(p, row)
		if moved, ok := r.idx[p].remove(r.data[base+p], at); ok && r.where[p] != nil {
			r.where[p][moved] = at
		}
	}
	last := uint32(r.rows() - 1)
	if row != last {
		lb := int(last) * a
		// Point last's dedupe entry at row, before its tuple moves.
		mask := len(r.dedupe) - 1
		for i := int(tupleHash(r.data[lb:lb+a]) >> r.dshift); ; i = (i + 1) & mask {
			if e := r.dedupe[i]; e&^dedupeTag == last+1 {
				r.dedupe[i] = e&dedupeTag | (row + 1)
				break
			}
		}
		for p := range a {
			s, at := r.data[lb+p], r.at(p, last)
			r.idx[p].rename(s, at, row)
			r.data[base+p] = s
			if r.where[p] != nil {
				r.where[p][row] = at
			}
		}
	}
	r.data = r.data[:len(r.data)-a]
	for p, w := range r.where {
		if w != nil {
			r.where[p] = w[:len(w)-1]
		}
	}
}

// at returns row's index in its posting list at position p.
func (r *relation) at(p int, row uint32) uint32 {
	if w := r.where[p]; w != nil {
		return w[row]
	}
	x := &r.idx[p]
	var one [1]uint32
	list := x.list(x.slots[x.find(r.data[int(row)*r.arity+p])], &one)
	for i, e := range list {
		if e == row {
			return uint32(i)
		}
	}
	panic("replica: row missing from its posting list") // a broken invariant
}

// trackWhere starts recording list indexes at position p.
func (r *relation) trackWhere(p int) {
	w := make([]uint32, r.rows())
	x := &r.idx[p]
	var one [1]uint32
	for _, sl := range x.slots {
		if sl.sym != 0 {
			for i, row := range x.list(sl, &one) {
				w[row] = uint32(i)
			}
		}
	}
	r.where[p] = w
}

func (r *relation) deleteDedupeSlot(i int) {
	mask := len(r.dedupe) - 1
	a := r.arity
	j := i
	for {
		j = (j + 1) & mask
		e := r.dedupe[j]
		if e == 0 {
			break
		}
		b := entryRow(e) * a
		k := int(tupleHash(r.data[b:b+a]) >> r.dshift)
		if (i <= j && (k <= i || k > j)) || (i > j && k <= i && k > j) {
			r.dedupe[i] = e
			i = j
		}
	}
	r.dedupe[i] = 0
	r.dused--
}

func (r *relation) rehashDedupe(size int) {
	r.dedupe = make([]uint32, size)
	r.dshift = uint8(64 - bits.TrailingZeros(uint(size)))
	mask := size - 1
	a := r.arity
	n := r.rows()
	for row := range n {
		h := tupleHash(r.data[row*a : row*a+a])
		i := int(h >> r.dshift)
		for r.dedupe[i] != 0 {
			i = (i + 1) & mask
		}
		r.dedupe[i] = dedupeEntry(row, h)
	}
	r.dused = n
}

// reset removes every row (clear event).
func (r *relation) reset() {
	*r = *newRelation(r.name, r.arity, r.id)
}

// plan picks the bound position with the shortest posting list. It returns
// best == -1 when nothing is bound, and ok == false when some bound symbol
// does not occur at its position (nothing can match).
func (r *relation) plan(pattern []uint32) (best int, sl islot, n uint32, ok bool) {
	best = -1
	for p, s := range pattern {
		if s == 0 {
			continue
		}
		x := &r.idx[p]
		i := x.find(s)
		if i < 0 {
			return -1, islot{}, 0, false
		}
		c := x.slots[i]
		if cn := x.n(c); best < 0 || cn < n {
			best, sl, n = p, c, cn
		}
	}
	return best, sl, n, true
}

// count returns an upper bound of the rows matching pattern.
func (r *relation) count(pattern []uint32) int {
	if len(pattern) != r.arity {
		return 0
	}
	best, _, n, ok := r.plan(pattern)
	switch {
	case !ok:
		return 0
	case best < 0:
		return r.visible()
	}
	return int(n)
}

// scan calls fn with each tuple matching pattern (0 = any) whose symbols'
// types match types (nil, or 0 = any), until fn returns false. vtype maps
// symbols to types. fn must not modify the relation.
func (r *relation) scan(pattern []uint32, types []uint16, vtype []uint16, fn func([]uint32) bool) {
	if len(pattern) != r.arity {
		return
	}
	best, sl, _, ok := r.plan(pattern)
	if !ok {
		return
	}
	for _, t := range types {
		if t != 0 {
			r.scanTyped(pattern, types, vtype, best, sl, fn)
			return
		}
	}
	a := r.arity
	lim := r.visible()
	if best < 0 {
		for i := 0; i+a <= lim*a; i += a {
			if !fn(r.data[i : i+a : i+a]) {
				return
			}
		}
		return
	}
	var one [1]uint32
	list := r.idx[best].list(sl, &one)
	// Positions other than best that are bound; most scans have none.
	others := false
	for p, s := range pattern {
		others = others || (s != 0 && p != best)
	}
	for _, row := range list {
		if int(row) >= lim {
			continue // pending (see relation.vis)
		}
		i := int(row) * a
		t := r.data[i : i+a : i+a]
		if others && !matches(t, pattern) {
			continue
		}
		if !fn(t) {
			return
		}
	}
}

func matches(t, pattern []uint32) bool {
	for p, s := range pattern {
		if s != 0 && t[p] != s {
			return false
		}
	}
	return true
}

func (r *relation) scanTyped(pattern []uint32, types []uint16, vtype []uint16, best int, sl islot, fn func([]uint32) bool) {
	a := r.arity
	lim := r.visible()
	match := func(t []uint32) bool {
		if !matches(t, pattern) {
			return false
		}
		for p, ty := range types {
			if ty != 0 && vtype[t[p]] != ty {
				return false
			}
		}
		return true
	}
	if best < 0 {
		for i := 0; i+a <= lim*a; i += a {
			if t := r.data[i : i+a : i+a]; match(t) && !fn(t) {
				return
			}
		}
		return
	}
	var one [1]uint32
	for _, row := range r.idx[best].list(sl, &one) {
		if int(row) >= lim {
			continue // pending
		}
		i := int(row) * a
		if t := r.data[i : i+a : i+a]; match(t) && !fn(t) {
			return
		}
	}
}
