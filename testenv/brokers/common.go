package brokers

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
)

var (
	// ErrClosed is returned by Restart and the helpers after Close.
	ErrClosed = errors.New("broker closed")
	// ErrStopped is returned by helpers that need a running broker
	// (EnsureStream, CreateTopic, HighWatermark) while it is stopped.
	ErrStopped = errors.New("broker stopped")
)

// splitAddr parses a host:port listen address; an empty host means
// 127.0.0.1 and port 0 means an ephemeral port.
func splitAddr(addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("parse listen address %q: %w", addr, err)
	}
	if h == "" {
		h = "127.0.0.1"
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("parse listen address %q: bad port %q", addr, p)
	}
	return h, n, nil
}

// storeDir returns dir, or a new temporary directory (owned=true) when dir
// is empty.
func storeDir(dir, pattern string) (path string, owned bool, err error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", false, fmt.Errorf("create store directory: %w", err)
		}
		return dir, false, nil
	}
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", false, fmt.Errorf("create temporary store directory: %w", err)
	}
	return d, true, nil
}
