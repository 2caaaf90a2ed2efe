package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

type feedPage struct {
	Events []json.RawMessage `json:"events"`
	Head   uint64            `json:"head"`
}

func getEvents(t testing.TB, cp *Running, query string) (*Response, feedPage) {
	t.Helper()
	res := do(t, cp, TestReadKey, "GET", "/v1/envs/test/events?"+query, nil)
	var p feedPage
	if res.Status == 200 {
		if err := json.Unmarshal(res.Body, &p); err != nil {
			t.Fatalf("decode feed page %s: %v", res.Body, err)
		}
	}
	return res, p
}

func TestEventsFeed(t *testing.T) {
	cp := startWithPolicy(t, Config{})
	writeSome(t, cp, 5)
	head := cp.Seq()

	res, page := getEvents(t, cp, "after=0")
	wantStatus(t, res, 200, "")
	// The answer's Content-Length covers the whole body, and the tail after
	// the events says which log this is and its digest (fork detection).
	if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(res.Body)) {
		t.Fatalf("Content-Length %q, body %d bytes", cl, len(res.Body))
	}
	var origin struct {
		LogID     string  `json:"log_id"`
		Digest    string  `json:"digest"`
		DigestSeq *uint64 `json:"digest_seq"`
	}
	if err := json.Unmarshal(res.Body, &origin); err != nil {
		t.Fatal(err)
	}
	if origin.LogID != cp.LogID() || origin.LogID == "" || origin.Digest != cp.Digest() || origin.DigestSeq == nil || *origin.DigestSeq != head {
		t.Fatalf("origin fields %+v (seq %v), want log %q digest %s at %d", origin, origin.DigestSeq, cp.LogID(), cp.Digest(), head)
	}
	if page.Head != head || len(page.Events) != int(head) {
		t.Fatalf("after=0: %d events, head %d; want %d", len(page.Events), page.Head, head)
	}
	for i, raw := range page.Events {
		ev, err := replica.DecodeEvent(raw)
		if err != nil {
			t.Fatalf("event %d is not a strict replica.Event: %v", i, err)
		}
		if ev.Seq != uint64(i+1) || ev.Env != "test" {
			t.Fatalf("event %d: seq %d env %q", i, ev.Seq, ev.Env)
		}
	}
	// Replaying the feed into a fresh state gives the same digest.
	st := replica.New(replica.Config{Env: "test", Compiler: query.Compile})
	for _, raw := range page.Events {
		ev, _ := replica.DecodeEvent(raw)
		if err := st.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	view := st.Acquire()
	if d := view.Digest(); d != cp.Digest() {
		t.Fatalf("digest from the feed %s, control plane %s", d, cp.Digest())
	}
	view.Release()

	_, page = getEvents(t, cp, "after=2&limit=2")
	if len(page.Events) != 2 || page.Head != head {
		t.Fatalf("limit=2: %d events", len(page.Events))
	}
	if ev, _ := replica.DecodeEvent(page.Events[0]); ev.Seq != 3 {
		t.Fatalf("after=2 starts at seq %d", ev.Seq)
	}
	_, page = getEvents(t, cp, fmt.Sprintf("after=%d", head))
	if len(page.Events) != 0 || page.Head != head {
		t.Fatalf("at head: %+v", page)
	}
	_, page = getEvents(t, cp, "after=100000")
	if len(page.Events) != 0 || page.Head != head {
		t.Fatalf("beyond head: %+v", page)
	}
	for _, q := range []string{"limit=0", "limit=x", "after=-1", "wait=soon"} {
		res, _ := getEvents(t, cp, q)
		wantStatus(t, res, 400, "")
	}

	// Auth and environment.
	wantStatus(t, do(t, cp, "", "GET", "/v1/envs/test/events", nil), 401, "")
	wantStatus(t, do(t, cp, "nope", "GET", "/v1/envs/test/events", nil), 401, "")
	wantStatus(t, do(t, cp, TestWriteKey, "GET", "/v1/envs/test/events", nil), 200, "")
	wantStatus(t, do(t, cp, TestReadKey, "GET", "/v1/envs/prod/events", nil), 404, "unknown environment")
	wantStatus(t, do(t, cp, TestReadKey, "GET", "/v1/envs/prod/status", nil), 404, "")
	wantStatus(t, do(t, cp, TestReadKey, "GET", "/v1/envs/prod/snapshot", nil), 404, "")
}

