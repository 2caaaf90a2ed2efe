package poll

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/outpost-authz/outpost/ingest"
)

var _ ingest.OriginReader = (*Client)(nil)

// feedOrigin is what a feed answer may say about the log besides its head:
// the log id, and the state digest at digest_seq (the reference control
// plane sends them; an answer without them still works, with fewer fork
// checks, see docs/reliability.md).
type feedOrigin struct {
	LogID     string  `json:"log_id"`
	Digest    string  `json:"digest"`
	DigestSeq *uint64 `json:"digest_seq"`
}

func (f feedOrigin) origin(head uint64) ingest.Origin {
	o := ingest.Origin{LogID: f.LogID, Head: head, HasHead: true}
	if f.Digest != "" && f.DigestSeq != nil {
		o.Digest, o.DigestSeq = f.Digest, *f.DigestSeq
	}
	return o
}

// Origin asks the control plane's status endpoint (GET
// /v1/envs/{env}/status: {"seq","digest","log_id"}, one view) for its log
// id, head and the digest at that head. The Runner uses it to detect a
// fork when the Source is Kafka or NATS.
func (c *Client) Origin(ctx context.Context) (ingest.Origin, error) {
	const op = "control plane status"
	resp, err := c.get(ctx, strings.TrimSuffix(c.events, "/events")+"/status", op)
	if err != nil {
		return ingest.Origin{}, err
	}
	defer resp.Body.Close()
	var body struct {
		Seq    *uint64 `json:"seq"`
		Digest string  `json:"digest"`
		LogID  string  `json:"log_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return ingest.Origin{}, fmt.Errorf("%s: decode answer: %w", op, err)
	}
	if body.Seq == nil {
		return ingest.Origin{}, fmt.Errorf("%s: answer has no seq", op)
	}
	return ingest.Origin{LogID: body.LogID, Head: *body.Seq, HasHead: true, Digest: body.Digest, DigestSeq: *body.Seq}, nil
}
