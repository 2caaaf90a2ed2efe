package datasets

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

func TestEvents(t *testing.T) {
	cfg := Config{Facts: 10_000, Seed: 1}
	var want []replica.Fact
	if err := Generate(cfg, func(f replica.Fact) error { want = append(want, f); return nil }); err != nil {
		t.Fatal(err)
	}
	var evs []replica.Event
	if err := Events(cfg, "prod", 999, func(e replica.Event) error { evs = append(evs, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if n := 1 + (10_000+998)/999; len(evs) != n {
		t.Fatalf("got %d events, want %d", len(evs), n)
	}
	if e := evs[0]; e.Kind != replica.KindPolicy || e.Policy == nil || e.Policy.Src != GitclubPolicy || e.Seq != 1 {
		t.Fatalf("first event is %+v, want the policy at seq 1", e)
	}
	var got []replica.Fact
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.Env != "prod" || !e.Time.Equal(EventsEpoch.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("event %d has seq %d env %q time %v", i, e.Seq, e.Env, e.Time)
		}
		if i > 0 {
			if e.Kind != replica.KindBatch || len(e.Inserts) == 0 || len(e.Inserts) > 999 || len(e.Deletes) != 0 {
				t.Fatalf("event %d: kind %s with %d inserts, %d deletes", i, e.Kind, len(e.Inserts), len(e.Deletes))
			}
			got = append(got, e.Inserts...)
		}
	}
	if !slices.EqualFunc(got, want, factEqual) {
		t.Fatal("events do not carry Generate's facts in order")
	}
	if err := Events(cfg, "prod", 0, func(replica.Event) error { return nil }); err == nil {
		t.Fatal("Events accepted batch size 0")
	}
}

func factEqual(a, b replica.Fact) bool {
	return a.Predicate == b.Predicate && slices.Equal(a.Args, b.Args)
}

func TestWriteJSONLines(t *testing.T) {
	cfg := Config{Facts: 10_000, Seed: 1}
	var buf bytes.Buffer
	n, err := WriteJSONLines(&buf, cfg)
	if err != nil || n != 10_000 {
		t.Fatalf("WriteJSONLines = %d, %v", n, err)
	}
	var want []replica.Fact
	if err := Generate(cfg, func(f replica.Fact) error { want = append(want, f); return nil }); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	i := 0
	for ; sc.Scan(); i++ {
		var f replica.Fact
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("line %d %q: %v", i+1, sc.Text(), err)
		}
		if !factEqual(f, want[i]) {
			t.Fatalf("line %d is %v, want %v", i+1, f, want[i])
		}
	}
	if i != len(want) {
		t.Fatalf("got %d lines, want %d", i, len(want))
	}
}

// TestJSONLinesEscaping checks ids that need escaping, which generated data
// never has but other callers' facts may.
func TestJSONLinesEscaping(t *testing.T) {
	in := replica.Fact{Predicate: "p\"q", Args: []replica.Value{
		{Type: "User", ID: "a\\b\n\x01<tag>&"},
		{Type: "String", ID: "ünïcødé ✓"},
		{Type: "String", ID: "bad\xffutf8"},
	}}
	var buf bytes.Buffer
	jw := NewJSONLinesWriter(&buf)
	if err := jw.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := jw.Flush(); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(buf.String(), "\n"); got != string(want) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
