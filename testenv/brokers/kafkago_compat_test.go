package brokers

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestKafkaGoCompat runs the kafka-go calls an ingest source or a test
// might use against kfake, beyond the Writer/Reader paths covered
// elsewhere. See doc.go for what is known to work and what is not.
func TestKafkaGoCompat(t *testing.T) {
	checkGoroutines(t)
	k := startTestKafka(t)
	addr := k.Addr()
	w := kafkaWriter(t, addr, 0)
	if err := w.WriteMessages(t.Context(), keyedMessages(1, 10)...); err != nil {
		t.Fatalf("write: %v", err)
	}
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &kafka.Client{Addr: kafka.TCP(addr), Transport: tr}

	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"Conn.WriteMessages and ReadLastOffset", func(t *testing.T) {
			conn, err := kafka.DialLeader(t.Context(), "tcp", addr, testTopic, 0)
			if err != nil {
				t.Fatalf("DialLeader: %v", err)
			}
			defer conn.Close()
			// Produce v7 is negotiated (kfake serves v3-v13).
			if _, err := conn.WriteMessages(kafka.Message{Key: []byte("prod"), Value: []byte("11")}); err != nil {
				t.Fatalf("Conn.WriteMessages: %v", err)
			}
			last, err := conn.ReadLastOffset()
			if err != nil || last != 11 {
				t.Fatalf("ReadLastOffset = %d, %v; want 11", last, err)
			}
			first, err := conn.ReadFirstOffset()
			if err != nil || first != 0 {
				t.Fatalf("ReadFirstOffset = %d, %v; want 0", first, err)
			}
		}},
		{"Conn.CreateTopics and ReadPartitions", func(t *testing.T) {
			conn, err := kafka.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer conn.Close()
			err = conn.CreateTopics(kafka.TopicConfig{Topic: "outpost.other.events", NumPartitions: 1, ReplicationFactor: 1})
			if err != nil {
				t.Fatalf("CreateTopics: %v", err)
			}
			parts, err := conn.ReadPartitions("outpost.other.events")
			if err != nil || len(parts) != 1 || parts[0].Leader.Port == 0 {
				t.Fatalf("ReadPartitions = %+v, %v; want one partition with a leader", parts, err)
			}
		}},
		{"Client.Metadata", func(t *testing.T) {
			md, err := client.Metadata(t.Context(), &kafka.MetadataRequest{Topics: []string{testTopic}})
			if err != nil {
				t.Fatalf("Metadata: %v", err)
			}
			if len(md.Brokers) != 1 || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 1 {
				t.Fatalf("Metadata = %+v, want 1 broker, 1 topic with 1 partition", md)
			}
			if got := md.Brokers[0].Host + ":" + strconv.Itoa(md.Brokers[0].Port); got != addr {
				t.Fatalf("advertised broker %s, want %s", got, addr)
			}
		}},
		{"Client.Fetch", func(t *testing.T) {
			res, err := client.Fetch(t.Context(), &kafka.FetchRequest{
				Topic: testTopic, Partition: 0, Offset: 5, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
			})
			if err != nil || res.Error != nil {
				t.Fatalf("Fetch: %v, %v", err, res.Error)
			}
			if res.HighWatermark < 10 {
				t.Fatalf("Fetch high watermark %d, want >= 10", res.HighWatermark)
			}
			rec, err := res.Records.ReadRecord()
			if err != nil {
				t.Fatalf("ReadRecord: %v", err)
			}
			// Fetch returns whole batches: skip records before the offset.
			for rec.Offset < 5 {
				if rec, err = res.Records.ReadRecord(); err != nil {
					t.Fatalf("ReadRecord: %v", err)
				}
			}
			if rec.Offset != 5 {
				t.Fatalf("first record at offset %d, want 5", rec.Offset)
			}
		}},
		{"Reader at LastOffset waits for new records", func(t *testing.T) {
			hw, err := k.HighWatermark(testTopic, 0)
			if err != nil {
				t.Fatal(err)
			}
			// The reader resolves LastOffset in the background, so keep
			// producing until it sees something: the first record it reads
			// is at or past the high watermark we saw before it started.
			r := partitionReader(t, addr, kafka.LastOffset)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			type result struct {
				m   kafka.Message
				err error
			}
			got := make(chan result, 1)
			go func() {
				m, err := r.ReadMessage(ctx)
				got <- result{m, err}
			}()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case res := <-got:
					m := res.m
					if res.err != nil {
						t.Fatalf("ReadMessage: %v", res.err)
					}
					if m.Offset < hw || string(m.Value) != "new@"+strconv.FormatInt(m.Offset, 10) {
						t.Fatalf("ReadMessage = %q at %d; want new@<offset> at >= %d", m.Value, m.Offset, hw)
					}
					return
				case <-tick.C:
					next, err := k.HighWatermark(testTopic, 0)
					if err != nil {
						t.Fatal(err)
					}
					val := "new@" + strconv.FormatInt(next, 10)
					if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("prod"), Value: []byte(val)}); err != nil {
						t.Fatalf("write: %v", err)
					}
				}
			}
		}},
	} {
		t.Run(tc.name, tc.run)
	}
}
