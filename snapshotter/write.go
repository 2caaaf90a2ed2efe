package snapshotter

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

// Write writes ex as a checkpoint to w, streaming: besides a table of
// 4 bytes per value it holds at most one chunk (about 256 KiB) and a 64 KiB
// output buffer, plus the policy source. It fills h's counts and digest from
// ex, sets h.Position.Seq to ex.Revision() when it is zero (a different
// non-zero seq is an error), and sets h.Created to now when it is zero.
//
// Values no fact mentions are left out and the rest are renumbered, so a
// state loaded from the file has a compact dictionary; its digest, facts,
// policy and tokens are those of ex. Write does not sync or close w.
func Write(w io.Writer, ex *replica.Export, h Header) (Stats, error) {
	start := time.Now()
	e := &encoder{w: w, buf: make([]byte, 0, 64<<10)}
	err := e.write(ex, h)
	if err == nil {
		err = e.flush()
	}
	return Stats{Bytes: e.n, Duration: time.Since(start)}, err
}

// encoder buffers output and keeps the running CRC32C of everything
// written, for the trailer's whole-file checksum.
type encoder struct {
	w      io.Writer
	buf    []byte // pending output
	n      int64  // bytes written or buffered
	crc    uint32 // CRC32C of all bytes written or buffered
	blocks uint64
	p      []byte // payload of the block being built
	err    error
}

func (e *encoder) raw(b []byte) {
	if e.err != nil {
		return
	}
	e.crc = crc32.Update(e.crc, castagnoli, b)
	e.n += int64(len(b))
	for len(b) > 0 {
		if len(e.buf) == cap(e.buf) {
			if e.flush() != nil {
				return
			}
		}
		k := min(len(b), cap(e.buf)-len(e.buf))
		e.buf = append(e.buf, b[:k]...)
		b = b[k:]
	}
}

func (e *encoder) flush() error {
	if e.err == nil && len(e.buf) > 0 {
		if _, err := e.w.Write(e.buf); err != nil {
			e.err = fmt.Errorf("write checkpoint: %w", err)
		}
		e.buf = e.buf[:0]
	}
	return e.err
}

// block emits e.p as a block of the given kind.
func (e *encoder) block(kind byte, region string, limit int) error {
	if len(e.p) > limit {
		return fmt.Errorf("encode checkpoint %s: %d bytes; the limit is %d", region, len(e.p), limit)
	}
	var hdr [blockHdrLen]byte
	hdr[0] = kind
	binary.LittleEndian.PutUint32(hdr[1:], uint32(len(e.p)))
	c := crc32.Update(crc32.Update(0, castagnoli, hdr[:]), castagnoli, e.p)
	e.raw(hdr[:])
	e.raw(e.p)
	e.raw(binary.LittleEndian.AppendUint32(hdr[:0], c))
	e.blocks++
	e.p = e.p[:0]
	return e.err
}

func appendStr(p []byte, s string) []byte {
	p = binary.AppendUvarint(p, uint64(len(s)))
	return append(p, s...)
}

// plan is what Write learns from a first pass over the export: which
// values facts use, their new numbering, the types they have, and the
// relations to write in order.
type plan struct {
	remap  []uint32 // old symbol -> new symbol (0 = unused); nil when identity
	values uint64   // used values
	types  []string // file type index - 1 -> name, by first use
	rels   []replica.RelationInfo
	facts  uint64
}

