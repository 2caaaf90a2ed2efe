package replica

// Position is where a replica stands in an environment's log and in each
// transport that carries it. Snapshots and checkpoints record the position
// of the state they hold, so a node resumes each transport exactly after it.
type Position struct {
	// Seq is the last applied event's seq.
	Seq uint64 `json:"seq"`
	// KafkaOffset is the offset of the next Kafka record to read, or -1
	// when unknown (the consumer then searches for Seq+1).
	KafkaOffset int64 `json:"kafka_offset"`
	// JetStreamSeq is the next JetStream stream sequence to read, or 0 when
	// unknown.
	JetStreamSeq uint64 `json:"jetstream_seq"`
}

// StartPosition is the position of an empty replica.
func StartPosition() Position { return Position{KafkaOffset: -1} }
