package snapshotter_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// regionAt returns the region of info that holds byte off.
func regionAt(info snapshotter.Info, off int) snapshotter.Region {
	for _, r := range info.Regions {
		if int64(off) >= r.Offset && int64(off) < r.Offset+r.Length {
			return r
		}
	}
	return snapshotter.Region{}
}

// baseName drops the parenthesised relation name that Inspect adds once a
// relation block is decoded ("relation 2 (has_role/3)" -> "relation 2").
func baseName(region string) string {
	if i := strings.Index(region, " ("); i >= 0 {
		return region[:i]
	}
	return region
}

func isFormatErr(err error) bool {
	return errors.Is(err, snapshotter.ErrCorrupt) || errors.Is(err, snapshotter.ErrTruncated) ||
		errors.Is(err, snapshotter.ErrVersion) || errors.Is(err, snapshotter.ErrNotCheckpoint)
}

// TestEveryRegionCovered checks that the regions Inspect reports tile the
// small test file and include every kind of region.
func TestEveryRegionCovered(t *testing.T) {
	data := smallFile(t)
	info, err := snapshotter.Inspect(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	next := int64(0)
	kinds := map[string]bool{}
	for _, r := range info.Regions {
		if r.Offset != next {
			t.Fatalf("region %q starts at %d, want %d", r.Name, r.Offset, next)
		}
		next += r.Length
		kinds[strings.Fields(r.Name)[0]] = true
	}
	if next != int64(len(data)) {
		t.Fatalf("regions end at %d, file has %d bytes", next, len(data))
	}
	for _, k := range []string{"magic", "version", "header", "policy", "tokens", "types", "values", "relation", "facts", "trailer"} {
		if !kinds[k] {
			t.Errorf("no %s region in %v", k, info.Regions)
		}
	}
	if len(info.Relations) != 2 {
		t.Errorf("relations %+v", info.Relations)
	}
}

// TestFlipEveryByte flips each byte of a small file (all bits, then the
// lowest bit) and checks that Read and Inspect reject it with an error that
// names the region holding the byte.
func TestFlipEveryByte(t *testing.T) {
	data := smallFile(t)
	info, err := snapshotter.Inspect(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, mask := range []byte{0xff, 0x01} {
		for off := range data {
			bad := bytes.Clone(data)
			bad[off] ^= mask
			region := baseName(regionAt(info, off).Name)
			seen[strings.Fields(region)[0]]++
			st, _, err := snapshotter.Read(bytes.NewReader(bad), replica.Config{})
			if err == nil || st != nil {
				t.Fatalf("byte %d (%s) ^ %#x: Read accepted the file", off, region, mask)
			}
			if !isFormatErr(err) {
				t.Fatalf("byte %d (%s) ^ %#x: error %v wraps no format sentinel", off, region, mask, err)
			}
			if !strings.Contains(err.Error(), region) {
				t.Fatalf("byte %d ^ %#x: error %q does not name region %q", off, mask, err, region)
			}
			if _, err := snapshotter.Inspect(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), region) {
				t.Fatalf("byte %d ^ %#x: Inspect error %v does not name region %q", off, mask, err, region)
			}
		}
	}
	t.Logf("%d bytes flipped twice; by region kind: %v", len(data), seen)
}

// TestTruncateEveryOffset cuts a small file at every length below its size.
func TestTruncateEveryOffset(t *testing.T) {
	data := smallFile(t)
	for n := range len(data) {
		st, _, err := snapshotter.Read(bytes.NewReader(data[:n]), replica.Config{})
		if err == nil || st != nil {
			t.Fatalf("truncated to %d bytes: Read accepted the file", n)
		}
		if !errors.Is(err, snapshotter.ErrTruncated) {
			t.Fatalf("truncated to %d bytes: %v, want ErrTruncated", n, err)
		}
		if _, err := snapshotter.Inspect(bytes.NewReader(data[:n])); !errors.Is(err, snapshotter.ErrTruncated) {
			t.Fatalf("Inspect, truncated to %d bytes: %v, want ErrTruncated", n, err)
		}
	}
}

// TestTruncateLarge cuts a multi-chunk file at many offsets.
func TestTruncateLarge(t *testing.T) {
	st := buildState(t, stateSpec{seed: 9, facts: 60_000, arities: []int{2, 3}, relations: 3, policy: true})
	data := encode(t, export(st), testHeader())
	for n := 0; n < len(data); n += 1 + n/7 {
		if _, _, err := snapshotter.Read(bytes.NewReader(data[:n]), replica.Config{}); !errors.Is(err, snapshotter.ErrTruncated) {
			t.Fatalf("truncated to %d of %d bytes: %v, want ErrTruncated", n, len(data), err)
		}
	}
}

func TestRejectedFiles(t *testing.T) {
	valid := smallFile(t)
	withVersion := func(v uint32) []byte {
		b := bytes.Clone(valid)
		binary.LittleEndian.PutUint32(b[len(snapshotter.Magic):], v)
		return b
	}
	cases := []struct {
		name     string
		data     []byte
		sentinel error
		message  string
	}{
		{"empty", nil, snapshotter.ErrTruncated, "file is empty"},
		{"zeros", make([]byte, 4096), snapshotter.ErrNotCheckpoint, "magic"},
		{"short zeros", make([]byte, 3), snapshotter.ErrNotCheckpoint, "magic"},
		{"wrong magic", append([]byte("OUTPOSTX"), valid[8:]...), snapshotter.ErrNotCheckpoint, `want "OUTPOSTC"`},
		{"text", []byte("{\"events\":[]}\n"), snapshotter.ErrNotCheckpoint, "magic"},
		{"newer version", withVersion(snapshotter.FormatVersion + 1), snapshotter.ErrVersion, "this build reads versions 1 to 1"},
		{"version 0", withVersion(0), snapshotter.ErrVersion, "format version 0"},
		{"trailing data", append(bytes.Clone(valid), 0), snapshotter.ErrCorrupt, "data follows the trailer"},
		{"two files", append(bytes.Clone(valid), valid...), snapshotter.ErrCorrupt, "data follows the trailer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, _, err := snapshotter.Read(bytes.NewReader(c.data), replica.Config{})
			if st != nil || !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.message) {
				t.Fatalf("Read: %v; want %v mentioning %q", err, c.sentinel, c.message)
			}
			if _, err := snapshotter.Inspect(bytes.NewReader(c.data)); !errors.Is(err, c.sentinel) {
				t.Fatalf("Inspect: %v; want %v", err, c.sentinel)
			}
		})
	}
}

