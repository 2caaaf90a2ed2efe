// Package brokers runs the message brokers that tests, the demo and the
// benchmarks feed Outpost from, inside the calling process and on
// 127.0.0.1 by default:
//
//   - NATS: the real nats-server, embedded, with JetStream on file storage
//     in a store directory ([StartNATS]).
//   - Kafka: kfake, franz-go's in-process Kafka-protocol broker, as a
//     one-broker cluster persisting to a data directory ([StartKafka]).
//
// This package owns the brokers' lifecycle and a few admin helpers
// (creating streams and topics, reading a high watermark). It does not
// publish or consume: the control plane (testenv/controlplane) publishes
// and ingest/kafka and ingest/nats consume, with their ordinary clients,
// exactly as they would against a real deployment.
//
// # Lifecycle and outages
//
// Both brokers have the same shape. Start picks the address (port 0 means
// an ephemeral port, chosen once); Stop shuts the broker down and returns
// when it is down, closing every client connection; Restart starts it
// again on the same address and directory, so streams, topics, records
// and offsets are as they were; Close stops it for good and removes the
// directory if the package created it (an empty StoreDir or DataDir means
// a temporary directory). Restart of a running broker bounces it. Tests
// simulate "broker down for N seconds" with Stop, a sleep, and Restart;
// clients see refused connections in between, exactly as with a real
// broker that went away.
//
// For Kafka we restart kfake rather than pause traffic through a TCP proxy
// of our own. kfake persists its state to a DataDir (segment files, topic
// metadata; flushed by Close) and reloads it in NewCluster, and can be told
// which port to bind, so a stopped-and-restarted cluster is a faithful
// outage: connections are reset, and the same topic IDs, records and high
// watermarks come back. A proxy would also have had to rewrite metadata
// responses, since Kafka clients dial the address the broker advertises in
// metadata (kfake advertises its own listener), not the bootstrap address.
// The one risk of restarting on an ephemeral port is that another process
// takes the port in between; Restart then fails with the bind error.
// Writes are not fsynced per batch; only a graceful Stop is simulated, not
// a power cut.
//
// # kafka-go against kfake
//
// kfake serves Kafka 4.x version ranges (Produce v3-13, Fetch v4-18,
// ListOffsets v0-10, Metadata v0-13, CreateTopics v0-7, ApiVersions v0-5),
// and kafka-go v0.4.51 negotiates within them: its Conn uses Produce v7,
// Fetch v10, Metadata v6 and ListOffsets v1; its Writer and Client go up
// to Produce v8 and Fetch v11. The tests verify, against kfake: Writer
// (keyed records, RequiredAcks all, the Hash balancer, no compression,
// gzip, snappy, lz4 and zstd); Reader on one partition without a GroupID,
// with SetOffset (absolute and LastOffset), Offset and ReadLag;
// DialLeader; Conn.ReadOffsets, ReadFirstOffset, ReadLastOffset, Seek,
// ReadBatch and Batch.HighWaterMark; Conn.WriteMessages, CreateTopics and
// ReadPartitions; Client.Metadata, ListOffsets and Fetch. No call tried
// failed and no work-around was needed. Untested because Outpost does not
// use them: consumer groups, transactions, SASL and TLS. Client behaviour
// to know about (kafka-go's, not kfake's):
//
//   - A Reader returns connection errors from ReadMessage once
//     ReaderConfig.MaxAttempts (default 3) dials have failed, but keeps
//     fetching in the background from the offset it had reached, so
//     calling ReadMessage again after the broker is back neither loses nor
//     repeats records.
//   - SetOffset(kafka.LastOffset) is resolved when the reader first
//     connects, in the background; records produced between NewReader and
//     that moment are skipped. Read the end offset with
//     Conn.ReadLastOffset and seek to it when that matters.
//   - Client.Fetch returns whole record batches, so records before the
//     requested offset can come back and must be skipped.
//   - The Writer is not idempotent: a produce whose acknowledgement is lost
//     when the broker goes down is retried and can be stored twice.
//     Consumers skip duplicates by event seq.
//   - A Writer without a Transport uses kafka.DefaultTransport, whose idle
//     connections (and goroutines) outlive the Writer; tests give each
//     Writer its own Transport and call CloseIdleConnections.
//
// # Secured brokers
//
// KafkaConfig.TLS and NATSConfig.TLS make the brokers accept TLS only (with
// ClientCAs set, client certificates are verified). KafkaConfig.Users
// switches SASL on (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; kfake closes the
// connection on a failed login rather than answering with an error code).
// NATSConfig.Users, NKeys, Token and Trust switch NATS authentication on;
// Trust runs the server in operator mode with an in-memory account
// resolver, an account with JetStream enabled, and issues .creds files
// (NewNATSTrust, Creds); NATSConfig.ClientOptions are the credentials the
// package's own helper connections use.
//
// # Concurrency
//
// A NATS or Kafka value is safe for concurrent use. One mutex per broker
// serializes Stop, Restart, Close and the admin helpers; Stop and Restart
// block until the broker is down or accepting clients. The admin helpers
// return ErrStopped while the broker is stopped (a kfake cluster that has
// been closed would block them forever) and ErrClosed after Close. The
// package starts no goroutines of its own; the servers' goroutines all end
// by the time Stop returns or shortly after, which the tests check.
// Logging is off unless a *slog.Logger is configured; kfake's per-request
// lines are logged at debug level.
package brokers
