// Package kafka reads an environment's events from its Kafka topic
// (DESIGN.md §3: one partition, key env, value event JSON) with
// segmentio/kafka-go's Client, fetching the partition directly: no consumer
// group, since every node needs every event, and no background reader, so
// the Source's Run goroutine owns every request.
//
// Resumption: Run(from) fetches from from.KafkaOffset, the offset of the
// next record to read. When that is -1 (unknown), it starts at the
// partition's first retained offset and skips records whose event seq is
// at or below from.Seq. A fetch answered OFFSET_OUT_OF_RANGE (the records
// are no longer retained, or the topic was recreated) ends Run with an
// error wrapping ingest.ErrResync. An unknown topic at the first contact
// ends it with ingest.ErrTerminal; later (a broker restarting) it is
// retried like any other failure.
//
// Kafka-go behaviours handled here: Client.Fetch returns whole record
// batches, so records before the requested offset are skipped; the topic
// may hold duplicate records (the producer is not idempotent), which are
// delivered as they are and skipped by the replica by seq; a record with
// no value is delivered as an empty payload (poison), never as a
// heartbeat.
//
// Behind is the partition's high-water mark minus the offset after the
// record. An idle fetch (it waits up to Config.MaxWait) that finds the
// offset at the high-water mark becomes a heartbeat, at most about once a
// second.
//
// Security: Config.TLS encrypts (and with a client certificate,
// authenticates) every broker connection; Config.SASL authenticates it with
// kafka-go's own mechanisms, built by SASL (PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512). Before the first fetch and after any failure, Run checks
// the connection with a metadata request, because kafka-go's Fetch reports
// a refused login as "topic not found". Errors never hold the password.
//
// Concurrency: a Source runs one Run at a time; Health may be read
// concurrently.
package kafka
