package nats

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/outpost-authz/outpost/internal/tlsfiles"
)

// Auth describes how a client secures and authenticates its NATS
// connection, in the terms the NATS ecosystem uses. Files are read by
// Options (the .creds file again at every connect, so that a rotated one
// is picked up on reconnect).
type Auth struct {
	// TLS requires TLS even without a CA file (system roots). A CA file, a
	// client certificate or a tls:// URL require it too.
	TLS bool
	// CAFile is a PEM bundle of the CAs to trust. Default: system roots.
	CAFile string
	// CertFile and KeyFile are a client certificate and key (mTLS).
	CertFile, KeyFile string
	// User and Password authenticate with a user/password pair.
	User, Password string
	// Token authenticates with a token.
	Token string
	// NKeySeedFile holds a user NKey seed (SU...) to sign the server's
	// nonce with.
	NKeySeedFile string
	// CredsFile is a .creds file (user JWT and NKey seed), as nsc and
	// Synadia Cloud issue them.
	CredsFile string
}

// Validate reports configuration errors: the methods a connection can use
// only one of at a time.
func (a Auth) Validate() error {
	var errs []error
	n := 0
	for _, set := range []bool{a.User != "" || a.Password != "", a.Token != "", a.NKeySeedFile != "", a.CredsFile != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		errs = append(errs, errors.New("nats: use one of user/password, token, NKey seed file and .creds file"))
	}
	if (a.User == "") != (a.Password == "") {
		errs = append(errs, errors.New("nats: a user needs a password and a password a user"))
	}
	if err := (tlsfiles.Client{CAFile: a.CAFile, CertFile: a.CertFile, KeyFile: a.KeyFile}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("nats: %w", err))
	}
	return errors.Join(errs...)
}

// Options returns the nats.go options for a: TLS through nats.Secure, and
// UserInfo, Token, Nkey or UserCredentials. Errors name files, never
// secrets.
func (a Auth) Options() ([]nats.Option, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	var opts []nats.Option
	if a.TLS || a.CAFile != "" || a.CertFile != "" {
		cfg, err := tlsfiles.Client{CAFile: a.CAFile, CertFile: a.CertFile, KeyFile: a.KeyFile}.Config()
		if err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
		opts = append(opts, nats.Secure(cfg))
	}
	switch {
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	case a.Token != "":
		opts = append(opts, nats.Token(a.Token))
	case a.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(a.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats: NKey seed file %s: %w", a.NKeySeedFile, err)
		}
		opts = append(opts, o)
	case a.CredsFile != "":
		if _, err := os.Stat(a.CredsFile); err != nil {
			return nil, fmt.Errorf("nats: .creds file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	return opts, nil
}

// RedactURL returns the server URL(s) with any password in them replaced
// by "xxxxx" (and a bare user, which NATS reads as a token, likewise),
// for logs and errors.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			if strings.Contains(p, "@") {
				parts[i] = "(unparsable URL)"
			}
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