// TestForgedCounts changes counts and lengths behind valid checksums
// (reseal) and checks that absurd ones are rejected before anything large
// is allocated.
func TestForgedCounts(t *testing.T) {
	valid := smallFile(t)
	info, err := snapshotter.Inspect(bytes.NewReader(valid))
	if err != nil {
		t.Fatal(err)
	}
	region := func(prefix string) snapshotter.Region {
		for _, r := range info.Regions {
			if strings.HasPrefix(r.Name, prefix) {
				return r
			}
		}
		t.Fatalf("no region %q", prefix)
		return snapshotter.Region{}
	}
	hdr := int(region("header").Offset) + 5 // payload start
	rel := int(region("relation 1").Offset) + 5
	put64 := func(at int, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[at:], v) }
	}
	cases := []struct {
		name    string
		edit    func([]byte)
		message string
	}{
		{"2^40 values", put64(hdr+32, 1<<40), "values; the limit is"},
		{"2^41 facts", put64(hdr+40, 1<<41), "facts; the limit is"},
		{"more relations than facts", put64(hdr+48, 1<<30), "relations but"},
		{"huge header length", func(b []byte) { binary.LittleEndian.PutUint32(b[hdr-4:], 1<<31) }, "exceeds the limit"},
		{"huge policy length", func(b []byte) {
			binary.LittleEndian.PutUint32(b[region("policy").Offset+1:], 0xffffffff)
		}, "exceeds the limit"},
		{"relation facts beyond header", func(b []byte) {
			// name length byte, name, arity byte, then the u64 count
			n := int(b[rel])
			binary.LittleEndian.PutUint64(b[rel+1+n+1:], 1<<39)
		}, "facts;"},
		{"many facts declared, none present", func(b []byte) {
			binary.LittleEndian.PutUint64(b[hdr+40:], 1<<39)
			n := int(b[rel])
			binary.LittleEndian.PutUint64(b[rel+1+n+1:], 1<<39-1)
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Clone(valid)
			c.edit(b)
			b = reseal(b)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			st, _, err := snapshotter.Read(bytes.NewReader(b), replica.Config{})
			runtime.ReadMemStats(&after)
			if st != nil || !isFormatErr(err) || !strings.Contains(err.Error(), c.message) {
				t.Fatalf("Read: %v; want a format error mentioning %q", err, c.message)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("Read allocated %d MiB before rejecting the file", alloc>>20)
			}
			t.Log(err)
		})
	}
}

// TestDigestMismatch changes the header digest behind valid checksums.
func TestDigestMismatch(t *testing.T) {
	st := buildState(t, stateSpec{seed: 3, facts: 50, arities: []int{2}, policy: true})
	h := testHeader()
	data := encode(t, export(st), h)
	want := []byte(digestOf(st))
	i := bytes.Index(data, want)
	if i < 0 {
		t.Fatal("digest not found in file")
	}
	data[i+len(want)-1] ^= 1 // still hex-looking, wrong
	data = reseal(data)
	_, _, err := snapshotter.Read(bytes.NewReader(data), replica.Config{})
	if !errors.Is(err, snapshotter.ErrCorrupt) || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("Read: %v; want a digest mismatch", err)
	}
	if _, err := snapshotter.Inspect(bytes.NewReader(data)); !errors.Is(err, snapshotter.ErrCorrupt) {
		t.Fatalf("Inspect: %v; want a digest mismatch", err)
	}
}