func planExport(ex *replica.Export) (*plan, error) {
	n := ex.ValueCount()
	used := make([]uint64, n/64+1)
	pl := &plan{}
	for _, r := range ex.Relations() {
		if r.Len == 0 {
			continue
		}
		if r.Arity < 1 || r.Arity > maxArity {
			return nil, fmt.Errorf("encode checkpoint relation %s/%d: arity above the limit %d", r.Name, r.Arity, maxArity)
		}
		pl.rels = append(pl.rels, r)
		pl.facts += uint64(r.Len)
		ex.ForEachTuple(r.ID, func(t []uint32) bool {
			for _, s := range t {
				used[s>>6] |= 1 << (s & 63)
			}
			return true
		})
	}
	slices.SortFunc(pl.rels, func(a, b replica.RelationInfo) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Arity, b.Arity))
	})
	if pl.facts != uint64(ex.FactCount()) {
		return nil, fmt.Errorf("encode checkpoint: relations hold %d facts, the export counts %d", pl.facts, ex.FactCount())
	}
	remap := make([]uint32, n+1)
	next := uint32(0)
	lastType := ""
	seen := map[string]bool{}
	ex.ForEachValue(func(sym uint32, typ, _ string) bool {
		if used[sym>>6]&(1<<(sym&63)) == 0 {
			return true
		}
		next++
		remap[sym] = next
		if typ != lastType && !seen[typ] {
			seen[typ] = true
			pl.types = append(pl.types, typ)
		}
		lastType = typ
		return true
	})
	pl.values = uint64(next)
	if int(next) != n {
		pl.remap = remap
	}
	return pl, nil
}

func (e *encoder) write(ex *replica.Export, h Header) error {
	if h.Position.Seq == 0 {
		h.Position.Seq = ex.Revision()
	} else if h.Position.Seq != ex.Revision() {
		return fmt.Errorf("encode checkpoint header: seq %d is not the export's revision %d", h.Position.Seq, ex.Revision())
	}
	if h.Created.IsZero() {
		h.Created = time.Now()
	}
	for _, s := range []string{h.Env, h.Tenant} {
		if len(s) > maxStringBytes {
			return fmt.Errorf("encode checkpoint header: %d-byte string; the limit is %d", len(s), maxStringBytes)
		}
	}
	pl, err := planExport(ex)
	if err != nil {
		return err
	}
	h.Values, h.Facts, h.Relations = pl.values, pl.facts, uint64(len(pl.rels))
	h.Digest = ex.Digest()

	// Preamble.
	e.raw([]byte(Magic))
	e.raw(binary.LittleEndian.AppendUint32(nil, FormatVersion))

	// Header.
	p := e.p[:0]
	p = binary.LittleEndian.AppendUint64(p, h.Position.Seq)
	p = binary.LittleEndian.AppendUint64(p, uint64(h.Position.KafkaOffset))
	p = binary.LittleEndian.AppendUint64(p, h.Position.JetStreamSeq)
	p = binary.LittleEndian.AppendUint64(p, uint64(h.Created.UnixNano()))
	p = binary.LittleEndian.AppendUint64(p, h.Values)
	p = binary.LittleEndian.AppendUint64(p, h.Facts)
	p = binary.LittleEndian.AppendUint64(p, h.Relations)
	p = appendStr(p, h.Env)
	p = appendStr(p, h.Tenant)
	e.p = appendStr(p, h.Digest)
	if err := e.block(kindHeader, "header", maxHeaderBytes); err != nil {
		return err
	}

	// Policy.
	pol := ex.Policy()
	e.p = appendStr(appendStr(e.p, pol.Src), pol.Filename)
	if err := e.block(kindPolicy, "policy", maxPolicyBytes); err != nil {
		return err
	}
	if cap(e.p) > 2*chunkTarget {
		e.p = nil // do not keep a large policy's buffer for the chunks
	}

	// Tokens.
	toks := ex.Tokens()
	e.p = binary.AppendUvarint(e.p, uint64(len(toks)))
	for _, t := range toks {
		e.p = appendStr(appendStr(appendStr(e.p, t.ID), t.SHA256), t.Access)
	}
	if err := e.block(kindTokens, "tokens", maxTokensBytes); err != nil {
		return err
	}

	// Types.
	e.p = binary.AppendUvarint(e.p, uint64(len(pl.types)))
	for _, t := range pl.types {
		e.p = appendStr(e.p, t)
	}
	if err := e.block(kindTypes, "types", maxTypesBytes); err != nil {
		return err
	}

	if err := e.writeValues(ex, pl); err != nil {
		return err
	}
	if err := e.writeFacts(ex, pl); err != nil {
		return err
	}

	// Trailer: the file CRC covers every byte before the trailer block.
	p = e.p[:0]
	p = binary.LittleEndian.AppendUint64(p, h.Values)
	p = binary.LittleEndian.AppendUint64(p, h.Facts)
	p = binary.LittleEndian.AppendUint64(p, h.Relations)
	p = binary.LittleEndian.AppendUint64(p, e.blocks)
	p = binary.LittleEndian.AppendUint64(p, uint64(e.n))
	e.p = binary.LittleEndian.AppendUint32(p, e.crc)
	return e.block(kindTrailer, "trailer", trailerBytes)
}

