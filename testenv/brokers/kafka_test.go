package brokers

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

const testTopic = "outpost.prod.events"

func startTestKafka(t testing.TB) *Kafka {
	t.Helper()
	k, err := StartKafka(KafkaConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("StartKafka: %v", err)
	}
	t.Cleanup(k.Close)
	if err := k.CreateTopic(testTopic, 1); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	return k
}

// kafkaWriter returns a writer with its own transport, both closed by
// cleanup, so no idle connections outlive the test.
func kafkaWriter(t testing.TB, addr string, codec compress.Compression) *kafka.Writer {
	t.Helper()
	tr := &kafka.Transport{}
	w := &kafka.Writer{
		Addr:         kafka.TCP(addr),
		Topic:        testTopic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    200,
		BatchTimeout: time.Millisecond,
		MaxAttempts:  3,
		// Short backoff so a test sees the outage quickly.
		WriteBackoffMin: 10 * time.Millisecond,
		WriteBackoffMax: 50 * time.Millisecond,
		Compression:     codec,
		Transport:       tr,
	}
	t.Cleanup(func() {
		_ = w.Close()
		tr.CloseIdleConnections()
	})
	return w
}

func keyedMessages(from, to int) []kafka.Message {
	msgs := make([]kafka.Message, 0, to-from+1)
	for seq := from; seq <= to; seq++ {
		msgs = append(msgs, kafka.Message{Key: []byte("prod"), Value: []byte(strconv.Itoa(seq))})
	}
	return msgs
}

// partitionReader reads partition 0 directly, without a consumer group,
// starting at offset.
func partitionReader(t testing.TB, addr string, offset int64) *kafka.Reader {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        []string{addr},
		Topic:          testTopic,
		Partition:      0,
		MinBytes:       1,
		MaxBytes:       1 << 20,
		MaxWait:        50 * time.Millisecond,
		ReadBackoffMin: 10 * time.Millisecond,
		ReadBackoffMax: 50 * time.Millisecond,
	})
	t.Cleanup(func() { _ = r.Close() })
	if err := r.SetOffset(offset); err != nil {
		t.Fatalf("SetOffset(%d): %v", offset, err)
	}
	return r
}

// readSeqs reads records [from, to] and checks that record seq is event
// seq at offset seq-1. Read errors are retried until a deadline: a
// kafka-go Reader reports connection errors to ReadMessage but keeps
// fetching in the background from the offset it had reached, so a retried
// read loses and repeats nothing. It returns the number of errors seen.
func readSeqs(t testing.TB, r *kafka.Reader, from, to int) (errs int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for seq := from; seq <= to; {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("read (want event %d): %v", seq, err)
			}
			errs++
			continue
		}
		if string(m.Value) != strconv.Itoa(seq) || m.Offset != int64(seq-1) || string(m.Key) != "prod" {
			t.Fatalf("got key %q event %s at offset %d, want prod/%d at %d", m.Key, m.Value, m.Offset, seq, seq-1)
		}
		seq++
	}
	return errs
}

func TestKafkaProduceAndReadPartition(t *testing.T) {
	checkGoroutines(t)
	k := startTestKafka(t)
	if err := k.CreateTopic(testTopic, 1); err != nil {
		t.Fatalf("CreateTopic again: %v", err)
	}
	if err := k.CreateTopic(testTopic, 3); err == nil {
		t.Fatal("CreateTopic with other partition count succeeded")
	}
	addr := k.Addr()

	w := kafkaWriter(t, addr, 0)
	if err := w.WriteMessages(t.Context(), keyedMessages(1, 1000)...); err != nil {
		t.Fatalf("write: %v", err)
	}
	hw, err := k.HighWatermark(testTopic, 0)
	if err != nil || hw != 1000 {
		t.Fatalf("HighWatermark = %d, %v; want 1000", hw, err)
	}

	t.Run("reader from offset", func(t *testing.T) {
		const n = 600
		r := partitionReader(t, addr, n)
		readSeqs(t, r, n+1, 1000)
		lag, err := r.ReadLag(t.Context())
		if err != nil || lag != 0 {
			t.Fatalf("ReadLag = %d, %v; want 0", lag, err)
		}
		if got := r.Offset(); got != 1000 {
			t.Fatalf("Offset = %d, want 1000", got)
		}
	})

	t.Run("conn offsets and batch", func(t *testing.T) {
		conn, err := kafka.DialLeader(t.Context(), "tcp", addr, testTopic, 0)
		if err != nil {
			t.Fatalf("DialLeader: %v", err)
		}
		defer conn.Close()
		first, last, err := conn.ReadOffsets()
		if err != nil || first != 0 || last != 1000 {
			t.Fatalf("ReadOffsets = %d, %d, %v; want 0, 1000", first, last, err)
		}
		if _, err := conn.Seek(990, kafka.SeekAbsolute); err != nil {
			t.Fatalf("Seek: %v", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := conn.ReadBatch(1, 1<<20)
		for seq := 991; seq <= 1000; seq++ {
			m, err := b.ReadMessage()
			if err != nil {
				t.Fatalf("batch read (want %d): %v", seq, err)
			}
			if string(m.Value) != strconv.Itoa(seq) || m.Offset != int64(seq-1) {
				t.Fatalf("batch got %s at %d, want %d at %d", m.Value, m.Offset, seq, seq-1)
			}
		}
		if hw := b.HighWaterMark(); hw != 1000 {
			t.Fatalf("batch high-water mark %d, want 1000", hw)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("batch close: %v", err)
		}
	})

	t.Run("client list offsets", func(t *testing.T) {
		tr := &kafka.Transport{}
		defer tr.CloseIdleConnections()
		c := &kafka.Client{Addr: kafka.TCP(addr), Transport: tr}
		res, err := c.ListOffsets(t.Context(), &kafka.ListOffsetsRequest{
			Topics: map[string][]kafka.OffsetRequest{testTopic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0)}},
		})
		if err != nil {
			t.Fatalf("ListOffsets: %v", err)
		}
		po := res.Topics[testTopic]
		if len(po) != 1 || po[0].Error != nil || po[0].FirstOffset != 0 || po[0].LastOffset != 1000 {
			t.Fatalf("ListOffsets = %+v, want first 0 last 1000", po)
		}
	})
}

