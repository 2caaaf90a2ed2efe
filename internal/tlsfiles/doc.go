// Package tlsfiles builds crypto/tls configurations from PEM files, the way
// every edge of Outpost is configured (DESIGN.md §10): a CA bundle to
// trust, a client certificate and key to present, and a server certificate
// and key that are re-read when the files change, so that a certificate
// rotated on disk (cert-manager, a Kubernetes secret update, certbot) is
// served from the next handshake on without a restart.
//
// Errors name the file and what is wrong with it, never its contents: key
// files hold secrets.
//
// It imports only the standard library.
package tlsfiles
