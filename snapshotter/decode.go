package snapshotter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

// sink receives what the decoder reads, in file order. Read's sink feeds a
// replica.Loader; Inspect's keeps the dictionary to recompute the digest.
type sink interface {
	header(h *Header) error
	// values receives one run of values of one type; ids alias a string
	// that stays valid.
	values(typ string, ids []string) error
	relation(name string, arity int, facts uint64) error
	// facts receives rows of symbols (len = rows × arity), valid only
	// during the call. Symbols are already checked to be 1..Values.
	facts(data []uint32) error
}

// decoder reads a checkpoint as a stream. It holds a 64 KiB read buffer,
// one block payload (at most 1 MiB after the policy) and one chunk of
// decoded symbols (at most 4 MiB).
type decoder struct {
	br   *bufio.Reader
	off  int64  // offset of the next unread byte
	crc  uint32 // CRC32C of bytes [0, off)
	sink sink
	info *Info

	payload []byte
	syms    []uint32
	ids     []string
	blocks  uint64

	policy replica.PolicySource
	tokens []replica.Token
	types  []string
	nvals  uint64 // values decoded
	nfacts uint64 // facts decoded
}

func newDecoder(r io.Reader, s sink, info *Info) *decoder {
	return &decoder{br: bufio.NewReaderSize(r, 64<<10), sink: s, info: info}
}

func (d *decoder) fail(sentinel error, region string, off int64, format string, args ...any) error {
	return &FormatError{Region: region, Offset: off, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

// read fills p, keeping the offset and the running CRC. A short read is
// reported as ErrTruncated for region; other I/O errors are wrapped.
func (d *decoder) read(p []byte, region string, start int64, what string) error {
	n, err := io.ReadFull(d.br, p)
	d.crc = crc32.Update(d.crc, castagnoli, p[:n])
	d.off += int64(n)
	d.info.Size = d.off
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return d.fail(ErrTruncated, region, start, "file ends at byte %d, inside the %s (%d of %d bytes present)", d.off, what, n, len(p))
	default:
		return fmt.Errorf("read checkpoint %s at byte %d: %w", region, d.off, err)
	}
}

func (d *decoder) region(name string, off int64) {
	d.info.Regions = append(d.info.Regions, Region{Name: name, Offset: off, Length: d.off - off})
}

// block reads one block of the given kind and returns its verified
// payload, which is valid until the next call.
func (d *decoder) block(kind byte, region string, limit int) ([]byte, error) {
	start := d.off
	var hdr [blockHdrLen]byte
	n, err := io.ReadFull(d.br, hdr[:])
	d.crc = crc32.Update(d.crc, castagnoli, hdr[:n])
	d.off += int64(n)
	d.info.Size = d.off
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return nil, d.fail(ErrTruncated, region, start, "file ends where the %s should start", region)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, d.fail(ErrTruncated, region, start, "file ends inside the block header (%d of %d bytes present)", n, blockHdrLen)
	case err != nil:
		return nil, fmt.Errorf("read checkpoint %s at byte %d: %w", region, d.off, err)
	}
	if hdr[0] != kind {
		return nil, d.fail(ErrCorrupt, region, start, "found block kind %q (0x%02x), want %q", hdr[0], hdr[0], kind)
	}
	size := binary.LittleEndian.Uint32(hdr[1:])
	if uint64(size) > uint64(limit) {
		return nil, d.fail(ErrCorrupt, region, start, "payload length %d exceeds the limit %d", size, limit)
	}
	// Grow the payload buffer in steps as data arrives, so a forged length
	// on a short file allocates little.
	p := d.payload[:0]
	for len(p) < int(size) {
		k := min(int(size)-len(p), max(len(p), 1<<20))
		p = slices.Grow(p, k)[:len(p)+k]
		if err := d.read(p[len(p)-k:], region, start, "payload"); err != nil {
			return nil, err
		}
	}
	var sum [blockCRCLen]byte
	if err := d.read(sum[:], region, start, "block checksum"); err != nil {
		return nil, err
	}
	want := binary.LittleEndian.Uint32(sum[:])
	got := crc32.Update(crc32.Update(0, castagnoli, hdr[:]), castagnoli, p)
	if want != got {
		return nil, d.fail(ErrCorrupt, region, start, "block checksum mismatch: stored %08x, computed %08x", want, got)
	}
	if cap(p) <= 2*maxChunkBytes {
		d.payload = p
	} else {
		d.payload = nil // a large policy: do not keep its buffer
	}
	d.blocks++
	d.region(region, start)
	return p, nil
}

