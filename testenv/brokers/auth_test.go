package brokers

import (
	"strings"
	"testing"
)

func TestAuthConfigValidate(t *testing.T) {
	pub, _, err := NewNKeyUser()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := NewNATSTrust()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want string // "" for valid
	}{
		{"nats users and nkeys", NATSConfig{Users: []NATSUser{{"u", "p"}}, NKeys: []string{pub}}.Validate(), ""},
		{"nats trust alone", NATSConfig{Trust: trust}.Validate(), ""},
		{"nats token and users", NATSConfig{Token: "t", Users: []NATSUser{{"u", "p"}}}.Validate(), "Token cannot be combined"},
		{"nats trust and token", NATSConfig{Token: "t", Trust: trust}.Validate(), "Trust (JWT) cannot be combined"},
		{"nats user without password", NATSConfig{Users: []NATSUser{{User: "u"}}}.Validate(), "needs a name and a password"},
		{"nats seed instead of public key", NATSConfig{NKeys: []string{"SUAM"}}.Validate(), "not a user NKey public key"},
		{"kafka users", KafkaConfig{Users: []KafkaUser{{"PLAIN", "u", "p"}, {"SCRAM-SHA-512", "v", "q"}}}.Validate(), ""},
		{"kafka mechanism", KafkaConfig{Users: []KafkaUser{{"GSSAPI", "u", "p"}}}.Validate(), "use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
		{"kafka no password", KafkaConfig{Users: []KafkaUser{{"PLAIN", "u", ""}}}.Validate(), "needs a name and a password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				if tc.err != nil {
					t.Fatalf("want valid, got %v", tc.err)
				}
				return
			}
			if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", tc.err, tc.want)
			}
		})
	}
}
