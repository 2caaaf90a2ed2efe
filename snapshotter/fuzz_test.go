package snapshotter_test

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

var genSeeds = flag.Bool("gen-fuzz-seeds", false, "rewrite the generated seed files in testdata/fuzz/FuzzRead")

// fuzzSeeds returns small valid checkpoints and mutations of them.
func fuzzSeeds(tb testing.TB) map[string][]byte {
	tb.Helper()
	valid := map[string][]byte{
		"valid-small":    smallFile(tb),
		"valid-empty":    encode(tb, export(buildState(tb, stateSpec{})), testHeader()),
		"valid-one-fact": encode(tb, export(buildState(tb, stateSpec{seed: 2, facts: 1, arities: []int{2}})), testHeader()),
		"valid-arities":  encode(tb, export(buildState(tb, stateSpec{seed: 3, facts: 4, arities: []int{1, 2, 3, 4, 5}, tokens: 1})), testHeader()),
		"valid-deletes":  encode(tb, export(buildState(tb, stateSpec{seed: 4, facts: 12, arities: []int{1, 2}, deletes: true, policy: true})), testHeader()),
	}
	out := map[string][]byte{}
	for name, b := range valid {
		out[name] = b
	}
	b := valid["valid-small"]
	out["truncated-half"] = b[:len(b)/2]
	out["truncated-trailer"] = b[:len(b)-3]
	flipped := bytes.Clone(b)
	flipped[len(b)/3] ^= 0x10
	out["flipped"] = flipped
	// Mutations behind valid checksums, so the fuzzer starts past them.
	forged := bytes.Clone(b)
	binary.LittleEndian.PutUint64(forged[12+5+32:], 1<<40) // header values
	out["resealed-values"] = reseal(forged)
	forged = bytes.Clone(valid["valid-arities"])
	forged[len(forged)-60] ^= 0x01 // inside the last facts chunk
	out["resealed-symbol"] = reseal(forged)
	return out
}

// TestGenerateFuzzSeeds writes the seed corpus with -gen-fuzz-seeds.
func TestGenerateFuzzSeeds(t *testing.T) {
	if !*genSeeds {
		t.Skip("run with -gen-fuzz-seeds to rewrite testdata/fuzz/FuzzRead")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range fuzzSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzRead: Read never panics, and either fails or returns a state whose
// digest equals its header's. Each input is also tried with its checksums
// recomputed (reseal), so mutations reach the checks behind them. Inspect
// must accept whatever Read accepts, with the same header.
func FuzzRead(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, reseal(data)} {
			st, h, err := snapshotter.Read(bytes.NewReader(in), replica.Config{})
			if err != nil {
				if st != nil {
					t.Fatalf("Read returned a state and an error: %v", err)
				}
				continue
			}
			if d := digestOf(st); d != h.Digest {
				t.Fatalf("loaded digest %s, header %s", d, h.Digest)
			}
			if st.Revision() != h.Position.Seq {
				t.Fatalf("revision %d, header seq %d", st.Revision(), h.Position.Seq)
			}
			info, err := snapshotter.Inspect(bytes.NewReader(in))
			if err != nil || info.Header != h || !info.DigestOK || info.Size != int64(len(in)) {
				t.Fatalf("Read accepted the file, Inspect: %v (%+v)", err, info)
			}
		}
	})
}
