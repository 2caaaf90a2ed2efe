package replica

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// gate is the State's reader/writer lock, made for many short readers
// (one per question) and a writer whose holds are short (one piece of an
// event, see insertPieces).
//
// With sync.RWMutex a writer that arrives while a reader is inside parks
// until the reader leaves, and every reader arriving meanwhile parks
// behind it; each park costs a wake-up, far more than the hold itself,
// and it lands on the readers' tail latency. The gate waits by spinning
// instead: the writer announces itself and spins until the readers inside
// have left (they take microseconds), and readers that meet a writer spin
// until it has left. Both fall back to blocking when the wait is long (a
// heavy question inside, or a long hold: a clear, a batch with deletes),
// so nobody burns a core for long.
//
// Like sync.RWMutex it prefers the writer: once a writer has announced
// itself, new readers wait, so a goroutine must not take the read side
// twice.
type gate struct {
	readers atomic.Int32 // readers inside
	writer  atomic.Bool  // a writer is inside or waiting for readers to leave

	wmu     sync.Mutex    // one writer at a time
	mu      sync.Mutex    // guards left
	left    chan struct{} // closed when the current writer leaves
	drained chan struct{} // the last reader out tells a blocked writer
}

// Spin limits: how long a waiting reader or writer spins before it
// blocks. A piece of an event takes well under readerSpin.
const (
	readerSpin = 50 * time.Microsecond
	writerSpin = 20 * time.Microsecond
	spinCheck  = 64 // tries between clock reads and yields
)

func newGate() *gate {
	return &gate{drained: make(chan struct{}, 1)}
}

// rlock enters as a reader.
func (g *gate) rlock() {
	for {
		g.readers.Add(1)
		if !g.writer.Load() {
			return
		}
		// A writer is inside or waiting: step out (it may be waiting for
		// this very count) and wait for it to leave.
		g.runlock()
		g.waitWriter()
	}
}

// runlock leaves as a reader.
func (g *gate) runlock() {
	if g.readers.Add(-1) == 0 && g.writer.Load() {
		select {
		case g.drained <- struct{}{}:
		default: // a signal is already pending
		}
	}
}

// waitWriter returns once no writer is inside or waiting, or once the
// writer seen has left.
func (g *gate) waitWriter() {
	if spinUntil(func() bool { return !g.writer.Load() }, readerSpin) {
		return
	}
	g.mu.Lock()
	left := g.left
	g.mu.Unlock()
	if g.writer.Load() && left != nil {
		<-left
	}
}

// lock enters as the writer, once every reader inside has left.
func (g *gate) lock() {
	g.wmu.Lock()
	g.mu.Lock()
	g.left = make(chan struct{})
	g.mu.Unlock()
	g.writer.Store(true)
	if spinUntil(func() bool { return g.readers.Load() == 0 }, writerSpin) {
		return
	}
	// A long reader: block until the last one out signals. A stale signal
	// only costs another look at the count.
	for g.readers.Load() != 0 {
		<-g.drained
	}
}

// unlock leaves as the writer and releases the readers waiting for it.
func (g *gate) unlock() {
	g.writer.Store(false)
	g.mu.Lock()
	close(g.left)
	g.mu.Unlock()
	g.wmu.Unlock()
}

// spinUntil spins until done reports true, for about limit at most,
// yielding the processor every spinCheck tries; it reports whether done
// came true.
func spinUntil(done func() bool, limit time.Duration) bool {
	var deadline time.Time
	for i := 1; !done(); i++ {
		if i%spinCheck != 0 {
			continue
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(limit)
		} else if now.After(deadline) {
			return false
		}
		runtime.Gosched()
	}
	return true
}
