package httpapi

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"hash/fnv"
	"sort"

	"github.com/outpost-authz/outpost/replica"
)

// List pagination (check-api.md §4.3). A page token is stateless, so any
// node behind a load balancer can continue a listing:
//
//	base64url(no padding) of
//	  version byte (1)
//	  uvarint revision the token was minted at
//	  uvarint page size
//	  8 bytes: FNV-1a 64 of (actor type, actor id, action, resource type)
//	  the last id returned (the rest)
//	  4 bytes: CRC-32C of everything before
//
// Ids are sorted by byte order; the next page holds the ids strictly after
// the last one. A token that does not decode, fails its checksum or belongs
// to another question is a 400 ("invalid page_token ...").

const pageTokenVersion = 1

type pageToken struct {
	revision uint64
	size     int
	query    uint64
	lastID   string
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (t pageToken) encode() string {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+8+len(t.lastID)+4)
	b = append(b, pageTokenVersion)
	b = binary.AppendUvarint(b, t.revision)
	b = binary.AppendUvarint(b, uint64(t.size))
	b = binary.BigEndian.AppendUint64(b, t.query)
	b = append(b, t.lastID...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return base64.RawURLEncoding.EncodeToString(b)
}

var errForeignToken = badRequest("invalid page_token: this replica did not issue it (it may come from Oso Cloud or be damaged); start the listing again without page_token")

// decodePageToken decodes s and checks that it belongs to the question
// with hash query.
func decodePageToken(s string, query uint64) (pageToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 1+1+1+8+4 || b[0] != pageTokenVersion {
		return pageToken{}, errForeignToken
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return pageToken{}, errForeignToken
	}
	var t pageToken
	rest := body[1:]
	rev, n := binary.Uvarint(rest)
	if n <= 0 {
		return pageToken{}, errForeignToken
	}
	rest = rest[n:]
	size, n := binary.Uvarint(rest)
	if n <= 0 || size < 1 || size > 1<<31-1 || len(rest[n:]) < 8 {
		return pageToken{}, errForeignToken
	}
	rest = rest[n:]
	t.revision, t.size = rev, int(size)
	t.query = binary.BigEndian.Uint64(rest)
	t.lastID = string(rest[8:])
	if t.query != query {
		return pageToken{}, badRequest("invalid page_token: it continues a different listing (actor, action or resource_type differ)")
	}
	return t, nil
}

// listHash identifies a list question inside its page tokens.
func listHash(actor replica.Value, action, resourceType string) uint64 {
	h := fnv.New64a()
	for _, s := range [4]string{actor.Type, actor.ID, action, resourceType} {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	return h.Sum64()
}

// paginate cuts one page out of the sorted ids: the first size ids, or with
// a token the size ids after tok.lastID. next is nil on the last page.
func paginate(ids []string, tok pageToken, hasToken bool, size int, revision, query uint64) (page []string, next *string) {
	start := 0
	if hasToken {
		start = sort.Search(len(ids), func(i int) bool { return ids[i] > tok.lastID })
	}
	end := len(ids)
	if size < end-start {
		end = start + size
	}
	page = ids[start:end]
	if page == nil {
		page = []string{}
	}
	if end < len(ids) {
		s := pageToken{revision: revision, size: size, query: query, lastID: ids[end-1]}.encode()
		next = &s
	}
	return page, next
}
