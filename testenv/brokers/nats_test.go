package brokers

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	testStream  = "outpost-prod"
	testSubject = "outpost.prod.events"
)

func startTestNATS(t testing.TB) *NATS {
	t.Helper()
	n, err := StartNATS(NATSConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("StartNATS: %v", err)
	}
	t.Cleanup(n.Close)
	if err := n.EnsureStream(testStream, []string{testSubject}); err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	return n
}

// natsClient connects a JetStream client that reconnects quickly and
// forever, as an ingest source would.
func natsClient(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(0, 0),
	)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

// publishSeq publishes event seq with Nats-Msg-Id "prod:<seq>".
func publishSeq(ctx context.Context, js jetstream.JetStream, seq int) (*jetstream.PubAck, error) {
	return js.Publish(ctx, testSubject, []byte(strconv.Itoa(seq)), jetstream.WithMsgID("prod:"+strconv.Itoa(seq)))
}

func mustPublish(t testing.TB, js jetstream.JetStream, from, to int) {
	t.Helper()
	for seq := from; seq <= to; seq++ {
		if _, err := publishSeq(t.Context(), js, seq); err != nil {
			t.Fatalf("publish %d: %v", seq, err)
		}
	}
}

// nextSeq reads one message and checks that it is event want at stream
// sequence want.
func nextSeq(t testing.TB, it jetstream.MessagesContext, want int) {
	t.Helper()
	msg, err := it.Next()
	if err != nil {
		t.Fatalf("next (want %d): %v", want, err)
	}
	md, err := msg.Metadata()
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if got := string(msg.Data()); got != strconv.Itoa(want) || md.Sequence.Stream != uint64(want) {
		t.Fatalf("got event %s at stream seq %d, want %d", got, md.Sequence.Stream, want)
	}
}

func orderedFrom(t testing.TB, js jetstream.JetStream, start uint64) jetstream.MessagesContext {
	t.Helper()
	cons, err := js.OrderedConsumer(t.Context(), testStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
	})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	it, err := cons.Messages()
	if err != nil {
		t.Fatalf("messages: %v", err)
	}
	t.Cleanup(it.Stop)
	return it
}

func TestNATSDedupeAndOrderedConsumer(t *testing.T) {
	checkGoroutines(t)
	n := startTestNATS(t)
	if err := n.EnsureStream(testStream, []string{testSubject}); err != nil {
		t.Fatalf("EnsureStream again: %v", err)
	}
	js := natsClient(t, n.URL())

	mustPublish(t, js, 1, 50)
	for seq := 10; seq <= 20; seq++ {
		ack, err := publishSeq(t.Context(), js, seq)
		if err != nil {
			t.Fatalf("republish %d: %v", seq, err)
		}
		if !ack.Duplicate || ack.Sequence != uint64(seq) {
			t.Fatalf("republish %d: ack %+v, want duplicate of stream seq %d", seq, ack, seq)
		}
	}
	stream, err := js.Stream(t.Context(), testStream)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.State.Msgs != 50 || info.State.LastSeq != 50 {
		t.Fatalf("stream holds %d messages up to %d, want 50 up to 50", info.State.Msgs, info.State.LastSeq)
	}

	it := orderedFrom(t, js, 21)
	for seq := 21; seq <= 50; seq++ {
		nextSeq(t, it, seq)
	}
}

func TestNATSStopRestartKeepsMessages(t *testing.T) {
	checkGoroutines(t)
	n := startTestNATS(t)
	url := n.URL()
	js := natsClient(t, url)
	mustPublish(t, js, 1, 20)

	it := orderedFrom(t, js, 1)
	for seq := 1; seq <= 10; seq++ {
		nextSeq(t, it, seq)
	}

	n.Stop()
	n.Stop() // idempotent
	if n.Running() {
		t.Fatal("Running after Stop")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	_, err := publishSeq(ctx, js, 21)
	cancel()
	if err == nil {
		t.Fatal("publish while stopped succeeded")
	}
	if err := n.EnsureStream(testStream, []string{testSubject}); !errors.Is(err, ErrStopped) {
		t.Fatalf("EnsureStream while stopped: %v, want ErrStopped", err)
	}

	if err := n.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if got := n.URL(); got != url {
		t.Fatalf("URL after restart %s, want %s", got, url)
	}
	// The client reconnects on its own; publish until it has.
	publishEventually(t, js, 21)
	mustPublish(t, js, 22, 30)
	for seq := 11; seq <= 30; seq++ {
		nextSeq(t, it, seq)
	}

	// Restart of a running server bounces it.
	if err := n.Restart(); err != nil {
		t.Fatalf("Restart while running: %v", err)
	}
	publishEventually(t, js, 31)
	nextSeq(t, it, 31)

	n.Close()
	if err := n.Restart(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Restart after Close: %v, want ErrClosed", err)
	}
}

func publishEventually(t testing.TB, js jetstream.JetStream, seq int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		_, err := publishSeq(ctx, js, seq)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %d after restart: %v", seq, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNATSConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  NATSConfig
		ok   bool
	}{
		{"zero", NATSConfig{}, true},
		{"explicit", NATSConfig{Addr: "127.0.0.1:4222"}, true},
		{"empty host", NATSConfig{Addr: ":0"}, true},
		{"no port", NATSConfig{Addr: "127.0.0.1"}, false},
		{"bad port", NATSConfig{Addr: "127.0.0.1:99999"}, false},
		{"negative timeout", NATSConfig{StartTimeout: -time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestNATSDefaultStoreDirRemovedOnClose(t *testing.T) {
	checkGoroutines(t)
	n, err := StartNATS(NATSConfig{})
	if err != nil {
		t.Fatalf("StartNATS: %v", err)
	}
	t.Cleanup(n.Close)
	dir := n.StoreDir()
	if err := n.EnsureStream(testStream, []string{testSubject}); err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	n.Close()
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("store dir %s still exists after Close", dir)
	}
}
