package nats

import (
	"github.com/nats-io/nats.go"

	"github.com/outpost-authz/outpost/ingest"
)

// msgOrigin reads the control plane's log id and republish marker from a
// message's headers (ingest.HeaderLogID, ingest.HeaderRepublished), for
// fork detection; nil when the message has neither.
func msgOrigin(h nats.Header) *ingest.Origin {
	id, rep := h.Get(ingest.HeaderLogID), h.Get(ingest.HeaderRepublished)
	if id == "" && rep == "" {
		return nil
	}
	return &ingest.Origin{LogID: id, Republished: rep == "true"}
}
