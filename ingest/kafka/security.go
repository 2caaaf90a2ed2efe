package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/outpost-authz/outpost/ingest"
)

// SASL mechanism names, as Kafka spells them.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// SASL returns kafka-go's mechanism for name (PLAIN, SCRAM-SHA-256 or
// SCRAM-SHA-512, any case) with user and password. An empty name returns
// nil: no authentication. Errors never hold the password.
func SASL(name, user, password string) (sasl.Mechanism, error) {
	name = strings.ToUpper(strings.TrimSpace(name))
	if name == "" {
		if user != "" || password != "" {
			return nil, errors.New("kafka: a SASL user or password without a SASL mechanism")
		}
		return nil, nil
	}
	if user == "" || password == "" {
		return nil, fmt.Errorf("kafka: SASL %s needs a user and a password", name)
	}
	switch name {
	case MechanismPlain:
		return plain.Mechanism{Username: user, Password: password}, nil
	case MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		algo := scram.SHA256
		if name == MechanismSCRAMSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, user, password)
		if err != nil {
			// xdg-go/scram refuses names and passwords it cannot prepare
			// (SASLprep); its error does not quote them.
			return nil, fmt.Errorf("kafka: SASL %s: %w", name, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("kafka: SASL mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", name)
}

// checkedStep runs one fetch step, first checking the connection with a
// metadata request when the previous step failed (or none ran yet):
// kafka-go's Fetch reports a connection it could not authenticate as
// "topic not found", which would send operators looking in the wrong
// place; the metadata request reports the connection's own error.
func (r *reader) checkedStep(ctx context.Context, h ingest.Handler) error {
	if !r.connected {
		mctx, cancel := context.WithTimeout(ctx, requestSlack)
		_, err := r.client.Metadata(mctx, &kafka.MetadataRequest{Topics: []string{r.cfg.Topic}})
		cancel()
		if err != nil {
			if r.cfg.SASL != nil && errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("the broker closed the connection; with SASL %s this usually means a wrong user, password or mechanism: %w",
					r.cfg.SASL.Name(), err)
			}
			return fmt.Errorf("connect to %s: %w", strings.Join(r.cfg.Brokers, ","), err)
		}
		r.connected = true
	}
	err := r.step(ctx, h)
	if err != nil {
		r.connected = false
	}
	return err
}
