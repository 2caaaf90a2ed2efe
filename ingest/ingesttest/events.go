package ingesttest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

// BaseTime is the time of event 1 built by Event; event n is n ms later.
var BaseTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Event returns the JSON of a valid batch event seq of env that inserts
// member(User "u<seq>", Organization "acme").
func Event(env string, seq uint64) []byte {
	return EventAt(env, seq, BaseTime.Add(time.Duration(seq)*time.Millisecond))
}

// EventAt is Event with the given time.
func EventAt(env string, seq uint64, at time.Time) []byte {
	ev := replica.Event{
		Env: env, Seq: seq, Time: at, Kind: replica.KindBatch,
		Inserts: []replica.Fact{{Predicate: "member", Args: []replica.Value{
			{Type: "User", ID: fmt.Sprintf("u%d", seq)},
			{Type: "Organization", ID: "acme"},
		}}},
	}
	data, err := json.Marshal(ev)
	if err != nil {
		panic(err) // a fixed shape; cannot fail
	}
	return data
}

// Events returns Event(env, seq) for seq in [from, to].
func Events(env string, from, to uint64) [][]byte {
	var out [][]byte
	for seq := from; seq <= to; seq++ {
		out = append(out, Event(env, seq))
	}
	return out
}

// PoisonEvent returns an event seq that decodes but that Apply rejects as
// poison: a fact with an empty type.
func PoisonEvent(env string, seq uint64) []byte {
	return fmt.Appendf(nil, `{"env":%q,"seq":%d,"time":%q,"kind":"batch","inserts":[{"predicate":"member","args":[{"type":"","id":"x"}]}]}`,
		env, seq, BaseTime.Add(time.Duration(seq)*time.Millisecond).Format(time.RFC3339Nano))
}

// UndecodableEvent returns a JSON object with env and seq that
// replica.DecodeEvent rejects (an unknown kind). Every transport carries
// it; the poll feed can, as it is valid JSON.
func UndecodableEvent(env string, seq uint64) []byte {
	return fmt.Appendf(nil, `{"env":%q,"seq":%d,"time":%q,"kind":"no-such-kind"}`,
		env, seq, BaseTime.Format(time.RFC3339Nano))
}

// Apply applies payloads to a fresh state of env, in order, and fails on
// any error; a helper for building expected states and snapshots.
func Apply(env string, payloads ...[]byte) (*replica.State, error) {
	st := replica.New(replica.Config{Env: env})
	for _, p := range payloads {
		ev, err := replica.DecodeEvent(p)
		if err != nil {
			return nil, err
		}
		if err := st.Apply(ev); err != nil {
			return nil, err
		}
	}
	return st, nil
}
