package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/outpost-authz/outpost/ingest"
)

// kafkaMaxMessageBytes is the max.message.bytes the topic is created with,
// so that large batch events fit (kfake, like Kafka, defaults to about 1 MB).
const kafkaMaxMessageBytes = 64 << 20

// kafkaTransport publishes to one partition (0) of the environment's topic
// with kafka-go's Client: one Produce request (one record batch, appended
// atomically, acks=all) per publish call. The Client is used rather than a
// kafka.Writer because Produce returns the base offset of the batch
// directly, which the snapshot endpoint needs, and because one request per
// call rules out the Writer's internal batching ever splitting a call into
// batches that could fail independently.
type kafkaTransport struct {
	env   string
	cfg   KafkaConfig
	tr    *kafka.Transport
	cl    *kafka.Client
	key   []byte
	ready bool
}

func newKafkaTransport(env string, cfg KafkaConfig) *kafkaTransport {
	return &kafkaTransport{env: env, cfg: cfg, key: []byte(env)}
}

func (k *kafkaTransport) name() string { return "kafka" }

func (k *kafkaTransport) connect(ctx context.Context) (uint64, []byte, int64, error) {
	k.close()
	k.tr = &kafka.Transport{DialTimeout: 3 * time.Second, MetadataTTL: 5 * time.Second, IdleTimeout: 30 * time.Second,
		TLS: k.cfg.TLS, SASL: k.cfg.SASL}
	k.cl = &kafka.Client{Addr: kafka.TCP(k.cfg.Brokers...), Timeout: 10 * time.Second, Transport: k.tr}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := k.cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: k.cfg.Topic, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(kafkaMaxMessageBytes)}},
	}}})
	if err != nil {
		return 0, nil, 0, fmt.Errorf("create topic %s: %w", k.cfg.Topic, err)
	}
	if err := res.Errors[k.cfg.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return 0, nil, 0, fmt.Errorf("create topic %s: %w", k.cfg.Topic, err)
	}
	offs, err := k.cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		k.cfg.Topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0)},
	}})
	if err != nil {
		return 0, nil, 0, fmt.Errorf("list offsets of %s: %w", k.cfg.Topic, err)
	}
	parts := offs.Topics[k.cfg.Topic]
	if len(parts) != 1 {
		return 0, nil, 0, fmt.Errorf("list offsets of %s: got %d partitions", k.cfg.Topic, len(parts))
	}
	if parts[0].Error != nil {
		return 0, nil, 0, fmt.Errorf("list offsets of %s: %w", k.cfg.Topic, parts[0].Error)
	}
	first, end := parts[0].FirstOffset, parts[0].LastOffset
	if end <= first {
		k.ready = true
		return 0, nil, end, nil
	}
	last, data, err := k.lastSeq(ctx, end-1)
	if err != nil {
		return 0, nil, 0, err
	}
	k.ready = true
	return last, data, end, nil
}

// lastSeq reads the record at offset off and returns its event's seq and
// bytes.
func (k *kafkaTransport) lastSeq(ctx context.Context, off int64) (uint64, []byte, error) {
	res, err := k.cl.Fetch(ctx, &kafka.FetchRequest{Topic: k.cfg.Topic, Partition: 0, Offset: off,
		MinBytes: 1, MaxBytes: kafkaMaxMessageBytes + 1<<20, MaxWait: time.Second})
	if err != nil {
		return 0, nil, fmt.Errorf("fetch last record of %s: %w", k.cfg.Topic, err)
	}
	if res.Error != nil {
		return 0, nil, fmt.Errorf("fetch last record of %s: %w", k.cfg.Topic, res.Error)
	}
	for {
		rec, err := res.Records.ReadRecord()
		if err != nil {
			return 0, nil, fmt.Errorf("fetch last record of %s at offset %d: %w", k.cfg.Topic, off, err)
		}
		if rec.Offset != off {
			continue
		}
		if rec.Value == nil {
			return 0, nil, fmt.Errorf("last record of %s at offset %d has no value", k.cfg.Topic, off)
		}
		data, err := io.ReadAll(rec.Value)
		rec.Value.Close()
		if err != nil {
			return 0, nil, fmt.Errorf("fetch last record of %s: %w", k.cfg.Topic, err)
		}
		seq, err := eventSeq(data)
		if err != nil {
			return 0, nil, fmt.Errorf("last record of %s at offset %d: %w", k.cfg.Topic, off, err)
		}
		return seq, data, nil
	}
}

func (k *kafkaTransport) publish(ctx context.Context, events [][]byte, meta publishMeta) ([]int64, error) {
	if !k.ready {
		return nil, errors.New("kafka: not connected")
	}
	recs := make([]kafka.Record, len(events))
	for i, e := range events {
		recs[i] = kafka.Record{Key: kafka.NewBytes(k.key), Value: kafka.NewBytes(e),
			Headers: []kafka.Header{{Key: ingest.HeaderLogID, Value: []byte(meta.logID)}}}
		if i == 0 && meta.republished {
			recs[i].Headers = append(recs[i].Headers, kafka.Header{Key: ingest.HeaderRepublished, Value: []byte("true")})
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := k.cl.Produce(ctx, &kafka.ProduceRequest{Topic: k.cfg.Topic, Partition: 0,
		RequiredAcks: kafka.RequireAll, Records: kafka.NewRecordReader(recs...)})
	if err != nil {
		return nil, fmt.Errorf("produce to %s: %w", k.cfg.Topic, err)
	}
	if res.Error != nil {
		return nil, fmt.Errorf("produce to %s: %w", k.cfg.Topic, res.Error)
	}
	for i, e := range res.RecordErrors {
		return nil, fmt.Errorf("produce to %s: record %d: %w", k.cfg.Topic, i, e)
	}
	nexts := make([]int64, len(events))
	for i := range nexts {
		nexts[i] = res.BaseOffset + int64(i) + 1
	}
	return nexts, nil
}

func (k *kafkaTransport) close() {
	if k.tr != nil {
		k.tr.CloseIdleConnections()
	}
	k.tr, k.cl, k.ready = nil, nil, false
}
