package tlsfiles_test

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpost-authz/outpost/internal/tlsfiles"
	"github.com/outpost-authz/outpost/internal/tlsfiles/tlstest"
)

func TestReloaderPicksUpRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	r, ca, f := newReloader(t, dir, "one")
	first := r.Current()
	if first.Leaf.Subject.CommonName != "one" {
		t.Fatalf("serving %q", first.Leaf.Subject.CommonName)
	}

	// A half-written rotation (new certificate, old key) keeps the old one.
	c2, k2, err := ca.Issue("two")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Cert, c2, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := r.Current(); got != first {
		t.Fatalf("mismatched pair replaced the certificate with %q", got.Leaf.Subject.CommonName)
	}
	// The key arrives, by rename: the new pair is served.
	tmp := filepath.Join(dir, "key.tmp")
	if err := os.WriteFile(tmp, k2, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, f.Key); err != nil {
		t.Fatal(err)
	}
	if got := r.Current(); got.Leaf.Subject.CommonName != "two" || r.Reloads() != 1 {
		t.Fatalf("serving %q after %d reloads, want two after 1", got.Leaf.Subject.CommonName, r.Reloads())
	}
	// A file missing for a moment keeps the current one.
	if err := os.Remove(f.Cert); err != nil {
		t.Fatal(err)
	}
	if got := r.Current(); got.Leaf.Subject.CommonName != "two" {
		t.Fatalf("serving %q with the file gone", got.Leaf.Subject.CommonName)
	}
}

func TestConfigErrorsNameTheFileNotItsContents(t *testing.T) {
	dir := t.TempDir()
	secret := "-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END EC PRIVATE KEY-----\n"
	keyFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"missing CA", func() error { _, err := tlsfiles.Client{CAFile: filepath.Join(dir, "nope.pem")}.Config(); return err }, "nope.pem"},
		{"CA not PEM", func() error { _, err := tlsfiles.Client{CAFile: notPEM}.Config(); return err }, "holds no PEM certificate"},
		{"cert without key", func() error { _, err := tlsfiles.Client{CertFile: keyFile}.Config(); return err }, "both a certificate file and a key file"},
		{"bad pair", func() error { _, err := tlsfiles.Client{CertFile: notPEM, KeyFile: keyFile}.Config(); return err }, "bundle.pem"},
		{"server bad pair", func() error { _, _, err := tlsfiles.Server{CertFile: notPEM, KeyFile: keyFile}.Config(nil); return err }, "key.pem"},
		{"server client CA", func() error {
			ca, _ := tlstest.NewCA("x")
			f, _ := ca.WriteLeaf(t.TempDir(), "srv")
			_, _, err := tlsfiles.Server{CertFile: f.Cert, KeyFile: f.Key, ClientCAFile: notPEM}.Config(nil)
			return err
		}, "client CA file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "c2VjcmV0") {
				t.Fatalf("error quotes the key: %v", err)
			}
		})
	}
}

func TestClientConfigTrustsTheCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlstest.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ca.WriteLeaf(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsfiles.Client{CAFile: f.CA, CertFile: f.Cert, KeyFile: f.Key}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || len(cfg.Certificates) != 1 || cfg.RootCAs == nil {
		t.Fatalf("config %+v", cfg)
	}
	if !bytes.Contains(ca.CertPEM(), []byte("BEGIN CERTIFICATE")) {
		t.Fatal("CA PEM")
	}
}

// BenchmarkReloaderCurrent measures what the reload check adds to each TLS
// handshake: two stats of unchanged files.
func BenchmarkReloaderCurrent(b *testing.B) {
	r, _, _ := newReloader(b, b.TempDir(), "bench")
	for b.Loop() {
		if r.Current() == nil {
			b.Fatal("no certificate")
		}
	}
}

// TestRewrittenSameCertificateIsNoReload: files rewritten with the same
// certificate (or read after a later rename than the one stat saw) give
// new stats but no reload, so concurrent handshakes during a rotation
// count it once.
func TestRewrittenSameCertificateIsNoReload(t *testing.T) {
	r, _, f := newReloader(t, t.TempDir(), "one")
	first := r.Current()
	for _, p := range []string{f.Cert, f.Key} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if got := r.Current(); got != first || r.Reloads() != 0 {
			t.Fatalf("after rewriting the same files: %d reloads, same certificate %v", r.Reloads(), got == first)
		}
	}
}

// newReloader writes a leaf certificate named cn, issued by a new CA, to
// dir and returns a Reloader of it with the CA and the files.
func newReloader(tb testing.TB, dir, cn string) (*tlsfiles.Reloader, *tlstest.CA, tlstest.Files) {
	tb.Helper()
	ca, err := tlstest.NewCA("test CA")
	if err != nil {
		tb.Fatal(err)
	}
	f, err := ca.WriteLeaf(dir, cn)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := tlsfiles.NewReloader(f.Cert, f.Key, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return r, ca, f
}
