package datasets

import (
	"fmt"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

// EventsEpoch is the time of event seq 1; event seq n is stamped
// EventsEpoch + (n-1) ms, so event streams are reproducible byte for byte.
var EventsEpoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// Events streams the data set as an environment's event log: seq 1 is a
// policy event carrying GitclubPolicy, then batch events of batchSize inserts
// each (the last one may be shorter), in Generate's order. Each event's
// Inserts slice is fresh; emit may keep it. It stops at the first error emit
// returns.
func Events(cfg Config, env string, batchSize int, emit func(replica.Event) error) error {
	if batchSize <= 0 {
		return fmt.Errorf("datasets events: batch size %d is not positive", batchSize)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	seq := uint64(1)
	stamp := func() time.Time { return EventsEpoch.Add(time.Duration(seq-1) * time.Millisecond) }
	err := emit(replica.Event{
		Env:    env,
		Seq:    seq,
		Time:   stamp(),
		Kind:   replica.KindPolicy,
		Policy: &replica.PolicySource{Src: GitclubPolicy, Filename: PolicyFilename},
	})
	if err != nil {
		return err
	}
	batch := make([]replica.Fact, 0, batchSize)
	flush := func() error {
		seq++
		ev := replica.Event{Env: env, Seq: seq, Time: stamp(), Kind: replica.KindBatch, Inserts: batch}
		batch = make([]replica.Fact, 0, batchSize)
		return emit(ev)
	}
	err = Generate(cfg, func(f replica.Fact) error {
		batch = append(batch, f)
		if len(batch) == batchSize {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		return flush()
	}
	return nil
}
