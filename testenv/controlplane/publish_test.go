package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
	"github.com/outpost-authz/outpost/testenv/brokers"
)

// checkOrder checks a transport's sequence of event seqs: never reordered
// or skipped (each seq is at most one more than the highest so far), ending
// at head. It returns the number of duplicates.
func checkOrder(t *testing.T, seqs []uint64, head uint64) int {
	t.Helper()
	var high uint64
	dups := 0
	for i, s := range seqs {
		switch {
		case s == high+1:
			high = s
		case s <= high:
			dups++
		default:
			t.Fatalf("message %d carries seq %d after seq %d: skipped or reordered (all: %v)", i, s, high, seqs)
		}
	}
	if high != head {
		t.Fatalf("transport ends at seq %d, want %d (all: %v)", high, head, seqs)
	}
	return dups
}

func waitPublished(t *testing.T, cp *Running, transport string) {
	t.Helper()
	head := cp.Seq()
	waitFor(t, transport+" publishing seq "+fmt.Sprint(head), func() bool {
		got, _ := cp.Server().Published(transport)
		return got >= head
	})
}

func snapshotPosition(t *testing.T, cp *Running) replica.Position {
	t.Helper()
	res := do(t, cp, TestReadKey, "GET", "/v1/envs/test/snapshot", nil)
	wantStatus(t, res, 200, "")
	_, hdr, err := snapshotter.Read(bytes.NewReader(res.Body), replica.Config{Env: "test", Compiler: query.Compile})
	if err != nil {
		t.Fatal(err)
	}
	return hdr.Position
}

func TestPublishNATS(t *testing.T) {
	n, err := brokers.StartNATS(brokers.NATSConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cp := startWithPolicy(t, Config{NATS: &NATSConfig{URL: n.URL()}, PublishBackoffMax: 200 * time.Millisecond})
	writeSome(t, cp, 5)
	waitPublished(t, cp, "nats")

	// The broker goes away; writes go on; it comes back.
	n.Stop()
	writeSome(t, cp, 3)
	time.Sleep(300 * time.Millisecond)
	if got, _ := cp.Server().Published("nats"); got >= cp.Seq() {
		t.Fatalf("seq %d acknowledged while the broker was down", got)
	}
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	writeSome(t, cp, 2)
	waitPublished(t, cp, "nats")

	// The control plane restarts and resumes after the stream's last seq.
	cp.Restart()
	writeSome(t, cp, 2)
	waitPublished(t, cp, "nats")

	seqs, ids, last := readStream(t, n.URL(), DefaultStream("test"))
	if dups := checkOrder(t, seqs, cp.Seq()); dups != 0 {
		t.Fatalf("%d duplicates in the stream (Nats-Msg-Id dedupe should drop them): %v", dups, seqs)
	}
	for i, id := range ids {
		// "<env>:<seq>:<hash>": the hash keeps another log's event at the
		// same seq (a restored control plane) from being deduplicated.
		if want := fmt.Sprintf("test:%d:", seqs[i]); !strings.HasPrefix(id, want) || len(id) != len(want)+16 {
			t.Fatalf("message %d: Nats-Msg-Id %q, want %q and 16 hex digits", i, id, want)
		}
	}
	if pos := snapshotPosition(t, cp); pos.Seq != cp.Seq() || pos.JetStreamSeq != last+1 || pos.KafkaOffset != -1 {
		t.Fatalf("snapshot position %+v, want seq %d, jetstream %d", pos, cp.Seq(), last+1)
	}
}

func publishErrors(cp *Running, transport string) float64 {
	m := &dto.Metric{}
	cp.Server().m.pubErrors.WithLabelValues(transport).Write(m)
	return m.GetCounter().GetValue()
}

// readStream returns every message's event seq and Nats-Msg-Id, and the
// stream's last sequence.
func readStream(t *testing.T, url, stream string) (seqs []uint64, ids []string, last uint64) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Subjects[0] != Subject("test") {
		t.Fatalf("stream subjects %v", info.Config.Subjects)
	}
	for i := info.State.FirstSeq; i <= info.State.LastSeq; i++ {
		m, err := st.GetMsg(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		s, err := eventSeq(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	return seqs, ids, info.State.LastSeq
}

func TestPublishKafka(t *testing.T) {
	k, err := brokers.StartKafka(brokers.KafkaConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	cp := startWithPolicy(t, Config{Kafka: &KafkaConfig{Brokers: []string{k.Addr()}}, PublishBackoffMax: 200 * time.Millisecond})
	writeSome(t, cp, 5)
	waitPublished(t, cp, "kafka")

	k.Stop()
	writeSome(t, cp, 3)
	time.Sleep(300 * time.Millisecond)
	if got, _ := cp.Server().Published("kafka"); got >= cp.Seq() {
		t.Fatalf("seq %d acknowledged while the broker was down", got)
	}
	if err := k.Restart(); err != nil {
		t.Fatal(err)
	}
	writeSome(t, cp, 2)
	waitPublished(t, cp, "kafka")
	if errs := publishErrors(cp, "kafka"); errs == 0 {
		t.Fatal("no publish errors counted while the broker was down")
	}

	cp.Restart()
	writeSome(t, cp, 2)
	waitPublished(t, cp, "kafka")

	topic := DefaultTopic("test")
	hwm, err := k.HighWatermark(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	seqs := readTopic(t, k.Addr(), topic, hwm)
	if dups := checkOrder(t, seqs, cp.Seq()); dups != 0 {
		t.Logf("%d duplicates in the topic (acceptable, nodes skip them)", dups)
	}
	if pos := snapshotPosition(t, cp); pos.Seq != cp.Seq() || pos.KafkaOffset != hwm || pos.JetStreamSeq != 0 {
		t.Fatalf("snapshot position %+v, want seq %d, kafka offset %d", pos, cp.Seq(), hwm)
	}
}

// readTopic returns the event seqs of partition 0's records before hwm,
// checking each record's key.
func readTopic(t *testing.T, addr, topic string, hwm int64) []uint64 {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(addr), Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var seqs []uint64
	for off := int64(0); off < hwm; {
		res, err := cl.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: 0, Offset: off, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.Error != nil {
			t.Fatal(res.Error)
		}
		for {
			rec, err := res.Records.ReadRecord()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.Offset < off {
				continue
			}
			key, _ := io.ReadAll(rec.Key)
			val, _ := io.ReadAll(rec.Value)
			if string(key) != "test" {
				t.Fatalf("record %d key %q", rec.Offset, key)
			}
			s, err := eventSeq(val)
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, s)
			off = rec.Offset + 1
		}
	}
	return seqs
}
