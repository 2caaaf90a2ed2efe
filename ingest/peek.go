package ingest

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// PeekSeq returns the seq of an event in its JSON form without decoding the
// rest of it, so a Source can skip events at or before a position and
// report positions. It reports false when data is not a JSON object with a
// positive integer "seq". Whether the event is valid is the replica's
// business (replica.DecodeEvent).
func PeekSeq(data []byte) (uint64, bool) {
	if seq, ok := peekPrefix(data); ok {
		return seq, true
	}
	var v struct {
		Seq *uint64 `json:"seq"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.Seq == nil || *v.Seq == 0 {
		return 0, false
	}
	return *v.Seq, true
}

// peekPrefix is the fast path for events as the control plane writes them,
// `{"env":"<plain string>","seq":<digits>,` ..., which reads a few dozen
// bytes instead of the whole event.
func peekPrefix(data []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(`{"env":"`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return 0, false
	}
	rest, ok = bytes.CutPrefix(rest[end+1:], []byte(`,"seq":`))
	if !ok {
		return 0, false
	}
	n := 0
	for n < len(rest) && n < 20 && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 || n == len(rest) || (rest[n] != ',' && rest[n] != '}') || (rest[0] == '0') {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(rest[:n]), 10, 64)
	if err != nil {
		return 0, false
	}
	return seq, true
}
