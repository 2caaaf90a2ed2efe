package replica

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// Symbol layout. Symbols are 1, 2, 3, ... in the order values are first seen;
// 0 means "no symbol". The ids of symbols s with the same s>>symChunkBits live
// in one byte chunk; vloc[s] packs the id's offset in that chunk (high 23
// bits) and its length (low 9 bits). A chunk holds at most
// 1<<symChunkBits ids of at most MaxIDBytes bytes each, so offsets fit.
const (
	symChunkBits = 14
	locLenBits   = 9
	locLenMask   = 1<<locLenBits - 1

	// MaxSymbols bounds the symbol space: symbols are below 1<<31 (the
	// evaluator numbers its own values from 1<<31 up).
	MaxSymbols = 1<<31 - 1
	// MaxTypes bounds the number of distinct type names (type numbers are
	// uint16 and 0 means "no type").
	MaxTypes = 1<<16 - 1
)

// Compile-time check that the packing above can hold every id.
var _ = [1]struct{}{}[(1<<symChunkBits)*MaxIDBytes>>(32-locLenBits)]

// interner maps values to symbols and types to type numbers. It is
// append-only: a symbol, once handed out, keeps its value for the life of
// the interner, and the bytes of an id are never overwritten, which is what
// makes handing out strings that alias the arena (unsafe.String) safe.
type interner struct {
	typeNames []string          // type number -> name; [0] = ""
	typeNums  map[string]uint16 // name -> type number

	vtype  []uint16 // symbol -> type number; [0] unused
	vloc   []uint32 // symbol -> offset<<locLenBits | len in its chunk
	chunks [][]byte // id bytes, chunk = symbol>>symChunkBits

	// table is an open-addressing (linear probing) hash set of symbols keyed
	// by (type, id). Entry: high 32 bits = high 32 bits of the hash, low 32
	// bits = symbol; 0 = empty.
	table []uint64
	seed  maphash.Seed
}

func newInterner() *interner {
	in := &interner{
		typeNames: []string{""},
		typeNums:  make(map[string]uint16),
		vtype:     []uint16{0},
		vloc:      []uint32{0},
		chunks:    [][]byte{make([]byte, 0, 1024)},
		table:     make([]uint64, 64),
		seed:      maphash.MakeSeed(),
	}
	return in
}

// reserve makes room for n more values, avoiding regrowth while loading.
func (in *interner) reserve(n int) {
	if n <= 0 {
		return
	}
	in.vtype = growHuge(in.vtype, n)
	in.vloc = growHuge(in.vloc, n)
	in.growTable(len(in.vtype) + n)
}

// count returns the number of symbols handed out.
func (in *interner) count() int { return len(in.vtype) - 1 }

func (in *interner) typeNum(name string) uint16 { return in.typeNums[name] }

func (in *interner) addType(name string) (uint16, error) {
	if t, ok := in.typeNums[name]; ok {
		return t, nil
	}
	if len(in.typeNames) > MaxTypes {
		return 0, fmt.Errorf("too many distinct types (limit %d)", MaxTypes)
	}
	t := uint16(len(in.typeNames))
	name = strings.Clone(name) // it may be a substring of a whole event
	in.typeNames = append(in.typeNames, name)
	in.typeNums[name] = t
	return t, nil
}

func (in *interner) typeName(t uint16) string {
	if int(t) >= len(in.typeNames) {
		return ""
	}
	return in.typeNames[t]
}

func (in *interner) hash(t uint16, id string) uint64 {
	h := maphash.String(in.seed, id)
	h += uint64(t) * 0x9E3779B97F4A7C15
	h ^= h >> 31
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 29
	return h
}

// id returns the id of symbol s (which must be valid). The string aliases
// the arena; see the type comment for why that is safe.
func (in *interner) id(s uint32) string {
	loc := in.vloc[s]
	n := int(loc & locLenMask)
	if n == 0 {
		return ""
	}
	c := in.chunks[s>>symChunkBits]
	return unsafe.String(&c[loc>>locLenBits], n)
}

func (in *interner) valid(s uint32) bool { return s != 0 && int64(s) < int64(len(in.vtype)) }

// lookup returns the symbol of (t, id), or 0.
func (in *interner) lookup(t uint16, id string) uint32 {
	if t == 0 {
		return 0
	}
	h := in.hash(t, id)
	tag := h >> 32
	mask := uint64(len(in.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		e := in.table[i]
		if e == 0 {
			return 0
		}
		if e>>32 == tag {
			s := uint32(e)
			if in.vtype[s] == t && in.id(s) == id {
				return s
			}
		}
	}
}

// lookupValue returns the symbol of a value given by type name and id,
// canonicalising Integer ids; 0 when unknown.
func (in *interner) lookupValue(typ, id string) uint32 {
	t := in.typeNums[typ]
	if t == 0 {
		return 0
	}
	if typ == "Integer" {
		// Same rule as Canonical.
		n, err := strconv.ParseInt(strings.TrimPrefix(id, "+"), 10, 64)
		if err != nil {
			return 0
		}
		var buf [24]byte
		canon := strconv.AppendInt(buf[:0], n, 10)
		if string(canon) != id {
			return in.lookup(t, string(canon))
		}
	}
	return in.lookup(t, id)
}

// intern returns the symbol of (t, id), adding it if needed. The caller has
// checked id (non-empty, at most MaxIDBytes) and the symbol limit.
func (in *interner) intern(t uint16, id string) uint32 {
	h := in.hash(t, id)
	tag := h >> 32
	mask := uint64(len(in.table) - 1)
	i := h & mask
	for ; ; i = (i + 1) & mask {
		e := in.table[i]
		if e == 0 {
			break
		}
		if e>>32 == tag {
			s := uint32(e)
			if in.vtype[s] == t && in.id(s) == id {
				return s
			}
		}
	}
	s := uint32(len(in.vtype))
	c := int(s >> symChunkBits)
	if c == len(in.chunks) {
		// The previous chunk is complete: trim its spare capacity.
		last := in.chunks[c-1]
		if cap(last)-len(last) > len(last)/16 {
			in.chunks[c-1] = slices.Clone(last)
		}
		in.chunks = append(in.chunks, make([]byte, 0, max(1024, len(last))))
	}
	chunk := in.chunks[c]
	in.vloc = append(in.vloc, uint32(len(chunk))<<locLenBits|uint32(len(id)))
	in.chunks[c] = append(chunk, id...)
	in.vtype = append(in.vtype, t)
	in.table[i] = tag<<32 | uint64(s)
	if len(in.vtype)*4 > len(in.table)*3 {
		in.growTable(len(in.vtype))
	}
	return s
}

// growTable resizes the hash table to hold n symbols below 3/4 load.
func (in *interner) growTable(n int) {
	size := len(in.table)
	for n*4 > size*3 {
		size *= 2
	}
	if size == len(in.table) {
		return
	}
	t := makeHuge[uint64](size, size)
	mask := uint64(size - 1)
	for s := 1; s < len(in.vtype); s++ {
		h := in.hash(in.vtype[s], in.id(uint32(s)))
		i := h & mask
		for t[i] != 0 {
			i = (i + 1) & mask
		}
		t[i] = h>>32<<32 | uint64(s)
	}
	in.table = t
}

// checkID reports whether id may be stored for a value of the named type:
// non-empty, at most MaxIDBytes, canonical for Integer and Boolean.
func checkID(typ, id string) error {
	v, err := Canonical(Value{Type: typ, ID: id})
	if err != nil {
		return err
	}
	if v.ID != id {
		return fmt.Errorf("%s id %q is not in canonical form %q", typ, id, v.ID)
	}
	return nil
}
