package datasets

import (
	"io"
	"strconv"
	"testing"

	"github.com/outpost-authz/outpost/replica"
)

// BenchmarkGenerate measures generation alone (emit does nothing). Run:
//
//	go test -run '^$' -bench Generate -benchtime 3x ./testenv/datasets/
func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Generate(Config{Facts: n, Seed: 1}, func(replica.Fact) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "facts/s")
		})
	}
}

func BenchmarkWriteJSONLines(b *testing.B) {
	const n = 1_000_000
	b.ReportAllocs()
	for b.Loop() {
		if _, err := WriteJSONLines(io.Discard, Config{Facts: n, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "facts/s")
}

func BenchmarkEvents(b *testing.B) {
	const n = 1_000_000
	b.ReportAllocs()
	for b.Loop() {
		if err := Events(Config{Facts: n, Seed: 1}, "bench", 100, func(replica.Event) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "facts/s")
}

func BenchmarkDescribe10M(b *testing.B) {
	for b.Loop() {
		if _, err := Describe(Config{Facts: 10_000_000, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
