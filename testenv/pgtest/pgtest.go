// Package pgtest starts a throw-away PostgreSQL server for tests: initdb in
// a fresh temporary directory, postgres on a free loopback port, trust
// authentication for the user postgres, no fsync. Stop kills it and
// removes the directory. The server binaries come from OUTPOST_PG_BIN,
// /usr/lib/postgresql/<version>/bin (Debian's postgresql package; `make
// postgres` installs it), pg_config --bindir or PATH. As root, initdb and
// postgres (which refuse to run as root) run as the postgres system user,
// or nobody.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running PostgreSQL.
type Server struct {
	Port    int
	Dir     string
	BinDir  string
	cmd     *exec.Cmd
	cred    *syscall.Credential
	done    chan struct{}
	logs    *bytes.Buffer
	logMu   *sync.Mutex
	stopped bool
}

// DSN returns the connection string of database db ("" = postgres).
func (s *Server) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// FindBinDir returns the directory of the postgres and initdb binaries.
func FindBinDir() (string, error) {
	if d := os.Getenv("OUTPOST_PG_BIN"); d != "" {
		return d, nil
	}
	if ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(ms) > 0 {
		sort.Slice(ms, func(i, j int) bool { return version(ms[i]) > version(ms[j]) })
		return filepath.Dir(ms[0]), nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("pgtest: no PostgreSQL server binaries found; run `make postgres` (installs Debian's postgresql package) or set OUTPOST_PG_BIN")
}

func version(p string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
	return n
}

// credential returns the unprivileged user to run as when we are root.
func credential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, uid, gid, nil
	}
	return nil, -1, -1, errors.New("pgtest: running as root and neither the postgres nor the nobody user exists")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 1<<20 {
		return len(p), nil
	}
	return w.b.Write(p)
}

// Start initialises and starts a server; it is ready for connections when
// Start returns. Call Stop.
func Start(ctx context.Context) (*Server, error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "outpost-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{Dir: dir, BinDir: bin, cred: cred, done: make(chan struct{}), logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	fail := func(err error) (*Server, error) {
		s.Stop()
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(fmt.Errorf("pgtest: chown data directory: %w", err))
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %w: %s", err, out))
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return fail(fmt.Errorf("pgtest: free port: %w", err))
		}
		s.Port = port
		err = s.launch(ctx, data)
		if err == nil {
			return s, nil
		}
		if attempt >= 3 || ctx.Err() != nil {
			return fail(err)
		}
	}
}

func (s *Server) launch(ctx context.Context, data string) error {
	cmd := exec.Command(filepath.Join(s.BinDir, "postgres"), "-D", data, "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=100", "-c", "shared_buffers=64MB")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Dir = s.Dir
	w := lockedBuffer{s.logMu, s.logs}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s.cmd = cmd
	done := make(chan struct{})
	s.done = done
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("pgtest: postgres exited during start-up: %s", s.Logs())
		case <-ctx.Done():
			s.kill()
			return ctx.Err()
		default:
		}
		if s.ready() {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("pgtest: postgres not ready after 60s: %s", s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready reports whether the server accepts connections: pg_isready when
// available, else a TCP connect after the log says so.
func (s *Server) ready() bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return strings.Contains(s.Logs(), "ready to accept connections")
}

// Logs returns the server's output so far.
func (s *Server) Logs() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.logs.String()
}

func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// Stop shuts the server down (fast shutdown, then a kill after 10 s) and
// removes its directory. It is safe to call twice.
func (s *Server) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.kill()
		}
	}
	if s.Dir != "" {
		os.RemoveAll(s.Dir)
	}
}

var (
	sharedMu  sync.Mutex
	shared    *Server
	sharedErr error
)

// Main runs a test binary's tests with one shared server, started on first
// use by Shared and stopped when the tests end. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	flag.Parse()
	code := m.Run()
	sharedMu.Lock()
	if shared != nil {
		shared.Stop()
		shared = nil
	}
	sharedMu.Unlock()
	return code
}

// Shared returns the test binary's shared server, starting it on first
// use. Under -short it skips the test; otherwise a server that cannot
// start fails it (CI must run these tests).
func Shared(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL; skipped under -short")
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		shared, sharedErr = Start(ctx)
		cancel()
	}
	if sharedErr != nil {
		t.Fatalf("%v", sharedErr)
	}
	return shared
}
