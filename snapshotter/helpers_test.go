package snapshotter_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

const testPolicy = `actor User {}
resource Repo {
  roles = ["reader", "admin"];
  permissions = ["read"];
  "read" if "reader";
  "reader" if "admin";
}
`

func val(t, id string) replica.Value { return replica.Value{Type: t, ID: id} }

func tokenFor(key, access string) replica.Token {
	sum := sha256.Sum256([]byte(key))
	return replica.Token{ID: key, SHA256: hex.EncodeToString(sum[:]), Access: access}
}

// stateSpec describes a deterministic state built through Apply.
type stateSpec struct {
	seed      uint64
	facts     int // facts inserted per arity (before deletes)
	arities   []int
	deletes   bool // delete some facts, leaving values no fact uses
	policy    bool
	tokens    int
	relations int // relations per arity
}

// buildState applies events to a fresh State: a policy, tokens, batches of
// inserts over arities 1..5 and several relations, then pattern deletes.
func buildState(tb testing.TB, sp stateSpec) *replica.State {
	tb.Helper()
	st := replica.New(replica.Config{Env: "test"})
	seq := uint64(0)
	apply := func(ev replica.Event) {
		tb.Helper()
		seq++
		ev.Env, ev.Seq, ev.Time = "test", seq, time.Unix(1_700_000_000, 0)
		if err := st.Apply(ev); err != nil {
			tb.Fatalf("apply %d: %v", seq, err)
		}
	}
	if sp.policy {
		apply(replica.Event{Kind: replica.KindPolicy, Policy: &replica.PolicySource{Src: testPolicy, Filename: "main.polar"}})
	}
	if sp.tokens > 0 {
		var toks []replica.Token
		for i := range sp.tokens {
			toks = append(toks, tokenFor(fmt.Sprintf("key-%d", i), []string{"read", "write"}[i%2]))
		}
		apply(replica.Event{Kind: replica.KindTokens, Tokens: toks})
	}
	rng := rand.New(rand.NewPCG(sp.seed, 7))
	types := []string{"User", "Repo", "String", "Integer", "Boolean", "Group"}
	randVal := func() replica.Value {
		t := types[rng.IntN(len(types))]
		switch t {
		case "Integer":
			return val(t, strconv.Itoa(rng.IntN(2000)-1000))
		case "Boolean":
			return val(t, strconv.FormatBool(rng.IntN(2) == 0))
		default:
			return val(t, fmt.Sprintf("%s-%d", t, rng.IntN(max(sp.facts, 10))))
		}
	}
	rels := max(sp.relations, 1)
	var batch []replica.Fact
	for _, a := range sp.arities {
		for i := range sp.facts {
			f := replica.Fact{Predicate: fmt.Sprintf("rel_%d_%d", a, i%rels)}
			for range a {
				f.Args = append(f.Args, randVal())
			}
			batch = append(batch, f)
			if len(batch) == 500 {
				apply(replica.Event{Kind: replica.KindBatch, Inserts: batch})
				batch = nil
			}
		}
	}
	if len(batch) > 0 {
		apply(replica.Event{Kind: replica.KindBatch, Inserts: batch})
	}
	if sp.deletes {
		apply(replica.Event{Kind: replica.KindBatch, Deletes: []replica.Pattern{
			{Predicate: "rel_1_0", Args: []replica.PatternArg{replica.AnyOf("User")}},
			{Predicate: "rel_2_0", Args: []replica.PatternArg{replica.AnyOf("Repo"), replica.Any()}},
		}})
	}
	return st
}

func export(st *replica.State) *replica.Export {
	v := st.Acquire()
	defer v.Release()
	return v.Export()
}

func digestOf(st *replica.State) string {
	v := st.Acquire()
	defer v.Release()
	return v.Digest()
}

// factSet lists every fact of st as sorted strings.
func factSet(st *replica.State) []string {
	v := st.Acquire()
	defer v.Release()
	var out []string
	v.Facts(replica.Pattern{}, func(f replica.Fact) bool {
		out = append(out, f.String())
		return true
	})
	slices.Sort(out)
	return out
}

var testCreated = time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)

func testHeader() snapshotter.Header {
	return snapshotter.Header{
		Env: "test", Tenant: "acme",
		Position: replica.Position{KafkaOffset: 41, JetStreamSeq: 77},
		Created:  testCreated,
	}
}

// encode writes ex with h and returns the file's bytes.
func encode(tb testing.TB, ex *replica.Export, h snapshotter.Header) []byte {
	tb.Helper()
	var buf bytes.Buffer
	st, err := snapshotter.Write(&buf, ex, h)
	if err != nil {
		tb.Fatalf("write: %v", err)
	}
	if st.Bytes != int64(buf.Len()) {
		tb.Fatalf("Stats.Bytes = %d, wrote %d", st.Bytes, buf.Len())
	}
	return buf.Bytes()
}

// smallFile returns a small valid checkpoint with every region present:
// a policy, tokens, several types, two relations.
func smallFile(tb testing.TB) []byte {
	tb.Helper()
	st := buildState(tb, stateSpec{seed: 1, facts: 6, arities: []int{1, 3}, policy: true, tokens: 2})
	return encode(tb, export(st), testHeader())
}

// reseal recomputes every block CRC and the trailer's whole-file CRC of a
// checkpoint whose framing is intact, so tests and the fuzzer can change
// payloads and reach the checks behind the checksums. It returns data
// unchanged when the framing does not parse.
func reseal(data []byte) []byte {
	const pre = len(snapshotter.Magic) + 4
	if len(data) < pre {
		return data
	}
	out := bytes.Clone(data)
	tab := crc32.MakeTable(crc32.Castagnoli)
	for off := pre; off+5 <= len(out); {
		n := int(binary.LittleEndian.Uint32(out[off+1:]))
		end := off + 5 + n
		if n < 0 || end+4 > len(out) || end+4 < off {
			return data
		}
		if out[off] == 'E' && n == 44 {
			binary.LittleEndian.PutUint32(out[end-4:], crc32.Checksum(out[:off], tab))
		}
		binary.LittleEndian.PutUint32(out[end:], crc32.Checksum(out[off:end], tab))
		off = end + 4
	}
	return out
}
