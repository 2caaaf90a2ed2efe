package osoapi

import (
	"encoding/json"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/testenv/datasets"
)

// benchUpstream serves GET /api/policy and GET /api/facts of the n-fact
// gitclub data set from pre-rendered bodies on a real loopback server, so
// that the benchmark measures the node's side only.
func benchUpstream(b *testing.B, n int) string {
	b.Helper()
	byPred := map[string][]replica.Fact{}
	if err := datasets.Generate(datasets.Config{Facts: n, Seed: 1}, func(f replica.Fact) error {
		byPred[f.Predicate] = append(byPred[f.Predicate], f)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	bodies := map[string][]byte{}
	for p, fs := range byPred {
		bodies[p], _ = json.Marshal(fs)
	}
	pol, _ := json.Marshal(map[string]any{"policy": map[string]any{"filename": datasets.PolicyFilename, "src": datasets.GitclubPolicy}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/policy" {
			w.Write(pol)
			return
		}
		body, ok := bodies[r.URL.Query().Get("predicate")]
		if !ok {
			body = []byte("[]")
		}
		w.Write(body)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// BenchmarkFetch measures a whole fetch (policy, every predicate, decoded
// into a new state) of the gitclub data set: facts/s on refresh, node side.
//
//	go test -run '^$' -bench BenchmarkFetch -benchtime 3x ./ingest/osoapi/
func BenchmarkFetch(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(label(n), func(b *testing.B) {
			url := benchUpstream(b, n)
			src, err := New(Config{URL: url, Token: "k", Replica: replica.Config{Env: "bench", Compiler: query.Compile}})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			for b.Loop() {
				st, _, err := src.fetch(b.Context(), 0, nil)
				if err != nil {
					b.Fatal(err)
				}
				_ = st
			}
			b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "facts/s")
			// CPU time of the process (the node's decoding and indexing,
			// plus the test server writing its bytes), which the machine's
			// load does not inflate.
			b.ReportMetric(float64(cpuTime()-cpu)/float64(n*b.N), "cpu-ns/fact")
		})
	}
}

// BenchmarkDiff measures comparing two states of n facts that differ by
// one fact (the work of a refresh after the fetch).
func BenchmarkDiff(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(label(n), func(b *testing.B) {
			url := benchUpstream(b, n)
			src, err := New(Config{URL: url, Token: "k", Replica: replica.Config{Env: "bench", Compiler: query.Compile}})
			if err != nil {
				b.Fatal(err)
			}
			old, _, err := src.fetch(b.Context(), 1, nil)
			if err != nil {
				b.Fatal(err)
			}
			cur, _, err := src.fetch(b.Context(), 0, nil)
			if err != nil {
				b.Fatal(err)
			}
			extra := replica.Event{Env: "bench", Seq: 2, Time: time.Now(), Kind: replica.KindBatch,
				Inserts: []replica.Fact{{Predicate: "has_role", Args: []replica.Value{{Type: "User", ID: "new"}, {Type: "String", ID: "admin"}, {Type: "Organization", ID: "o0"}}}}}
			if err := old.Apply(extra); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if c := Diff(old, cur); len(c.Deletes) != 1 {
					b.Fatalf("diff %+v", c)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "facts/s")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func label(n int) string {
	if n >= 1_000_000 {
		return itoa(n/1_000_000) + "M"
	}
	return itoa(n/1000) + "k"
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
