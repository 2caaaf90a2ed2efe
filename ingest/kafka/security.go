package kafka

import (
	"errors"
	"fmt"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
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
