package replica

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

func TestGrowHuge(t *testing.T) {
	for _, c := range []struct{ len, grow int }{{0, 10}, {3, 1 << 10}, {5, hugeMin}, {hugeMin / 4, hugeMin / 2}} {
		s := make([]uint32, c.len, c.len+1)
		for i := range s {
			s[i] = uint32(i + 1)
		}
		g := growHuge(s, c.grow)
		if len(g) != c.len || cap(g)-len(g) < c.grow {
			t.Fatalf("growHuge(len %d, %d): len %d cap %d", c.len, c.grow, len(g), cap(g))
		}
		for i := range g {
			if g[i] != uint32(i+1) {
				t.Fatalf("growHuge(len %d, %d): element %d is %d", c.len, c.grow, i, g[i])
			}
		}
		if full := g[:cap(g)]; full[len(full)-1] != 0 {
			t.Fatalf("growHuge(len %d, %d): spare capacity not zeroed", c.len, c.grow)
		}
	}
	s := make([]uint32, 2, 100)
	if g := growHuge(s, 50); unsafe.SliceData(g) != unsafe.SliceData(s) {
		t.Error("growHuge reallocated a slice with room to spare")
	}
}

func TestGodebugSet(t *testing.T) {
	for _, c := range []struct {
		env  string
		want bool
	}{{"", false}, {"disablethp=1", true}, {"gctrace=1, disablethp=1", true}, {"disablethp=0", false}, {"xdisablethp=1", false}} {
		if got := godebugSet(c.env, "disablethp"); got != c.want {
			t.Errorf("godebugSet(%q) = %v, want %v", c.env, got, c.want)
		}
	}
}

// TestMakeHugeAdvises checks in /proc/self/smaps that a large array's
// mapping carries the huge-page advice ("hg" in VmFlags).
func TestMakeHugeAdvises(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("huge-page advice is Linux only")
	}
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("this kernel has no transparent huge pages")
	}
	if hugeOff {
		t.Skip("GODEBUG=disablethp=1")
	}
	s := makeHuge[uint64](4<<20, 4<<20) // 32 MiB
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(s))) + 16<<20
	flags, err := vmFlags(addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("mapping of a 32 MiB array has VmFlags %q, want hg", flags)
	}
	runtime.KeepAlive(s)
}

// vmFlags returns the VmFlags line of the mapping that holds addr.
func vmFlags(addr uintptr) (string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line, " ") {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:")), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no mapping holds %#x", addr)
}
