package snapshotter

import (
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

// The byte layout is specified in docs/checkpoint-format.md; the constants
// below are the ones that document names.

// Magic is the first eight bytes of every checkpoint file.
const Magic = "OUTPOSTC"

// FormatVersion is the format version this build writes. Read accepts
// versions MinFormatVersion through FormatVersion.
const (
	FormatVersion    = 1
	MinFormatVersion = 1
)

// Block kinds, in file order.
const (
	kindHeader   = 'H'
	kindPolicy   = 'P'
	kindTokens   = 'K'
	kindTypes    = 'T'
	kindValues   = 'V'
	kindRelation = 'R'
	kindFacts    = 'F'
	kindTrailer  = 'E'
)

const (
	preambleLen  = len(Magic) + 4 // magic, u32 version
	blockHdrLen  = 5              // kind, u32 payload length
	blockCRCLen  = 4              // u32 CRC32C of kind, length and payload
	trailerBytes = 5*8 + 4        // values, facts, relations, blocks, bytes, file CRC

	// Limits on block payloads. A length above its kind's limit is rejected
	// before anything is allocated.
	maxHeaderBytes   = 64 << 10
	maxPolicyBytes   = 64 << 20
	maxTokensBytes   = 64 << 20
	maxTypesBytes    = 16 << 20
	maxChunkBytes    = 1 << 20 // values and facts chunks
	maxRelationBytes = 64 << 10

	// chunkTarget is the payload size the writer aims for in values and
	// facts chunks.
	chunkTarget = 256 << 10

	// maxArity bounds the arguments of one fact.
	maxArity = 4096
	// maxFacts bounds the facts one checkpoint may declare.
	maxFacts = 1 << 40
	// maxStringBytes bounds env, tenant and digest strings in the header.
	maxStringBytes = 1024
	// A reader reserves room for the declared values (and each relation's
	// declared rows) up to reserveStep at first, then up to reserveGrowth
	// times what the data has shown to exist. A forged count thus costs at
	// most that multiple of real input, and an honest file of 16M rows per
	// relation gets its exact room after one small copy.
	reserveStep   = 1 << 20
	reserveGrowth = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors that callers branch on. Every decode error wraps exactly one of
// them (except ErrWrongEnv, a valid checkpoint of another environment, and
// I/O errors of the underlying reader, which are wrapped as they are).
var (
	// ErrCorrupt: a checksum, count, length or value does not match.
	ErrCorrupt = errors.New("checkpoint is corrupt")
	// ErrTruncated: the data ends before the trailer.
	ErrTruncated = errors.New("checkpoint is truncated")
	// ErrVersion: the file has a format version this build cannot read
	// (usually one written by a newer Outpost).
	ErrVersion = errors.New("unsupported checkpoint format version")
	// ErrNotCheckpoint: the file does not start with Magic.
	ErrNotCheckpoint = errors.New("not a checkpoint file")
	// ErrWrongEnv: the checkpoint is valid but belongs to another
	// environment than replica.Config.Env.
	ErrWrongEnv = errors.New("checkpoint is for another environment")
)

// Header describes the state a checkpoint holds.
type Header struct {
	Env, Tenant string
	// Position is the state's seq and the transport positions that follow
	// it (a node resumes Kafka and JetStream exactly there).
	Position replica.Position
	Created  time.Time
	// Values (dictionary entries), Facts and Relations (non-empty ones)
	// count what the file holds. Write fills them in.
	Values, Facts, Relations uint64
	// Digest is the state digest at Position.Seq. Write fills it in; Read
	// recomputes it and rejects the file when they differ.
	Digest string
}

// Stats reports one Write.
type Stats struct {
	Bytes    int64
	Duration time.Duration
}

// Region is a span of a checkpoint file: "magic", "version", "header",
// "policy", "tokens", "types", "values chunk N", "relation NAME/ARITY",
// "facts chunk N of NAME/ARITY" or "trailer". Error messages name the
// region they are about the same way.
type Region struct {
	Name   string
	Offset int64
	Length int64
}

// RelationInfo counts one relation of a checkpoint.
type RelationInfo struct {
	Name   string
	Arity  int
	Facts  uint64
	Chunks int
}

// Info describes a checkpoint file (see Inspect).
type Info struct {
	Header         Header
	Version        uint32
	Size           int64 // bytes read
	PolicyFilename string
	PolicyBytes    int
	Tokens         int
	Types          []string
	Relations      []RelationInfo
	Regions        []Region
	// Checksum is the whole-file CRC32C stored in the trailer; ChecksumOK
	// says it matched the bytes.
	Checksum   uint32
	ChecksumOK bool
	// DigestOK says the state digest recomputed from the file's policy,
	// tokens, dictionary and facts equals Header.Digest.
	DigestOK bool
}

// FormatError is the error Read and Inspect return for a file that cannot
// be decoded. It names the region and the byte offset where decoding
// stopped, and wraps one of ErrCorrupt, ErrTruncated, ErrVersion or
// ErrNotCheckpoint.
type FormatError struct {
	Region string
	Offset int64
	Err    error // the sentinel
	Detail string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("decode checkpoint %s at byte %d: %v: %s", e.Region, e.Offset, e.Err, e.Detail)
}

func (e *FormatError) Unwrap() error { return e.Err }

// widthFor returns the bytes needed to store symbols up to n.
func widthFor(n uint64) int {
	switch {
	case n < 1<<8:
		return 1
	case n < 1<<16:
		return 2
	case n < 1<<24:
		return 3
	default:
		return 4
	}
}