func TestKafkaCompressionCodecs(t *testing.T) {
	checkGoroutines(t)
	for _, tc := range []struct {
		name  string
		codec compress.Compression
	}{
		{"none", 0},
		{"gzip", kafka.Gzip},
		{"snappy", kafka.Snappy},
		{"lz4", kafka.Lz4},
		{"zstd", kafka.Zstd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := startTestKafka(t)
			w := kafkaWriter(t, k.Addr(), tc.codec)
			if err := w.WriteMessages(t.Context(), keyedMessages(1, 100)...); err != nil {
				t.Fatalf("write: %v", err)
			}
			readSeqs(t, partitionReader(t, k.Addr(), 0), 1, 100)
		})
	}
}

func TestKafkaStopRestartKeepsRecords(t *testing.T) {
	checkGoroutines(t)
	k := startTestKafka(t)
	addr := k.Addr()
	w := kafkaWriter(t, addr, 0)
	if err := w.WriteMessages(t.Context(), keyedMessages(1, 100)...); err != nil {
		t.Fatalf("write: %v", err)
	}
	r := partitionReader(t, addr, 0)
	readSeqs(t, r, 1, 50)

	k.Stop()
	k.Stop() // idempotent
	if k.Running() {
		t.Fatal("Running after Stop")
	}
	if _, err := k.HighWatermark(testTopic, 0); !errors.Is(err, ErrStopped) {
		t.Fatalf("HighWatermark while stopped: %v, want ErrStopped", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	err := w.WriteMessages(ctx, keyedMessages(101, 101)...)
	cancel()
	if err == nil {
		t.Fatal("write while stopped succeeded")
	}
	ctx, cancel = context.WithTimeout(t.Context(), 500*time.Millisecond)
	_, err = kafka.DialLeader(ctx, "tcp", addr, testTopic, 0)
	cancel()
	if err == nil {
		t.Fatal("DialLeader while stopped succeeded")
	}
	// The reader has buffered records up to 100; past them it fails.
	readSeqs(t, r, 51, 100)
	ctx, cancel = context.WithTimeout(t.Context(), 2*time.Second)
	_, err = r.ReadMessage(ctx)
	cancel()
	if err == nil {
		t.Fatal("read past the end while stopped succeeded")
	}
	t.Logf("read while stopped: %v", err)

	if err := k.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if got := k.Addr(); got != addr {
		t.Fatalf("Addr after restart %s, want %s", got, addr)
	}
	if hw, err := k.HighWatermark(testTopic, 0); err != nil || hw != 100 {
		t.Fatalf("HighWatermark after restart = %d, %v; want 100", hw, err)
	}
	writeEventually(t, w, 101, 200)
	if errs := readSeqs(t, r, 101, 200); errs > 0 {
		t.Logf("reader reported %d errors while recovering", errs)
	}

	// Restart of a running broker bounces it.
	if err := k.Restart(); err != nil {
		t.Fatalf("Restart while running: %v", err)
	}
	writeEventually(t, w, 201, 201)
	readSeqs(t, r, 201, 201)
	if hw, err := k.HighWatermark(testTopic, 0); err != nil || hw != 201 {
		t.Fatalf("HighWatermark = %d, %v; want 201", hw, err)
	}

	k.Close()
	if err := k.Restart(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Restart after Close: %v, want ErrClosed", err)
	}
	if err := k.CreateTopic("other", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("CreateTopic after Close: %v, want ErrClosed", err)
	}
}

// writeEventually writes events [from, to] as one batch, retrying the
// whole batch until the writer has reconnected. A failed batch is not
// partially written: kafka-go sends one produce request per partition.
func writeEventually(t testing.TB, w *kafka.Writer, from, to int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		err := w.WriteMessages(ctx, keyedMessages(from, to)...)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("write %d..%d after restart: %v", from, to, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestKafkaConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  KafkaConfig
		ok   bool
	}{
		{"zero", KafkaConfig{}, true},
		{"explicit", KafkaConfig{Addr: "127.0.0.1:9092"}, true},
		{"empty host", KafkaConfig{Addr: ":0"}, true},
		{"unspecified v4", KafkaConfig{Addr: "0.0.0.0:9092"}, false},
		{"unspecified v6", KafkaConfig{Addr: "[::]:9092"}, false},
		{"no port", KafkaConfig{Addr: "localhost"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestKafkaDefaultDataDirRemovedOnClose(t *testing.T) {
	checkGoroutines(t)
	k, err := StartKafka(KafkaConfig{})
	if err != nil {
		t.Fatalf("StartKafka: %v", err)
	}
	t.Cleanup(k.Close)
	dir := k.DataDir()
	if err := k.CreateTopic(testTopic, 1); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	k.Close()
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("data dir %s still exists after Close", dir)
	}
}