// cursor parses a verified payload; the first problem sticks.
type cursor struct {
	p   []byte
	at  int // bytes consumed
	err string
}

func (c *cursor) bad(format string, args ...any) {
	if c.err == "" {
		c.err = fmt.Sprintf("payload byte %d: ", c.at) + fmt.Sprintf(format, args...)
	}
}

// invalid records a problem with decoded values rather than with the
// encoding at the current byte.
func (c *cursor) invalid(format string, args ...any) {
	if c.err == "" {
		c.err = fmt.Sprintf(format, args...)
	}
}

func (c *cursor) skip(n int) {
	c.p = c.p[n:]
	c.at += n
}

func (c *cursor) u64(what string) uint64 {
	if len(c.p) < 8 {
		c.bad("%s: payload ends early", what)
		c.p = nil
		return 0
	}
	v := binary.LittleEndian.Uint64(c.p)
	c.skip(8)
	return v
}

func (c *cursor) uvarint(what string) uint64 {
	if len(c.p) > 0 && c.p[0] < 0x80 {
		v := uint64(c.p[0])
		c.skip(1)
		return v
	}
	v, n := binary.Uvarint(c.p)
	if n <= 0 {
		c.bad("%s: malformed or missing varint", what)
		c.p = nil
		return 0
	}
	c.skip(n)
	return v
}

// bytes reads a uvarint length (at most limit) and that many bytes.
func (c *cursor) bytes(what string, limit int) []byte {
	n := c.uvarint(what + " length")
	if n > uint64(limit) {
		c.bad("%s length %d exceeds the limit %d", what, n, limit)
		c.p = nil
		return nil
	}
	if n > uint64(len(c.p)) {
		c.bad("%s length %d runs past the payload (%d bytes left)", what, n, len(c.p))
		c.p = nil
		return nil
	}
	b := c.p[:n]
	c.skip(int(n))
	return b
}

func (c *cursor) str(what string, limit int) string { return string(c.bytes(what, limit)) }

// done checks that the payload was consumed exactly.
func (c *cursor) done() {
	if c.err == "" && len(c.p) > 0 {
		c.bad("%d unexpected bytes at the end of the payload", len(c.p))
	}
}

func (d *decoder) check(c *cursor, region string) error {
	c.done()
	if c.err != "" {
		start := int64(0)
		if n := len(d.info.Regions); n > 0 {
			start = d.info.Regions[n-1].Offset
		}
		return d.fail(ErrCorrupt, region, start, "%s", c.err)
	}
	return nil
}

// run decodes the whole file.
func (d *decoder) run() error {
	if err := d.preamble(); err != nil {
		return err
	}
	if err := d.header(); err != nil {
		return err
	}
	if err := d.policyAndTokens(); err != nil {
		return err
	}
	if err := d.dictionary(); err != nil {
		return err
	}
	if err := d.relations(); err != nil {
		return err
	}
	return d.trailer()
}

func (d *decoder) preamble() error {
	var m [len(Magic)]byte
	n, err := io.ReadFull(d.br, m[:])
	d.crc = crc32.Update(d.crc, castagnoli, m[:n])
	d.off += int64(n)
	d.info.Size = d.off
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("read checkpoint magic: %w", err)
	}
	if !bytes.HasPrefix([]byte(Magic), m[:n]) {
		return d.fail(ErrNotCheckpoint, "magic", 0, "file starts with % x, want %q", m[:n], Magic)
	}
	if n == 0 {
		return d.fail(ErrTruncated, "magic", 0, "file is empty")
	}
	if n < len(m) {
		return d.fail(ErrTruncated, "magic", 0, "file ends after %d bytes, inside the magic", n)
	}
	d.region("magic", 0)
	var v [4]byte
	if err := d.read(v[:], "version", d.off, "format version"); err != nil {
		return err
	}
	version := binary.LittleEndian.Uint32(v[:])
	d.info.Version = version
	if version < MinFormatVersion || version > FormatVersion {
		newer := ""
		if version > FormatVersion {
			newer = " (written by a newer Outpost?)"
		}
		return d.fail(ErrVersion, "version", int64(len(Magic)), "format version %d%s; this build reads versions %d to %d",
			version, newer, MinFormatVersion, FormatVersion)
	}
	d.region("version", int64(len(Magic)))
	return nil
}

