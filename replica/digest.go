package replica

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"slices"
)

// The state digest (DESIGN.md §8) is a deterministic hash of (policy, tokens,
// facts). Two states with the same policy source and filename, the same token
// set and the same fact set have the same digest, whatever their history.
// The control plane computes it with this same code.
//
// Construction (version 1):
//
//  1. Each stored fact is encoded canonically as
//     uvarint(len(predicate)) predicate uvarint(arity)
//     then for each argument: uvarint(len(type)) type uvarint(len(id)) id
//     (uvarint = encoding/binary.AppendUvarint; ids in canonical form, see
//     Canonical), and hashed with 128-bit FNV-1a (as hash/fnv.New128a)
//     to a 128-bit number (big-endian digest bytes).
//  2. The fact sum is the sum of those numbers modulo 2^128. It is kept
//     incrementally: inserting a fact adds its hash, deleting subtracts it,
//     so it is independent of insertion order and history.
//  3. The digest is "sha256:" + lower-case hex of SHA-256 over
//     "outpost state digest v1\x00"
//     str(policy.Src) str(policy.Filename)
//     u64(number of tokens), then for each token in order of
//     (ID, SHA256, Access): str(ID) str(SHA256) str(Access)
//     u64(fact count) u64(high 64 bits of the sum) u64(low 64 bits)
//     where u64 is 8 bytes big-endian and str(s) = u64(len(s)) followed by s.
//
// The revision is not part of the digest.

const (
	fnvOffHi = 0x6c62272e07bb0142
	fnvOffLo = 0x62b821756295c58d
	fnvPrime = 0x13B // the prime is 2^88 + 0x13B
)

// fnv128 is a 128-bit FNV-1a state.
type fnv128 struct{ hi, lo uint64 }

func newFNV128() fnv128 { return fnv128{fnvOffHi, fnvOffLo} }

func (h *fnv128) write(p []byte) {
	hi, lo := h.hi, h.lo
	for _, b := range p {
		lo ^= uint64(b)
		// (hi·2^64 + lo) · (2^88 + 0x13B) mod 2^128
		h1, l1 := bits.Mul64(lo, fnvPrime)
		hi = h1 + hi*fnvPrime + lo<<24
		lo = l1
	}
	h.hi, h.lo = hi, lo
}

func (h *fnv128) writeString(s string) {
	hi, lo := h.hi, h.lo
	for i := 0; i < len(s); i++ {
		lo ^= uint64(s[i])
		h1, l1 := bits.Mul64(lo, fnvPrime)
		hi = h1 + hi*fnvPrime + lo<<24
		lo = l1
	}
	h.hi, h.lo = hi, lo
}

// writeLen writes uvarint(n).
func (h *fnv128) writeLen(n int) {
	if n < 0x80 { // one byte
		lo := h.lo ^ uint64(n)
		h1, l1 := bits.Mul64(lo, fnvPrime)
		h.hi, h.lo = h1+h.hi*fnvPrime+lo<<24, l1
		return
	}
	var buf [binary.MaxVarintLen64]byte
	h.write(binary.AppendUvarint(buf[:0], uint64(n)))
}

// writeStr writes uvarint(len(s)) s.
func (h *fnv128) writeStr(s string) {
	h.writeLen(len(s))
	h.writeString(s)
}

// FactSum is a 128-bit sum of fact hashes modulo 2^128.
type FactSum struct{ Hi, Lo uint64 }

// Add returns s + o mod 2^128.
func (s FactSum) Add(o FactSum) FactSum {
	lo, c := bits.Add64(s.Lo, o.Lo, 0)
	hi, _ := bits.Add64(s.Hi, o.Hi, c)
	return FactSum{hi, lo}
}

// Sub returns s - o mod 2^128.
func (s FactSum) Sub(o FactSum) FactSum {
	lo, b := bits.Sub64(s.Lo, o.Lo, 0)
	hi, _ := bits.Sub64(s.Hi, o.Hi, b)
	return FactSum{hi, lo}
}

// predicateHash returns the FNV state after the predicate and arity; fact
// hashes of one relation continue from it.
func predicateHash(pred string, arity int) fnv128 {
	h := newFNV128()
	h.writeStr(pred)
	h.writeLen(arity)
	return h
}

// HashFact returns the 128-bit hash of a fact (step 1 of the construction).
// The fact's values must be canonical.
func HashFact(f Fact) FactSum {
	h := predicateHash(f.Predicate, len(f.Args))
	for _, a := range f.Args {
		h.writeStr(a.Type)
		h.writeStr(a.ID)
	}
	return FactSum{h.hi, h.lo}
}

// ComputeDigest returns the state digest (step 3 of the construction) of a
// policy, a token set (in any order), and a fact set given by its sum and
// count.
func ComputeDigest(policy PolicySource, tokens []Token, sum FactSum, count uint64) string {
	d := sha256.New()
	var buf [8]byte
	u64 := func(n uint64) {
		binary.BigEndian.PutUint64(buf[:], n)
		d.Write(buf[:])
	}
	str := func(s string) {
		u64(uint64(len(s)))
		d.Write([]byte(s))
	}
	d.Write([]byte("outpost state digest v1\x00"))
	str(policy.Src)
	str(policy.Filename)
	sorted := slices.Clone(tokens)
	slices.SortFunc(sorted, func(a, b Token) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.SHA256, b.SHA256), cmp.Compare(a.Access, b.Access))
	})
	u64(uint64(len(sorted)))
	for _, t := range sorted {
		str(t.ID)
		str(t.SHA256)
		str(t.Access)
	}
	u64(count)
	u64(sum.Hi)
	u64(sum.Lo)
	return "sha256:" + hex.EncodeToString(d.Sum(nil))
}
