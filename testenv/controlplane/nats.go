package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/outpost-authz/outpost/ingest"
)

// natsTransport publishes to the environment's JetStream stream, one
// synchronous publish per event with Nats-Msg-Id "<env>:<seq>:<hash>" so
// that the stream drops a re-sent event within its duplicate window (hash:
// the first 8 bytes of the event's SHA-256, in hex, so that another log's
// event at the same seq, after a restore from a backup, is not dropped as a
// duplicate of the lost one).
type natsTransport struct {
	env     string
	cfg     NATSConfig
	subject string
	nc      *nats.Conn
	js      jetstream.JetStream
}

func newNATSTransport(env string, cfg NATSConfig) *natsTransport {
	return &natsTransport{env: env, cfg: cfg, subject: Subject(env)}
}

func (n *natsTransport) name() string { return "nats" }

func (n *natsTransport) connect(ctx context.Context) (uint64, []byte, int64, error) {
	n.close()
	opts := append([]nats.Option{nats.Name("outpost-controlplane"), nats.Timeout(3 * time.Second),
		nats.MaxReconnects(-1), nats.ReconnectWait(200 * time.Millisecond)}, n.cfg.Options...)
	nc, err := nats.Connect(n.cfg.URL, opts...)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("connect to nats %s: %w", redactURL(n.cfg.URL), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return 0, nil, 0, fmt.Errorf("jetstream: %w", err)
	}
	n.nc, n.js = nc, js
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: n.cfg.Stream, Subjects: []string{n.subject}, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return 0, nil, 0, fmt.Errorf("ensure stream %s: %w", n.cfg.Stream, err)
	}
	msg, err := st.GetLastMsgForSubject(ctx, n.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		info, err := st.Info(ctx)
		if err != nil {
			return 0, nil, 0, fmt.Errorf("stream %s info: %w", n.cfg.Stream, err)
		}
		return 0, nil, int64(info.State.LastSeq + 1), nil
	}
	if err != nil {
		return 0, nil, 0, fmt.Errorf("last message of stream %s: %w", n.cfg.Stream, err)
	}
	seq, err := eventSeq(msg.Data)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("last message of stream %s (stream seq %d): %w", n.cfg.Stream, msg.Sequence, err)
	}
	return seq, msg.Data, int64(msg.Sequence + 1), nil
}

func (n *natsTransport) publish(ctx context.Context, events [][]byte, meta publishMeta) ([]int64, error) {
	if n.js == nil {
		return nil, errors.New("nats: not connected")
	}
	nexts := make([]int64, 0, len(events))
	for i, e := range events {
		seq, err := eventSeq(e)
		if err != nil {
			return nexts, err
		}
		m := nats.NewMsg(n.subject)
		m.Data = e
		m.Header.Set(jetstream.MsgIDHeader, msgID(n.env, seq, e))
		m.Header.Set(ingest.HeaderLogID, meta.logID)
		if i == 0 && meta.republished {
			// The head event may be byte for byte the one the lost log
			// published at that seq (a backup shares its history): it must
			// not be dropped as a duplicate of it.
			m.Header.Set(ingest.HeaderRepublished, "true")
			m.Header.Set(jetstream.MsgIDHeader, msgID(n.env, seq, e)+":republished:"+strconv.FormatInt(time.Now().UnixNano(), 36))
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ack, err := n.js.PublishMsg(pctx, m)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("publish seq %d to stream %s: %w", seq, n.cfg.Stream, err)
		}
		nexts = append(nexts, int64(ack.Sequence+1))
	}
	return nexts, nil
}

func (n *natsTransport) close() {
	if n.nc != nil {
		n.nc.Close()
	}
	n.nc, n.js = nil, nil
}

// redactURL hides a password or token in a NATS URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return "(unparsable URL)"
		}
		return s
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	return u.String()
}

// msgID is the Nats-Msg-Id of an event.
func msgID(env string, seq uint64, data []byte) string {
	sum := sha256.Sum256(data)
	return env + ":" + strconv.FormatUint(seq, 10) + ":" + hex.EncodeToString(sum[:8])
}
