package ingest

import "testing"

func TestPeekSeq(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		seq  uint64
		ok   bool
	}{
		{"control plane order", `{"env":"prod","seq":42,"time":"2026-01-01T00:00:00Z","kind":"clear"}`, 42, true},
		{"seq last", `{"env":"prod","seq":7}`, 7, true},
		{"other key order", `{"kind":"clear","seq":9,"env":"prod"}`, 9, true},
		{"spaces", `{ "env" : "prod", "seq" : 3 }`, 3, true},
		{"escaped env falls back", `{"env":"a\",\"seq\":1,\"x","seq":5}`, 5, true},
		{"large", `{"env":"p","seq":18446744073709551615}`, 18446744073709551615, true},
		{"overflow", `{"env":"p","seq":18446744073709551616}`, 0, false},
		{"zero", `{"env":"p","seq":0}`, 0, false},
		{"leading zero", `{"env":"p","seq":01}`, 0, false},
		{"negative", `{"env":"p","seq":-1}`, 0, false},
		{"string", `{"env":"p","seq":"1"}`, 0, false},
		{"missing", `{"env":"p"}`, 0, false},
		{"not json", `seq 1`, 0, false},
		{"empty", ``, 0, false},
		{"truncated prefix", `{"env":"p","seq":12`, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq, ok := PeekSeq([]byte(tc.data))
			if seq != tc.seq || ok != tc.ok {
				t.Fatalf("PeekSeq(%s) = %d, %v; want %d, %v", tc.data, seq, ok, tc.seq, tc.ok)
			}
		})
	}
}

func BenchmarkPeekSeq(b *testing.B) {
	data := []byte(`{"env":"prod","seq":123456,"time":"2026-01-01T00:00:00Z","kind":"batch","inserts":[]}`)
	for b.Loop() {
		if _, ok := PeekSeq(data); !ok {
			b.Fatal("no seq")
		}
	}
}
