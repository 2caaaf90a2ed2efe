package replica

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DecodeEvent decodes one event in its JSON form (DESIGN.md §3). It is
// strict: unknown fields (at any depth), wrong field types, a missing or zero
// seq, an unknown kind, a time that is not RFC 3339, and anything after the
// event (other than white space) are errors starting "decode event: ".
// Empty lists decode as nil. Whether the event can be applied (valid values,
// fields that belong to its kind) is Apply's business.
//
// The result is that of encoding/json (with unknown fields disallowed), as
// in decodeJSON. Events in the form the control plane writes take a fast
// path (decodeFast, decodefast.go) that accepts only input on which it is
// known to agree with encoding/json; anything else, including every input
// that is rejected, goes through encoding/json, so errors are its errors.
func DecodeEvent(data []byte) (Event, error) {
	ev, ok := decodeFast(data)
	if !ok {
		var err error
		if ev, err = decodeJSON(data); err != nil {
			return Event{}, err
		}
	}
	return checkDecoded(ev)
}

// decodeJSON decodes data with encoding/json: the reference for what
// DecodeEvent accepts and what it decodes to.
func decodeJSON(data []byte) (Event, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ev Event
	if err := dec.Decode(&ev); err != nil {
		if errors.Is(err, io.EOF) {
			return Event{}, errors.New("decode event: empty input")
		}
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Event{}, fmt.Errorf("decode event: unexpected data after the event at offset %d", dec.InputOffset())
	}
	return ev, nil
}

// checkDecoded checks a decoded event's seq, kind and time and turns its
// empty lists into nil.
func checkDecoded(ev Event) (Event, error) {
	if ev.Seq == 0 {
		return Event{}, errors.New("decode event: seq is missing or 0")
	}
	switch ev.Kind {
	case KindBatch, KindPolicy, KindClear, KindTokens:
	case "":
		return Event{}, fmt.Errorf("decode event: seq %d: kind is missing", ev.Seq)
	default:
		return Event{}, fmt.Errorf("decode event: seq %d: unknown kind %q", ev.Seq, ev.Kind)
	}
	if _, err := ev.Time.MarshalJSON(); err != nil {
		return Event{}, fmt.Errorf("decode event: seq %d: time: %w", ev.Seq, err)
	}
	if len(ev.Inserts) == 0 {
		ev.Inserts = nil
	}
	if len(ev.Deletes) == 0 {
		ev.Deletes = nil
	}
	if len(ev.Tokens) == 0 {
		ev.Tokens = nil
	}
	return ev, nil
}
