package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/ingest"
)

// feedProxy is a real HTTP reverse proxy in front of the control plane, on
// its own port of 127.0.0.1, that the poll source's faults go through: the
// transport a poll node reads is the answer to its long-polls, so the
// proxy rewrites those answers (duplicate, withhold, reorder or poison
// events), can refuse snapshot downloads, and can go down altogether
// (connections refused) and come back on the same address.
//
// Rewrites apply to long-polls only (wait > 0), which is how the poll
// source follows the feed; the Runner's gap fills (wait=0s) and snapshot
// downloads pass through, so a node can repair what the proxy broke from
// the control plane itself. The proxy is safe for concurrent use.
type feedProxy struct {
	addr     string
	upstream *url.URL
	rp       *httputil.ReverseProxy

	mu        sync.Mutex // guards the fields below
	srv       *http.Server
	rewrite   func(events []json.RawMessage) []json.RawMessage
	noSnap    bool
	rewritten int // answers the rewrite changed
}

// startFeedProxy starts a proxy to upstream (host:port) and closes it in
// t.Cleanup.
func startFeedProxy(t testing.TB, upstream string) *feedProxy {
	t.Helper()
	u, _ := url.Parse("http://" + upstream)
	p := &feedProxy{upstream: u}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        func(r *httputil.ProxyRequest) { r.SetURL(u) },
		ModifyResponse: p.modify,
		ErrorLog:       log.New(io.Discard, "", 0),
		Transport:      &http.Transport{MaxIdleConnsPerHost: 16},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() {
		p.down()
		p.rp.Transport.(*http.Transport).CloseIdleConnections()
	})
	return p
}

func (p *feedProxy) URL() string { return "http://" + p.addr }

func (p *feedProxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle), ReadHeaderTimeout: 5 * time.Second}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go srv.Serve(ln)
}

// down closes the listener and every connection: nodes see refused
// connections, as when the network to the control plane is cut.
func (p *feedProxy) down() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// up serves again on the same address.
func (p *feedProxy) up(t testing.TB) {
	t.Helper()
	var ln net.Listener
	eventually(t, 10*time.Second, func() (err error) {
		ln, err = net.Listen("tcp", p.addr)
		return err
	})
	p.serve(ln)
}

// setRewrite installs fn as the rewrite of long-poll answers (nil: pass
// them through).
func (p *feedProxy) setRewrite(fn func([]json.RawMessage) []json.RawMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewrite = fn
}

// refuseSnapshots makes snapshot downloads answer 503 (or pass again).
func (p *feedProxy) refuseSnapshots(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.noSnap = on
}

// rewrites returns how many answers the rewrites changed.
func (p *feedProxy) rewrites() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rewritten
}

func (p *feedProxy) handle(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	noSnap := p.noSnap
	p.mu.Unlock()
	if noSnap && strings.HasSuffix(r.URL.Path, "/snapshot") {
		http.Error(w, `{"message":"snapshots are refused by the test proxy"}`, http.StatusServiceUnavailable)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// modify applies the rewrite to a 200 answer of a long-poll.
func (p *feedProxy) modify(resp *http.Response) error {
	req := resp.Request
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(req.URL.Path, "/events") {
		return nil
	}
	if w, err := time.ParseDuration(req.URL.Query().Get("wait")); err != nil || w <= 0 {
		return nil
	}
	p.mu.Lock()
	on := p.rewrite != nil
	p.mu.Unlock()
	if !on {
		return nil
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var body struct {
		Events []json.RawMessage `json:"events"`
		Head   uint64            `json:"head"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return errors.New("feed proxy: undecodable events answer")
	}
	before, _ := json.Marshal(body.Events)
	p.mu.Lock()
	if p.rewrite != nil {
		body.Events = p.rewrite(body.Events)
	}
	if body.Events == nil {
		body.Events = []json.RawMessage{}
	}
	after, _ := json.Marshal(body.Events)
	if !bytes.Equal(before, after) {
		p.rewritten++
	}
	p.mu.Unlock()
	out, _ := json.Marshal(body)
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

func seqOf(e json.RawMessage) uint64 {
	s, _ := ingest.PeekSeq(e)
	return s
}

// indexOf returns the position of the event seq in events, or -1.
func indexOf(events []json.RawMessage, seq uint64) int {
	for i, e := range events {
		if seqOf(e) == seq {
			return i
		}
	}
	return -1
}

// withhold drops event seq from answers that carry a later event too, so
// the node sees seq+1 first: a gap. Answers that end at seq are cut before
// it, so the node asks again until a later event exists.
func withhold(seq uint64) func([]json.RawMessage) []json.RawMessage {
	return func(evs []json.RawMessage) []json.RawMessage {
		i := indexOf(evs, seq)
		if i < 0 {
			return evs
		}
		if i == len(evs)-1 {
			return evs[:i]
		}
		return append(evs[:i:i], evs[i+1:]...)
	}
}

// swap delivers seq+1 before seq; answers that carry seq but not seq+1 are
// cut before seq until seq+1 exists.
func swap(seq uint64) func([]json.RawMessage) []json.RawMessage {
	return func(evs []json.RawMessage) []json.RawMessage {
		i, j := indexOf(evs, seq), indexOf(evs, seq+1)
		switch {
		case i < 0:
			return evs
		case j < 0:
			return evs[:i]
		}
		out := append([]json.RawMessage(nil), evs...)
		out[i], out[j] = out[j], out[i]
		return out
	}
}

// duplicating delivers every event twice, and before each answer the last
// few events of earlier answers again.
func duplicating() func([]json.RawMessage) []json.RawMessage {
	var seen []json.RawMessage
	return func(evs []json.RawMessage) []json.RawMessage {
		out := append([]json.RawMessage(nil), seen...)
		for _, e := range evs {
			out = append(out, e, e)
		}
		seen = append(seen, evs...)
		seen = seen[max(0, len(seen)-3):]
		return out
	}
}

// poisoning replaces event seq by payload in every answer.
func poisoning(seq uint64, payload []byte) func([]json.RawMessage) []json.RawMessage {
	return func(evs []json.RawMessage) []json.RawMessage {
		out := append([]json.RawMessage(nil), evs...)
		if i := indexOf(out, seq); i >= 0 {
			out[i] = payload
		}
		return out
	}
}