func (d *decoder) header() error {
	p, err := d.block(kindHeader, "header", maxHeaderBytes)
	if err != nil {
		return err
	}
	c := cursor{p: p}
	h := &d.info.Header
	h.Position.Seq = c.u64("seq")
	h.Position.KafkaOffset = int64(c.u64("Kafka offset"))
	h.Position.JetStreamSeq = c.u64("JetStream seq")
	h.Created = time.Unix(0, int64(c.u64("created"))).UTC()
	h.Values = c.u64("values")
	h.Facts = c.u64("facts")
	h.Relations = c.u64("relations")
	h.Env = c.str("env", maxStringBytes)
	h.Tenant = c.str("tenant", maxStringBytes)
	h.Digest = c.str("digest", maxStringBytes)
	switch {
	case c.err != "":
	case h.Values > replica.MaxSymbols:
		c.invalid("%d values; the limit is %d", h.Values, replica.MaxSymbols)
	case h.Facts > maxFacts:
		c.invalid("%d facts; the limit is %d", h.Facts, uint64(maxFacts))
	case h.Relations > h.Facts:
		c.invalid("%d relations but %d facts (every relation stored has facts)", h.Relations, h.Facts)
	case h.Facts == 0 && h.Values > 0:
		c.invalid("%d values but no facts (only values facts use are stored)", h.Values)
	}
	if err := d.check(&c, "header"); err != nil {
		return err
	}
	return d.sink.header(h)
}

func (d *decoder) policyAndTokens() error {
	p, err := d.block(kindPolicy, "policy", maxPolicyBytes)
	if err != nil {
		return err
	}
	c := cursor{p: p}
	d.policy.Src = c.str("policy source", maxPolicyBytes)
	d.policy.Filename = c.str("policy filename", maxPolicyBytes)
	if err := d.check(&c, "policy"); err != nil {
		return err
	}
	d.info.PolicyFilename, d.info.PolicyBytes = d.policy.Filename, len(d.policy.Src)

	if p, err = d.block(kindTokens, "tokens", maxTokensBytes); err != nil {
		return err
	}
	c = cursor{p: p}
	n := c.uvarint("token count")
	if n > uint64(len(c.p))/3 { // each token is at least three length bytes
		c.bad("%d tokens cannot fit in %d bytes", n, len(c.p))
		n = 0
	}
	d.tokens = make([]replica.Token, 0, n)
	for i := uint64(0); i < n && c.err == ""; i++ {
		d.tokens = append(d.tokens, replica.Token{
			ID:     c.str("token id", maxTokensBytes),
			SHA256: c.str("token hash", maxTokensBytes),
			Access: c.str("token access", maxTokensBytes),
		})
	}
	if c.err == "" {
		if err := replica.ValidateTokens(d.tokens); err != nil {
			c.invalid("%v", err)
		}
	}
	if err := d.check(&c, "tokens"); err != nil {
		return err
	}
	d.info.Tokens = len(d.tokens)
	return nil
}