func TestEventsLongPoll(t *testing.T) {
	cp := startWithPolicy(t, Config{})
	head := cp.Seq()

	// No event within wait: an empty page after about wait.
	start := time.Now()
	_, page := getEvents(t, cp, fmt.Sprintf("after=%d&wait=200ms", head))
	if el := time.Since(start); len(page.Events) != 0 || el < 200*time.Millisecond || el > 5*time.Second {
		t.Fatalf("idle long-poll: %d events after %v", len(page.Events), el)
	}

	// A write wakes a waiting poll.
	type result struct {
		page feedPage
		took time.Duration
	}
	got := make(chan result, 1)
	go func() {
		start := time.Now()
		res, err := NewClient(cp.URL, TestReadKey).Do(context.Background(), "GET", fmt.Sprintf("/v1/envs/test/events?after=%d&wait=30s", head), nil)
		var p feedPage
		if err == nil {
			json.Unmarshal(res.Body, &p)
		}
		got <- result{p, time.Since(start)}
	}()
	time.Sleep(100 * time.Millisecond)
	seq := must(t).Seq(cp.Client.Insert(role("ana", "member", "acme")))
	r := <-got
	if len(r.page.Events) != 1 || r.page.Head != seq || r.took > 10*time.Second {
		t.Fatalf("woken poll: %d events, head %d, after %v", len(r.page.Events), r.page.Head, r.took)
	}

	// A waiting poll ends when the control plane stops.
	go func() {
		start := time.Now()
		NewClient(cp.URL, TestReadKey).Do(context.Background(), "GET", fmt.Sprintf("/v1/envs/test/events?after=%d&wait=60s", seq), nil)
		got <- result{took: time.Since(start)}
	}()
	time.Sleep(100 * time.Millisecond)
	cp.Stop()
	if r := <-got; r.took > 10*time.Second {
		t.Fatalf("long-poll outlived Stop by %v", r.took)
	}
}

func TestEventsRetention(t *testing.T) {
	cp := startWithPolicy(t, Config{Retain: 3})
	writeSome(t, cp, 6)
	head := cp.Seq()
	res, _ := getEvents(t, cp, "after=0")
	wantStatus(t, res, http.StatusGone, "no longer retained")
	res, _ = getEvents(t, cp, fmt.Sprintf("after=%d", head-4))
	wantStatus(t, res, http.StatusGone, "")
	res, page := getEvents(t, cp, fmt.Sprintf("after=%d", head-3))
	wantStatus(t, res, 200, "")
	if len(page.Events) != 3 {
		t.Fatalf("retained window: %d events", len(page.Events))
	}
	// Retention is logical: a restart still replays everything.
	digest := cp.Digest()
	cp.Restart()
	if cp.Digest() != digest {
		t.Fatal("restart with retention lost state")
	}
}

func TestStatusAndSnapshot(t *testing.T) {
	cp := startWithPolicy(t, Config{Tenant: "acme-inc"})
	writeSome(t, cp, 4)

	st := must2[Status](t)(cp.ReadClient.Status("test"))
	if st.Env != "test" || st.Seq != cp.Seq() || st.Digest != cp.Digest() || st.LogID != cp.LogID() || st.Facts != 4 {
		t.Fatalf("status %+v", st)
	}
	res := do(t, cp, TestReadKey, "GET", "/v1/envs/test/status", nil)
	if m := decode(t, res); len(m) != 5 {
		t.Fatalf("status keys: %s", res.Body)
	}

	res = do(t, cp, TestReadKey, "GET", "/v1/envs/test/snapshot", nil)
	wantStatus(t, res, 200, "")
	if rev := res.Header.Get("X-Outpost-Revision"); rev != strconv.FormatUint(cp.Seq(), 10) {
		t.Fatalf("X-Outpost-Revision %q, want %d", rev, cp.Seq())
	}
	state, hdr, err := snapshotter.Read(bytes.NewReader(res.Body), replica.Config{Env: "test", Compiler: query.Compile})
	if err != nil {
		t.Fatal(err)
	}
	v := state.Acquire()
	defer v.Release()
	if v.Digest() != cp.Digest() || hdr.Position.Seq != cp.Seq() || hdr.Tenant != "acme-inc" || hdr.Env != "test" {
		t.Fatalf("snapshot: digest %s (want %s), header %+v", v.Digest(), cp.Digest(), hdr)
	}
	if hdr.Position.KafkaOffset != -1 || hdr.Position.JetStreamSeq != 0 {
		t.Fatalf("positions without transports: %+v", hdr.Position)
	}
	wantStatus(t, do(t, cp, "", "GET", "/v1/envs/test/snapshot", nil), 401, "")
}

func must2[T any](t testing.TB) func(T, error) T {
	return func(x T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
}
