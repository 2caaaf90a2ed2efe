package kafka

import (
	"github.com/segmentio/kafka-go"

	"github.com/outpost-authz/outpost/ingest"
)

// recordOrigin reads the control plane's log id and republish marker from
// a record's headers (ingest.HeaderLogID, ingest.HeaderRepublished), for
// fork detection; nil when the record has neither.
func recordOrigin(headers []kafka.Header) *ingest.Origin {
	var o *ingest.Origin
	for _, h := range headers {
		switch h.Key {
		case ingest.HeaderLogID:
			if o == nil {
				o = &ingest.Origin{}
			}
			o.LogID = string(h.Value)
		case ingest.HeaderRepublished:
			if o == nil {
				o = &ingest.Origin{}
			}
			o.Republished = string(h.Value) == "true"
		}
	}
	return o
}
