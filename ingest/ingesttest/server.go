package ingesttest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/ingest"
)

// FeedServer serves the control plane's node feed from a slice of raw
// payloads, as a real HTTP server on 127.0.0.1:
//
//	GET /v1/envs/{env}/events?after=N&limit=M&wait=D -> {"events":[...],"head":H}
//	GET /v1/envs/{env}/snapshot                      -> the bytes set by SetSnapshot
//
// Both need "Authorization: Bearer <token>" (else 401); another env gets
// 404. The log is the payloads in the order appended, duplicates and gaps
// included: a poll after N answers the payloads from the first one whose
// seq is above N, and head is the highest seq appended. A poll after a seq
// below the retention floor (SetRetention) answers 410 Gone. An idle poll
// waits up to wait (at most 30 s) for an append.
type FeedServer struct {
	env, token string

	mu        sync.Mutex // guards the fields below
	payloads  [][]byte
	seqs      []uint64 // event seq of each payload (0 when unreadable)
	head      uint64
	floor     uint64 // polls after a seq below floor get 410
	snapshot  []byte
	snapRev   uint64
	appended  chan struct{} // closed and replaced on every append
	stopped   chan struct{} // closed by Stop, to end long-polls
	srv       *http.Server
	addr      string
	polls     int
	snapshots int
}

// NewFeedServer starts a FeedServer for env and token on an ephemeral port
// of 127.0.0.1 and stops it in t.Cleanup.
func NewFeedServer(t testing.TB, env, token string) *FeedServer {
	t.Helper()
	s := &FeedServer{env: env, token: token, appended: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("feed server: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

// URL returns the base URL, http://127.0.0.1:PORT, the same across Restart.
func (s *FeedServer) URL() string { return "http://" + s.addr }

// Append adds payloads to the log and wakes waiting polls.
func (s *FeedServer) Append(payloads ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range payloads {
		seq, _ := ingest.PeekSeq(p)
		s.payloads = append(s.payloads, p)
		s.seqs = append(s.seqs, seq)
		s.head = max(s.head, seq)
	}
	close(s.appended)
	s.appended = make(chan struct{})
}

// SetRetention makes polls after any seq below floor answer 410 Gone, as
// a control plane that no longer retains the events after them.
func (s *FeedServer) SetRetention(floor uint64) {
	s.mu.Lock()
	s.floor = floor
	s.mu.Unlock()
}

// SetSnapshot sets the snapshot download's body and its revision (the
// X-Outpost-Revision header). A nil body answers 503.
func (s *FeedServer) SetSnapshot(body []byte, revision uint64) {
	s.mu.Lock()
	s.snapshot, s.snapRev = body, revision
	s.mu.Unlock()
}

// Counts returns how many events and snapshot requests were answered 200.
func (s *FeedServer) Counts() (polls, snapshots int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls, s.snapshots
}

// Stop closes the listener and every connection; waiting polls end.
// Stopping a stopped server does nothing.
func (s *FeedServer) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	if srv != nil {
		close(s.stopped)
	}
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart stops the server (when running) and serves again on the same
// address, with the same log.
func (s *FeedServer) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("feed server restart: %v", err)
	}
	s.serve(ln)
}

func (s *FeedServer) serve(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/envs/{env}/events", s.events)
	mux.HandleFunc("GET /v1/envs/{env}/snapshot", s.snapshotHandler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.stopped = make(chan struct{})
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }() // ends when Stop closes srv
}

func (s *FeedServer) check(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return false
	}
	if r.PathValue("env") != s.env {
		http.Error(w, "no such environment", http.StatusNotFound)
		return false
	}
	return true
}

func (s *FeedServer) events(w http.ResponseWriter, r *http.Request) {
	if !s.check(w, r) {
		return
	}
	q := r.URL.Query()
	after, err := strconv.ParseUint(q.Get("after"), 10, 64)
	if err != nil {
		http.Error(w, "bad after", http.StatusBadRequest)
		return
	}
	limit := 1000
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit <= 0 {
			http.Error(w, "bad limit", http.StatusBadRequest)
			return
		}
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		if wait, err = time.ParseDuration(v); err != nil || wait < 0 {
			http.Error(w, "bad wait", http.StatusBadRequest)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(wait, 30*time.Second))
	defer cancel()
	for {
		s.mu.Lock()
		if after < s.floor {
			s.mu.Unlock()
			http.Error(w, "events after "+strconv.FormatUint(after, 10)+" are no longer retained", http.StatusGone)
			return
		}
		i := 0
		for i < len(s.payloads) && s.seqs[i] <= after && s.seqs[i] != 0 {
			i++
		}
		out := s.payloads[i:min(len(s.payloads), i+limit)]
		head, appended, stopped := s.head, s.appended, s.stopped
		if len(out) > 0 || ctx.Err() != nil || wait == 0 {
			s.polls++
			s.mu.Unlock()
			raw := make([]json.RawMessage, len(out))
			for j, p := range out {
				raw[j] = p
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(struct {
				Events []json.RawMessage `json:"events"`
				Head   uint64            `json:"head"`
			}{raw, head})
			return
		}
		s.mu.Unlock()
		select {
		case <-appended:
		case <-ctx.Done():
		case <-stopped:
			return
		}
	}
}

func (s *FeedServer) snapshotHandler(w http.ResponseWriter, r *http.Request) {
	if !s.check(w, r) {
		return
	}
	s.mu.Lock()
	body, rev := s.snapshot, s.snapRev
	if body != nil {
		s.snapshots++
	}
	s.mu.Unlock()
	if body == nil {
		http.Error(w, "no snapshot", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("X-Outpost-Revision", strconv.FormatUint(rev, 10))
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(body)
}
