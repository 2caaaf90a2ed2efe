package snapshotter_test

import (
	"bytes"
	"flag"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// -snapfacts runs BenchmarkWrite, BenchmarkRead and BenchmarkStoreSave at
// another size (docs/checkpoint-format.md reports 10M).
var snapFacts = flag.Int("snapfacts", 1_000_000, "facts in the gitclub data set of the checkpoint benchmarks")

var gitclubCache sync.Map // facts -> *replica.State

// gitclub loads the synthetic gitclub data set of n facts (seed 1).
func gitclub(tb testing.TB, n int) *replica.State {
	tb.Helper()
	if st, ok := gitclubCache.Load(n); ok {
		return st.(*replica.State)
	}
	l := replica.NewLoader(replica.Config{Env: "bench"})
	if err := l.SetPolicy(replica.PolicySource{Src: datasets.GitclubPolicy, Filename: datasets.PolicyFilename}); err != nil {
		tb.Fatal(err)
	}
	args := make([]uint32, 0, 8)
	err := datasets.Generate(datasets.Config{Facts: n, Seed: 1}, func(f replica.Fact) error {
		args = args[:0]
		for _, a := range f.Args {
			args = append(args, l.AddValue(a.Type, a.ID))
		}
		return l.AddFact(f.Predicate, args)
	})
	if err != nil {
		tb.Fatal(err)
	}
	st, err := l.Finish(1)
	if err != nil {
		tb.Fatal(err)
	}
	gitclubCache.Store(n, st)
	return st
}

func benchHeader() snapshotter.Header {
	return snapshotter.Header{Env: "bench", Position: replica.Position{Seq: 1, KafkaOffset: -1}}
}

// BenchmarkWrite encodes the gitclub state to memory (no disk).
func BenchmarkWrite(b *testing.B) {
	n := *snapFacts
	ex := export(gitclub(b, n))
	var size int64
	b.ResetTimer()
	for b.Loop() {
		st, err := snapshotter.Write(io.Discard, ex, benchHeader())
		if err != nil {
			b.Fatal(err)
		}
		size = st.Bytes
	}
	reportRates(b, n)
	b.ReportMetric(float64(size)/float64(n), "bytes/fact")
	b.ReportMetric(float64(size), "file-bytes")
}

// BenchmarkRead decodes and loads the gitclub checkpoint from memory,
// including index builds and the digest check.
func BenchmarkRead(b *testing.B) {
	n := *snapFacts
	var buf bytes.Buffer
	if _, err := snapshotter.Write(&buf, export(gitclub(b, n)), benchHeader()); err != nil {
		b.Fatal(err)
	}
	gitclubCache.Delete(n) // let the source state go
	runtime.GC()
	data := buf.Bytes()
	var st *replica.State
	b.ResetTimer()
	for b.Loop() {
		st = nil
		var err error
		if st, _, err = snapshotter.Read(bytes.NewReader(data), replica.Config{Env: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRates(b, n)
	b.ReportMetric(float64(len(data))/float64(n), "bytes/fact")
	runtime.KeepAlive(st)
}

// BenchmarkStoreSave writes the gitclub checkpoint to disk through a Store
// (temp file, fsync, rename, directory fsync) and loads it back.
func BenchmarkStoreSave(b *testing.B) {
	n := *snapFacts
	ex := export(gitclub(b, n))
	dir := b.TempDir()
	s, err := snapshotter.OpenStore(dir, 2)
	if err != nil {
		b.Fatal(err)
	}
	var path string
	b.ResetTimer()
	for b.Loop() {
		if path, _, err = s.Save(ex, benchHeader()); err != nil {
			b.Fatal(err)
		}
	}
	reportRates(b, n)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/float64(n), "bytes/fact")
}

// reportRates reports facts per second of wall time.
func reportRates(b *testing.B, n int) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "facts/s")
}

// BenchmarkLoaderBaseline feeds the same values and facts to a
// replica.Loader straight from memory: the floor under BenchmarkRead, which
// adds reading, checksums and decoding.
func BenchmarkLoaderBaseline(b *testing.B) {
	n := *snapFacts
	ex := export(gitclub(b, n))
	gitclubCache.Delete(n)
	var types, ids []string
	ex.ForEachValue(func(_ uint32, typ, id string) bool {
		types, ids = append(types, typ), append(ids, id)
		return true
	})
	type rel struct {
		name  string
		arity int
		data  []uint32
	}
	var rels []rel
	for _, r := range ex.Relations() {
		x := rel{name: r.Name, arity: r.Arity, data: make([]uint32, 0, r.Len*r.Arity)}
		ex.ForEachTuple(r.ID, func(t []uint32) bool {
			x.data = append(x.data, t...)
			return true
		})
		rels = append(rels, x)
	}
	ex = nil
	runtime.GC()
	var st *replica.State
	b.ResetTimer()
	for b.Loop() {
		st = nil
		l := replica.NewLoader(replica.Config{Env: "bench"})
		l.ReserveValues(len(ids))
		for i := range ids {
			l.AddValue(types[i], ids[i])
		}
		for _, r := range rels {
			l.Reserve(r.name, r.arity, len(r.data)/r.arity)
			for i := 0; i < len(r.data); i += r.arity {
				if err := l.AddFact(r.name, r.data[i:i+r.arity]); err != nil {
					b.Fatal(err)
				}
			}
		}
		var err error
		if st, err = l.Finish(1); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRates(b, n)
	runtime.KeepAlive(st)
}