func (d *decoder) dictionary() error {
	p, err := d.block(kindTypes, "types", maxTypesBytes)
	if err != nil {
		return err
	}
	c := cursor{p: p}
	n := c.uvarint("type count")
	if n > replica.MaxTypes || n > uint64(len(c.p)) {
		c.bad("%d types; the limit is %d and %d bytes follow", n, replica.MaxTypes, len(c.p))
		n = 0
	}
	seen := make(map[string]bool, n)
	for i := uint64(0); i < n && c.err == ""; i++ {
		t := c.str("type name", maxTypesBytes)
		if c.err == "" && (t == "" || seen[t]) {
			c.invalid("type %d is empty or repeated (%q)", i+1, t)
		}
		seen[t] = true
		d.types = append(d.types, t)
	}
	if err := d.check(&c, "types"); err != nil {
		return err
	}
	d.info.Types = d.types

	total := d.info.Header.Values
	for chunk := 1; d.nvals < total; chunk++ {
		region := fmt.Sprintf("values chunk %d", chunk)
		p, err := d.block(kindValues, region, maxChunkBytes)
		if err != nil {
			return err
		}
		if err := d.valuesChunk(p, region, total); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) valuesChunk(p []byte, region string, total uint64) error {
	all := string(p) // one allocation per chunk; ids are substrings of it
	c := cursor{p: p}
	if len(p) == 0 {
		c.bad("empty values chunk")
	}
	for len(c.p) > 0 && c.err == "" {
		t := c.uvarint("run type")
		cnt := c.uvarint("run count")
		switch {
		case c.err != "":
			continue
		case t == 0 || t > uint64(len(d.types)):
			c.bad("run type %d is not a type number 1..%d", t, len(d.types))
			continue
		case cnt == 0 || cnt > uint64(len(c.p))/2:
			c.bad("run count %d does not fit the %d bytes left", cnt, len(c.p))
			continue
		case cnt > total-d.nvals:
			c.bad("run of %d values exceeds the header's %d values (%d so far)", cnt, total, d.nvals)
			continue
		}
		ids := d.ids[:0]
		for range cnt {
			var n uint64
			if len(c.p) > 0 && c.p[0] < 0x80 {
				n = uint64(c.p[0])
				c.skip(1)
			} else {
				n = c.uvarint("id length")
			}
			if n == 0 || n > replica.MaxIDBytes || n > uint64(len(c.p)) {
				c.bad("id length %d is not in 1..%d or runs past the payload", n, replica.MaxIDBytes)
				break
			}
			ids = append(ids, all[c.at:c.at+int(n)])
			c.skip(int(n))
		}
		d.ids = ids[:0]
		if c.err != "" {
			break
		}
		if err := d.sink.values(d.types[t-1], ids); err != nil {
			c.invalid("value %d: %v", d.nvals+1, err)
			break
		}
		d.nvals += cnt
	}
	return d.check(&c, region)
}

func (d *decoder) relations() error {
	h := &d.info.Header
	width := widthFor(h.Values)
	prev := RelationInfo{}
	for i := uint64(1); i <= h.Relations; i++ {
		region := fmt.Sprintf("relation %d", i)
		p, err := d.block(kindRelation, region, maxRelationBytes)
		if err != nil {
			return err
		}
		c := cursor{p: p}
		ri := RelationInfo{Name: c.str("predicate", maxRelationBytes)}
		arity := c.uvarint("arity")
		ri.Facts = c.u64("fact count")
		ri.Arity = int(min(arity, maxArity+1))
		switch {
		case c.err != "":
		case ri.Name == "":
			c.invalid("empty predicate")
		case arity == 0 || arity > maxArity:
			c.invalid("arity %d is not in 1..%d", arity, maxArity)
		case ri.Facts == 0 || ri.Facts > h.Facts-d.nfacts:
			c.invalid("%d facts; %d of the header's %d remain", ri.Facts, h.Facts-d.nfacts, h.Facts)
		case i > 1 && (ri.Name < prev.Name || ri.Name == prev.Name && ri.Arity <= prev.Arity):
			c.invalid("%s/%d follows %s/%d (relations must be in increasing order)", ri.Name, ri.Arity, prev.Name, prev.Arity)
		}
		if err := d.check(&c, region); err != nil {
			return err
		}
		name := fmt.Sprintf("%s/%d", ri.Name, ri.Arity)
		reg := &d.info.Regions[len(d.info.Regions)-1]
		reg.Name = fmt.Sprintf("%s (%s)", region, name)
		if err := d.sink.relation(ri.Name, ri.Arity, ri.Facts); err != nil {
			return d.fail(ErrCorrupt, reg.Name, reg.Offset, "%v", err)
		}
		for left := ri.Facts; left > 0; {
			ri.Chunks++
			region := fmt.Sprintf("facts chunk %d of %s", ri.Chunks, name)
			p, err := d.block(kindFacts, region, maxChunkBytes)
			if err != nil {
				return err
			}
			rows, err := d.factsChunk(p, region, ri.Arity, left, width)
			if err != nil {
				return err
			}
			left -= rows
			d.nfacts += rows
		}
		d.info.Relations = append(d.info.Relations, ri)
		prev = ri
	}
	if d.nfacts != h.Facts {
		return d.fail(ErrCorrupt, "header", 0, "header counts %d facts, the relations hold %d", h.Facts, d.nfacts)
	}
	return nil
}

func (d *decoder) factsChunk(p []byte, region string, arity int, left uint64, maxWidth int) (uint64, error) {
	start := d.info.Regions[len(d.info.Regions)-1].Offset
	c := cursor{p: p}
	rows := c.uvarint("row count")
	var width int
	if len(c.p) > 0 {
		width = int(c.p[0])
		c.skip(1)
	}
	switch {
	case c.err != "":
	case rows == 0 || rows > left:
		c.bad("%d rows; %d facts of the relation remain", rows, left)
	case width < 1 || width > maxWidth:
		c.bad("symbol width %d is not in 1..%d", width, maxWidth)
	case uint64(len(c.p)) != rows*uint64(arity)*uint64(width):
		c.bad("%d bytes of symbols, want %d rows × arity %d × width %d", len(c.p), rows, arity, width)
	}
	if c.err != "" {
		return 0, d.fail(ErrCorrupt, region, start, "%s", c.err)
	}
	n := int(rows) * arity
	if cap(d.syms) < n {
		d.syms = make([]uint32, n)
	}
	out := d.syms[:n]
	b := c.p
	lo, hi := ^uint32(0), uint32(0)
	switch width {
	case 1:
		b = b[:n]
		for i := range out {
			out[i] = uint32(b[i])
		}
	case 2:
		b = b[:2*n]
		for i := range out {
			out[i] = uint32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case 3:
		b = b[:3*n]
		for i := range out {
			x := b[3*i : 3*i+3 : 3*i+3]
			out[i] = uint32(x[0]) | uint32(x[1])<<8 | uint32(x[2])<<16
		}
	default:
		b = b[:4*n]
		for i := range out {
			out[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	}
	for _, s := range out {
		lo, hi = min(lo, s), max(hi, s)
	}
	if lo == 0 || uint64(hi) > d.nvals {
		return 0, d.fail(ErrCorrupt, region, start, "symbols range over %d..%d; valid symbols are 1..%d", lo, hi, d.nvals)
	}
	if err := d.sink.facts(out); err != nil {
		return 0, d.fail(ErrCorrupt, region, start, "%v", err)
	}
	return rows, nil
}

func (d *decoder) trailer() error {
	before := d.crc // CRC32C of every byte before the trailer block
	blocks, at := d.blocks, d.off
	p, err := d.block(kindTrailer, "trailer", trailerBytes)
	if err != nil {
		return err
	}
	start := at
	if len(p) != trailerBytes {
		return d.fail(ErrCorrupt, "trailer", start, "payload is %d bytes, want %d", len(p), trailerBytes)
	}
	got := [5]uint64{d.nvals, d.nfacts, uint64(len(d.info.Relations)), blocks, uint64(at)}
	names := [5]string{"values", "facts", "relations", "blocks", "bytes before the trailer"}
	for i := range got {
		if v := binary.LittleEndian.Uint64(p[8*i:]); v != got[i] {
			return d.fail(ErrCorrupt, "trailer", start, "trailer counts %d %s, the file holds %d", v, names[i], got[i])
		}
	}
	d.info.Checksum = binary.LittleEndian.Uint32(p[40:])
	if d.info.Checksum != before {
		return d.fail(ErrCorrupt, "trailer", start, "whole-file checksum mismatch: stored %08x, computed %08x over bytes 0..%d",
			d.info.Checksum, before, at)
	}
	// Nothing may follow the trailer.
	switch _, err := d.br.ReadByte(); {
	case err == nil:
		return d.fail(ErrCorrupt, "trailer", start, "data follows the trailer at byte %d", d.off)
	case !errors.Is(err, io.EOF):
		return fmt.Errorf("read checkpoint after the trailer: %w", err)
	}
	d.info.ChecksumOK = true
	return nil
}
