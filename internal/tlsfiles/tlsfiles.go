package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// MinVersion is the oldest TLS version any Outpost edge accepts.
const MinVersion = tls.VersionTLS12

// CertPool reads a PEM bundle of CA certificates. An empty path returns
// nil: the system roots.
func CertPool(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// Client describes the TLS a client uses towards a server.
type Client struct {
	// CAFile is a PEM bundle of the CAs to trust. Default: the system roots.
	CAFile string
	// CertFile and KeyFile are a client certificate and its key, for
	// servers that verify clients (mTLS). Both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name the server's certificate is checked
	// against. Default: the host dialled.
	ServerName string
}

// Validate reports configuration errors.
func (c Client) Validate() error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("tls: a client certificate needs both a certificate file and a key file")
	}
	return nil
}

// Config loads the files and returns a client tls.Config (TLS 1.2 or
// later).
func (c Client) Config() (*tls.Config, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	pool, err := CertPool(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cfg := &tls.Config{MinVersion: MinVersion, RootCAs: pool, ServerName: c.ServerName}
	if c.CertFile != "" {
		cert, err := loadKeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// loadKeyPair wraps tls.LoadX509KeyPair with errors that name the files.
// (The standard library's errors never quote key material.)
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load %s and %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	return cert, nil
}

// Reloader serves a certificate and key from files, re-reading them when
// either file changes (its size, modification time or identity, which
// covers a rename over it). Each handshake stats the two files; a change
// that cannot be loaded (a rotation half written, a key that does not
// match) keeps the previous certificate, is logged once, and is retried
// at the next handshake after a second.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	certInfo  os.FileInfo
	keyInfo   os.FileInfo
	failedAt  time.Time
	failedFor [2]os.FileInfo // the file states the last failure was for
	reloads   int
}

// NewReloader loads the certificate and key once, failing if they cannot
// be used. A nil log discards log lines.
func NewReloader(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("tls: a server certificate needs both a certificate file and a key file")
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	ci, ki, err := r.stat()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	r.cert, r.certInfo, r.keyInfo = &cert, ci, ki
	return r, nil
}

func (r *Reloader) stat() (os.FileInfo, os.FileInfo, error) {
	ci, err := os.Stat(r.certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate file: %w", err)
	}
	ki, err := os.Stat(r.keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("key file: %w", err)
	}
	return ci, ki, nil
}

func changed(a, b os.FileInfo) bool {
	return a == nil || b == nil || !os.SameFile(a, b) || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime())
}

// GetCertificate is a tls.Config.GetCertificate: the current certificate,
// reloaded first when the files changed.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.Current(), nil
}

// Current returns the certificate to serve, reloading it first when the
// files changed.
func (r *Reloader) Current() *tls.Certificate {
	ci, ki, err := r.stat()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && (changed(ci, r.certInfo) || changed(ki, r.keyInfo)) {
		// Another handshake may have reloaded since this stat, taken
		// without the lock (one file renamed, not yet the other): look
		// again, so that a stale stat neither reloads twice nor is kept.
		ci, ki, err = r.stat()
	}
	if err != nil || (!changed(ci, r.certInfo) && !changed(ki, r.keyInfo)) {
		return r.cert // a file missing for a moment during a rotation: keep serving
	}
	if !changed(ci, r.failedFor[0]) && !changed(ki, r.failedFor[1]) && time.Since(r.failedAt) < time.Second {
		return r.cert
	}
	cert, err := loadKeyPair(r.certFile, r.keyFile)
	if err != nil {
		first := r.failedFor[0] == nil || changed(ci, r.failedFor[0]) || changed(ki, r.failedFor[1])
		r.failedAt, r.failedFor = time.Now(), [2]os.FileInfo{ci, ki}
		if first && r.log != nil {
			r.log.Warn("tls: cannot reload the certificate; still serving the previous one", "err", err)
		}
		return r.cert
	}
	r.failedFor = [2]os.FileInfo{}
	if r.cert != nil && len(cert.Certificate) > 0 && len(r.cert.Certificate) > 0 &&
		bytes.Equal(cert.Certificate[0], r.cert.Certificate[0]) {
		// The files were read after a later change than the one stat saw
		// (the key renamed between the stat and the read), or were
		// rewritten unchanged: the certificate served is the same, only
		// the stats are new.
		r.certInfo, r.keyInfo = ci, ki
		return r.cert
	}
	r.cert, r.certInfo, r.keyInfo = &cert, ci, ki
	r.reloads++
	if r.log != nil {
		attrs := []any{"cert_file", r.certFile}
		if cert.Leaf != nil {
			attrs = append(attrs, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		r.log.Info("tls: certificate reloaded", attrs...)
	}
	return r.cert
}

// Reloads counts the certificates loaded after the first.
func (r *Reloader) Reloads() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloads
}

// Server describes the TLS a server offers.
type Server struct {
	// CertFile and KeyFile are the server's certificate (chain) and key.
	// Required.
	CertFile, KeyFile string
	// ClientCAFile, when set, is a PEM bundle of the CAs whose client
	// certificates are accepted, re-read when the file changes. A client that presents a certificate
	// must present one they signed; RequireClientCert says whether a
	// client may present none.
	ClientCAFile string
	// RequireClientCert refuses handshakes without a client certificate.
	RequireClientCert bool
}

// Config loads the files and returns a server tls.Config (TLS 1.2 or
// later) serving the Reloader's certificate, and the Reloader.
func (s Server) Config(log *slog.Logger) (*tls.Config, *Reloader, error) {
	r, err := NewReloader(s.CertFile, s.KeyFile, log)
	if err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{MinVersion: MinVersion, GetCertificate: r.GetCertificate}
	if s.ClientCAFile != "" {
		cas := &poolReloader{path: s.ClientCAFile, log: log}
		if err := cas.load(); err != nil {
			return nil, nil, fmt.Errorf("tls: client %w", err)
		}
		cfg.ClientCAs = cas.pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if s.RequireClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		base := cfg.Clone()
		cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := base.Clone()
			c.ClientCAs = cas.current()
			return c, nil
		}
	}
	return cfg, r, nil
}

// poolReloader holds a CA bundle re-read when its file changes; a bundle
// that fails to load keeps the previous one and is logged once.
type poolReloader struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	pool   *x509.CertPool
	info   os.FileInfo
	failed os.FileInfo
}

func (p *poolReloader) load() error {
	info, err := os.Stat(p.path)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	pool, err := CertPool(p.path)
	if err != nil {
		return err
	}
	p.pool, p.info = pool, info
	return nil
}

func (p *poolReloader) current() *x509.CertPool {
	info, err := os.Stat(p.path)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil || !changed(info, p.info) || !changed(info, p.failed) {
		return p.pool
	}
	pool, err := CertPool(p.path)
	if err != nil {
		p.failed = info
		if p.log != nil {
			p.log.Warn("tls: cannot reload the client CA file; still using the previous one", "err", err)
		}
		return p.pool
	}
	p.pool, p.info, p.failed = pool, info, nil
	if p.log != nil {
		p.log.Info("tls: client CA file reloaded", "file", p.path)
	}
	return p.pool
}

// LeafDER returns the DER bytes of the first certificate in a PEM file.
func LeafDER(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate file: %w", err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("certificate file %s holds no PEM certificate", path)
		}
		if b.Type == "CERTIFICATE" {
			return b.Bytes, nil
		}
	}
}
