package snapshotter_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		spec stateSpec
	}{
		{"empty", stateSpec{}},
		{"policy only", stateSpec{policy: true}},
		{"tokens only", stateSpec{tokens: 3}},
		{"one fact", stateSpec{seed: 2, facts: 1, arities: []int{2}}},
		{"arities 1..5, many relations", stateSpec{seed: 3, facts: 2000, arities: []int{1, 2, 3, 4, 5}, relations: 13, policy: true, tokens: 4}},
		{"after deletes (unused values)", stateSpec{seed: 4, facts: 3000, arities: []int{1, 2, 3}, relations: 1, deletes: true, policy: true}},
		{"several chunks", stateSpec{seed: 5, facts: 120_000, arities: []int{3}, relations: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := buildState(t, c.spec)
			ex := export(src)
			h := testHeader()
			data := encode(t, ex, h)

			st, got, err := snapshotter.Read(bytes.NewReader(data), replica.Config{Env: "test"})
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if d := digestOf(st); d != digestOf(src) || got.Digest != d {
				t.Errorf("digest: loaded %s, header %s, source %s", d, got.Digest, digestOf(src))
			}
			wantPos := h.Position
			wantPos.Seq = src.Revision()
			if got.Position != wantPos || st.Revision() != wantPos.Seq {
				t.Errorf("position %+v, revision %d; want %+v", got.Position, st.Revision(), wantPos)
			}
			if !got.Created.Equal(h.Created) || got.Env != "test" || got.Tenant != "acme" {
				t.Errorf("header %+v", got)
			}
			if got.Facts != uint64(ex.FactCount()) {
				t.Errorf("header facts %d, want %d", got.Facts, ex.FactCount())
			}
			if a, b := factSet(st), factSet(src); !slices.Equal(a, b) {
				t.Errorf("facts differ: loaded %d, source %d", len(a), len(b))
			}
			sv, lv := src.Acquire(), st.Acquire()
			sp, _ := sv.Policy()
			lp, _ := lv.Policy()
			if sp != lp {
				t.Errorf("policy %+v, want %+v", lp, sp)
			}
			if !slices.Equal(lv.Tokens(), sv.Tokens()) {
				t.Errorf("tokens %v, want %v", lv.Tokens(), sv.Tokens())
			}
			if c.spec.deletes && lv.ValueCount() >= sv.ValueCount() {
				t.Errorf("dictionary not compacted: %d values, source %d", lv.ValueCount(), sv.ValueCount())
			}
			sv.Release()
			lv.Release()

			// Writing the loaded state again gives the same bytes.
			if again := encode(t, export(st), h); !bytes.Equal(again, data) {
				t.Errorf("re-encoding the loaded state changed the file (%d -> %d bytes)", len(data), len(again))
			}

			info, err := snapshotter.Inspect(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("inspect: %v", err)
			}
			if !info.ChecksumOK || !info.DigestOK || info.Size != int64(len(data)) || info.Header != got {
				t.Errorf("inspect: %+v", info)
			}
		})
	}
}

func TestWrongEnv(t *testing.T) {
	data := smallFile(t)
	_, _, err := snapshotter.Read(bytes.NewReader(data), replica.Config{Env: "prod"})
	if !errors.Is(err, snapshotter.ErrWrongEnv) {
		t.Fatalf("err = %v, want ErrWrongEnv", err)
	}
}

func TestWriteSeqMismatch(t *testing.T) {
	st := buildState(t, stateSpec{seed: 1, facts: 3, arities: []int{1}})
	h := testHeader()
	h.Position.Seq = st.Revision() + 1
	if _, err := snapshotter.Write(&bytes.Buffer{}, export(st), h); err == nil {
		t.Fatal("Write accepted a header seq that is not the export's revision")
	}
}
