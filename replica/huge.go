package replica

import (
	"slices"
	"unsafe"
)

// hugeMin is the size from which an array is worth backing with
// transparent huge pages (see adviseHuge).
const hugeMin = 4 << 20

// makeHuge returns make([]T, n, c), asking the kernel (see adviseHuge) to
// back it with huge pages when it is large. T must hold no pointers.
func makeHuge[T any](n, c int) []T {
	s := make([]T, n, c)
	var zero T
	if size := uintptr(c) * unsafe.Sizeof(zero); size >= hugeMin {
		adviseHuge(unsafe.Pointer(unsafe.SliceData(s)), size)
	}
	return s
}

// growHuge is slices.Grow(s, n) through makeHuge. Like append it at least
// doubles a capacity it has to raise.
func growHuge[T any](s []T, n int) []T {
	if n <= cap(s)-len(s) {
		return s
	}
	var zero T
	if uintptr(len(s)+n)*unsafe.Sizeof(zero) < hugeMin {
		return slices.Grow(s, n)
	}
	g := makeHuge[T](len(s), max(len(s)+n, 2*cap(s)))
	copy(g, s)
	return g
}
