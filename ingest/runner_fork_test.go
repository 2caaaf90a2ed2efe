package ingest_test

import (
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/outpost-authz/outpost/ingest"
	"github.com/outpost-authz/outpost/ingest/ingesttest"
	"github.com/outpost-authz/outpost/replica"
)

// TestRunnerRepublishedMarker: a Kafka topic holds a lost log's events 1-5,
// then the restored control plane's republished event 3 (marked
// Outpost-Republished) and its events 4-6. A node with no feed whose state
// is the lost log's seq 5 and whose transport position is unknown (it scans
// for the first event past 5) must stop at the marker, though its seq is
// below 5, and apply nothing of the new log (#17 item 3). Before, the scan
// skipped the marker and applied the new log's event 6 on top of the lost
// branch.
func TestRunnerRepublishedMarker(t *testing.T) {
	ingesttest.CheckGoroutines(t)
	k := startKafka(t)
	const env, topic = "prod", "prod.events"
	tw := publishTopic(t, k, topic, env)
	lost := ingesttest.Events(env, 1, 5)
	tw.publish(t, lost...)
	msgs := []kafkago.Message{{Key: []byte(env), Value: ingesttest.EventAt(env, 3, ingesttest.BaseTime.Add(-1)),
		Headers: []kafkago.Header{{Key: ingest.HeaderLogID, Value: []byte("new")}, {Key: ingest.HeaderRepublished, Value: []byte("true")}}}}
	for seq := uint64(4); seq <= 6; seq++ {
		msgs = append(msgs, kafkago.Message{Key: []byte(env), Value: ingesttest.EventAt(env, seq, ingesttest.BaseTime.Add(-1)),
			Headers: []kafkago.Header{{Key: ingest.HeaderLogID, Value: []byte("new")}}})
	}
	if err := tw.w.WriteMessages(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
	st, err := ingesttest.Apply(env, lost...)
	if err != nil {
		t.Fatal(err)
	}
	nd := startNode(t, nodeConfig{env: env, source: kafkaSource(t, k.Addr(), topic), state: st,
		from: replica.Position{Seq: 5, KafkaOffset: -1}})
	waitFor(t, "the fork to be reported", 30*time.Second, func() bool {
		s := nd.runner.Status()
		return s["state"] == ingest.StateFailing && strings.Contains(s["last_error"].(string), "forked")
	})
	if got := nd.metric(t, "outpost_ingest_errors_total", "source", "kafka", "kind", ingest.KindFork); got < 1 {
		t.Errorf("fork errors = %v, want at least 1", got)
	}
	if rev := nd.revision(); rev != 5 {
		t.Errorf("revision %d after the fork, want 5: the new log's events were applied on the lost branch", rev)
	}
}
