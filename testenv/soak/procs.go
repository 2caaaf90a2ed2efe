package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
}

// startProc starts bin with args; stdout and stderr go to logPath. When
// lines is set, it also receives stdout line by line (lines that nobody
// takes are dropped).
func startProc(name, bin string, args []string, logPath string, lines chan<- string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// the children must not outlive a soak that dies
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var pw *io.PipeWriter
	if lines != nil {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		cmd.Stdout = io.MultiWriter(f, pw)
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				select {
				case lines <- sc.Text():
				default:
				}
			}
			io.Copy(io.Discard, pr)
		}()
	}
	p := &proc{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		f.Close()
		if pw != nil {
			pw.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		if pw != nil {
			pw.Close()
		}
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to timeout for a clean exit; after that
// the process is killed. It returns the exit error (nil for status 0).
func (p *proc) stop(timeout time.Duration) error {
	if p.exited() {
		return p.exitErr()
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.exitErr()
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %v after SIGTERM; killed", p.name, timeout)
	}
}

func (p *proc) exitErr() error {
	if p.err != nil {
		return fmt.Errorf("%s exited: %w", p.name, p.err)
	}
	return nil
}

// rssBytes reads VmRSS of a process from /proc.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}

func parseVmRSS(status []byte) (int64, error) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("parse VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmRSS line %q: %w", line, err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmRSS line")
}

// loadAvg returns the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return f[0] + " " + f[1] + " " + f[2]
	}
	return "?"
}

// freePort returns a 127.0.0.1 address nobody listens on right now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// controlPlane is the outpost-controlplane process.
type controlPlane struct {
	*proc
	url, natsURL      string
	writeKey, readKey string
	seedSeq           uint64
}

// startControlPlane starts the control plane with an embedded NATS server,
// seeds it and returns once the seed is written.
func startControlPlane(ctx context.Context, c Config, dir string) (*controlPlane, error) {
	cp := &controlPlane{writeKey: "soak-write-" + randHex(), readKey: "soak-read-" + randHex()}
	lines := make(chan string, 64)
	p, err := startProc("control plane", filepath.Join(c.BinDir, "outpost-controlplane"), []string{
		"-listen", "127.0.0.1:0", "-data", filepath.Join(dir, "controlplane"), "-env", env,
		"-key", cp.writeKey + ":write", "-key", cp.readKey + ":read",
		"-embed-nats", "-seed-gitclub", strconv.Itoa(c.Facts),
	}, filepath.Join(dir, "controlplane.log"), lines)
	if err != nil {
		return nil, err
	}
	cp.proc = p
	timeout := time.NewTimer(5 * time.Minute)
	defer timeout.Stop()
	for {
		select {
		case line := <-lines:
			f := strings.Fields(line)
			switch {
			case len(f) >= 2 && f[0] == "controlplane":
				cp.url = f[1]
			case len(f) >= 2 && f[0] == "nats":
				cp.natsURL = f[1]
			case strings.HasPrefix(line, "seeded gitclub:"):
				// "seeded gitclub: N facts, seq S, in D"
				if i := strings.Index(line, "seq "); i >= 0 {
					cp.seedSeq, _ = strconv.ParseUint(strings.TrimRight(strings.Fields(line[i+4:])[0], ","), 10, 64)
				}
				if cp.url == "" || cp.natsURL == "" {
					p.stop(10 * time.Second)
					return nil, fmt.Errorf("control plane printed no URL or NATS address (see %s)", p.log.Name())
				}
				return cp, nil
			}
		case <-p.done:
			return nil, fmt.Errorf("control plane exited during start-up: %v (see %s)", p.err, p.log.Name())
		case <-timeout.C:
			p.stop(10 * time.Second)
			return nil, errors.New("control plane did not finish seeding within 5 minutes")
		case <-ctx.Done():
			p.stop(10 * time.Second)
			return nil, ctx.Err()
		}
	}
}

// node is one outpost process; restart replaces proc with the same
// arguments (same address and data directory).
type node struct {
	name string
	bin  string
	args []string
	log  string
	url  string

	mu sync.Mutex // guards p
	p  *proc
}

func newNode(c Config, dir, name string, cp *controlPlane) (*node, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, name)
	return &node{
		name: name,
		bin:  filepath.Join(c.BinDir, "outpost"),
		args: []string{
			"--environment", env, "--control-plane-url", cp.url, "--api-token", cp.readKey,
			"--source", "nats", "--nats-url", cp.natsURL,
			"--listen", addr, "--directory", data,
			"--checkpoint-interval", c.CheckpointInterval.String(), "--log-level", "info",
		},
		log: filepath.Join(dir, name+".log"),
		url: "http://" + addr,
	}, nil
}

func (n *node) proc() *proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.p
}

// start starts the process and waits until /healthcheck answers 200.
func (n *node) start(ctx context.Context) error {
	var p *proc
	var err error
	// the port may still be held by the previous process for a moment
	for i := 0; i < 3; i++ {
		if p, err = startProc(n.name, n.bin, n.args, n.log, nil); err != nil {
			return err
		}
		err = waitHealthy(ctx, n.url, p, time.Minute)
		if err == nil || !p.exited() {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		p.stop(10 * time.Second)
		return fmt.Errorf("%s: %w (see %s)", n.name, err, n.log)
	}
	n.mu.Lock()
	n.p = p
	n.mu.Unlock()
	return nil
}

func waitHealthy(ctx context.Context, url string, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := hc.Get(url + "/healthcheck")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if p.exited() {
			return fmt.Errorf("exited during start-up: %v", p.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// nodeStatus is the part of a node's /status the soak reads.
type nodeStatus struct {
	Revision uint64 `json:"revision"`
	Digest   string `json:"digest"`
	Facts    int    `json:"facts"`
	Node     struct {
		LoadedFrom string `json:"loaded_from"`
	} `json:"node"`
}

func (n *node) status(ctx context.Context) (nodeStatus, error) {
	var st nodeStatus
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/status", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("%s /status answered %d", n.name, resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// metrics scrapes the node's /metrics and returns the samples named.
func (n *node) metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body, names...)
}

// parseMetrics sums, for each name, the samples of the Prometheus text
// format whose metric name is exactly name (any labels).
func parseMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		if !want[name] {
			continue
		}
		rest := line[len(name):]
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out, sc.Err()
}

// waitCaughtUp waits until the node's revision is at least seq.
func (n *node) waitCaughtUp(ctx context.Context, seq uint64, timeout time.Duration) (nodeStatus, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := n.status(ctx)
		if err == nil && st.Revision >= seq {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%s at revision %d, want %d after %v (last error: %v)", n.name, st.Revision, seq, timeout, err)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