// writeValues writes the dictionary: chunks holding runs of values of one
// type, in new symbol order. A run's count precedes its ids, so the ids of
// the open run collect in a side buffer until the run closes.
func (e *encoder) writeValues(ex *replica.Export, pl *plan) error {
	typeIdx := make(map[string]uint64, len(pl.types))
	for i, t := range pl.types {
		typeIdx[t] = uint64(i + 1)
	}
	chunk := 0
	var runType, runCount uint64 // the open run; runCount 0 = none
	var ids []byte               // the open run's ids
	closeRun := func() {
		if runCount > 0 {
			e.p = binary.AppendUvarint(e.p, runType)
			e.p = binary.AppendUvarint(e.p, runCount)
			e.p = append(e.p, ids...)
			ids, runCount = ids[:0], 0
		}
	}
	flush := func() error {
		closeRun()
		if len(e.p) == 0 {
			return nil
		}
		chunk++
		return e.block(kindValues, fmt.Sprintf("values chunk %d", chunk), maxChunkBytes)
	}
	lastType, lastIdx := "", uint64(0)
	var err error
	ex.ForEachValue(func(sym uint32, typ, id string) bool {
		if pl.remap != nil && pl.remap[sym] == 0 {
			return true
		}
		if typ != lastType || lastIdx == 0 {
			lastType, lastIdx = typ, typeIdx[typ]
		}
		if lastIdx != runType {
			closeRun()
			runType = lastIdx
		}
		// 2 uvarints of a run header (<= 20 bytes) + this id (<= 2+384).
		if len(e.p)+len(ids)+len(id)+2+20 > chunkTarget {
			if err = flush(); err != nil {
				return false
			}
		}
		ids = appendStr(ids, id)
		runCount++
		return true
	})
	if err != nil {
		return err
	}
	return flush()
}

// writeFacts writes each non-empty relation: a relation block, then facts
// chunks of fixed-width little-endian symbols, row after row.
func (e *encoder) writeFacts(ex *replica.Export, pl *plan) error {
	width := widthFor(pl.values)
	remap := pl.remap
	for _, r := range pl.rels {
		name := fmt.Sprintf("%s/%d", r.Name, r.Arity)
		e.p = appendStr(e.p, r.Name)
		e.p = binary.AppendUvarint(e.p, uint64(r.Arity))
		e.p = binary.LittleEndian.AppendUint64(e.p, uint64(r.Len))
		if err := e.block(kindRelation, "relation "+name, maxRelationBytes); err != nil {
			return err
		}
		rowsPer := max(1, chunkTarget/(r.Arity*width))
		chunk, left, want, rows := 0, r.Len, 0, 0
		var err error
		ex.ForEachTuple(r.ID, func(t []uint32) bool {
			if rows == 0 {
				want = min(rowsPer, left)
				e.p = binary.AppendUvarint(e.p, uint64(want))
				e.p = append(e.p, byte(width))
			}
			p := e.p
			for _, s := range t {
				if remap != nil {
					s = remap[s]
				}
				switch width {
				case 1:
					p = append(p, byte(s))
				case 2:
					p = append(p, byte(s), byte(s>>8))
				case 3:
					p = append(p, byte(s), byte(s>>8), byte(s>>16))
				default:
					p = append(p, byte(s), byte(s>>8), byte(s>>16), byte(s>>24))
				}
			}
			e.p = p
			rows++
			if rows == want {
				chunk++
				left -= rows
				rows = 0
				if err = e.block(kindFacts, fmt.Sprintf("facts chunk %d of %s", chunk, name), maxChunkBytes); err != nil {
					return false
				}
			}
			return true
		})
		if err != nil {
			return err
		}
		if rows != 0 || left != 0 {
			return fmt.Errorf("encode checkpoint relation %s: %d facts left unwritten", name, left)
		}
	}
	return nil
}
