package brokers

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// NATSUser is a user/password pair the embedded server accepts.
type NATSUser struct {
	User     string
	Password string
}

// NATSTrust is a decentralized-auth (JWT) set-up for the embedded server:
// an operator, a system account and one application account with
// JetStream enabled. Users it issues authenticate with .creds files, as
// with NGS/Synadia Cloud or an nsc-managed cluster.
type NATSTrust struct {
	operator nkeys.KeyPair
	opClaims *jwt.OperatorClaims
	sysPub   string
	account  nkeys.KeyPair
	jwts     map[string]string // account public key -> account JWT
}

// NewNATSTrust makes an operator and its accounts.
func NewNATSTrust() (*NATSTrust, error) {
	op, err := nkeys.CreateOperator()
	if err != nil {
		return nil, fmt.Errorf("nats trust: %w", err)
	}
	opPub, _ := op.PublicKey()
	t := &NATSTrust{operator: op, opClaims: jwt.NewOperatorClaims(opPub), jwts: map[string]string{}}
	sys, err := t.newAccount("SYS", false)
	if err != nil {
		return nil, err
	}
	t.sysPub, _ = sys.PublicKey()
	t.opClaims.SystemAccount = t.sysPub
	if _, err := t.opClaims.Encode(op); err != nil { // fills in the claims' issuer and id
		return nil, fmt.Errorf("nats trust: operator: %w", err)
	}
	if t.account, err = t.newAccount("APP", true); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *NATSTrust) newAccount(name string, jetstream bool) (nkeys.KeyPair, error) {
	kp, err := nkeys.CreateAccount()
	if err != nil {
		return nil, fmt.Errorf("nats trust: account %s: %w", name, err)
	}
	pub, _ := kp.PublicKey()
	ac := jwt.NewAccountClaims(pub)
	ac.Name = name
	if jetstream {
		ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	}
	tok, err := ac.Encode(t.operator)
	if err != nil {
		return nil, fmt.Errorf("nats trust: account %s: %w", name, err)
	}
	t.jwts[pub] = tok
	return kp, nil
}

// Creds issues a user of the application account and returns its .creds
// file contents (user JWT and NKey seed).
func (t *NATSTrust) Creds(name string) ([]byte, error) {
	return t.creds(name, t.account)
}

// ForeignCreds issues a user signed by an account the server does not
// trust: the server must refuse it.
func (t *NATSTrust) ForeignCreds(name string) ([]byte, error) {
	kp, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	return t.creds(name, kp)
}

func (t *NATSTrust) creds(name string, account nkeys.KeyPair) ([]byte, error) {
	u, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("nats trust: user %s: %w", name, err)
	}
	pub, _ := u.PublicKey()
	seed, _ := u.Seed()
	uc := jwt.NewUserClaims(pub)
	uc.Name = name
	tok, err := uc.Encode(account)
	if err != nil {
		return nil, fmt.Errorf("nats trust: user %s: %w", name, err)
	}
	return jwt.FormatUserConfig(tok, seed)
}

func (t *NATSTrust) configure(o *server.Options) error {
	res := &server.MemAccResolver{}
	for pub, tok := range t.jwts {
		if err := res.Store(pub, tok); err != nil {
			return fmt.Errorf("nats trust: %w", err)
		}
	}
	o.TrustedOperators = []*jwt.OperatorClaims{t.opClaims}
	o.AccountResolver = res
	o.SystemAccount = t.sysPub
	return nil
}

// NewNKeyUser makes a user NKey and returns its public key (for
// NATSConfig.NKeys) and its seed (the contents of a seed file).
func NewNKeyUser() (public string, seed []byte, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", nil, fmt.Errorf("nkey user: %w", err)
	}
	public, _ = kp.PublicKey()
	seed, err = kp.Seed()
	return public, seed, err
}

// validateAuth checks that the authentication methods can be combined as
// nats-server allows.
func (c NATSConfig) validateAuth() error {
	plain := len(c.Users) > 0 || len(c.NKeys) > 0
	switch {
	case c.Trust != nil && (plain || c.Token != ""):
		return errors.New("nats: Trust (JWT) cannot be combined with Users, NKeys or Token")
	case c.Token != "" && plain:
		return errors.New("nats: Token cannot be combined with Users or NKeys")
	}
	for _, u := range c.Users {
		if u.User == "" || u.Password == "" {
			return errors.New("nats: a user needs a name and a password")
		}
	}
	for _, k := range c.NKeys {
		if !nkeys.IsValidPublicUserKey(k) {
			return fmt.Errorf("nats: %q is not a user NKey public key", k)
		}
	}
	return nil
}

// configureAuth sets the server's TLS and authentication options.
func (c NATSConfig) configureAuth(o *server.Options) error {
	if c.TLS != nil {
		o.TLSConfig = c.TLS.Clone()
		o.TLS = true
		o.TLSVerify = c.TLS.ClientCAs != nil && (c.TLS.ClientAuth == tls.VerifyClientCertIfGiven || c.TLS.ClientAuth == tls.RequireAndVerifyClientCert)
		o.TLSTimeout = 5
	}
	for _, u := range c.Users {
		o.Users = append(o.Users, &server.User{Username: u.User, Password: u.Password})
	}
	for _, k := range c.NKeys {
		o.Nkeys = append(o.Nkeys, &server.NkeyUser{Nkey: k})
	}
	o.Authorization = c.Token
	if c.Trust != nil {
		return c.Trust.configure(o)
	}
	return nil
}
