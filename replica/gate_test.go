package replica

import (
	"sync"
	"testing"
	"time"
)

// TestGateExcludes runs readers and a writer on a value that is only
// consistent when the writer is alone: each write sets both halves, each
// read checks they agree. Under -race it also checks that the gate orders
// the writer's stores before the readers' loads.
func TestGateExcludes(t *testing.T) {
	g := newGate()
	var a, b int
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				g.rlock()
				x, y := a, b
				g.runlock()
				if x != y {
					t.Errorf("reader saw a half-done write: %d, %d", x, y)
					return
				}
			}
		})
	}
	for i := range 2000 {
		g.lock()
		a = i
		time.Sleep(0) // let a broken gate show the half-done write
		b = i
		g.unlock()
	}
	close(stop)
	wg.Wait()
}

// TestGateWriterWaitsForLongReader holds a view far longer than the
// writer spins: the writer must block until the reader leaves, and a
// reader arriving meanwhile must wait for the writer (writer preference).
func TestGateWriterWaitsForLongReader(t *testing.T) {
	g := newGate()
	g.rlock()
	wrote := make(chan struct{})
	go func() {
		g.lock()
		close(wrote)
		time.Sleep(10 * time.Millisecond)
		g.unlock()
	}()
	waitFor(t, "the writer to announce itself", func() bool { return g.writer.Load() })
	read := make(chan struct{})
	go func() {
		g.rlock()
		select {
		case <-wrote:
		default:
			t.Error("a reader entered ahead of the waiting writer")
		}
		g.runlock()
		close(read)
	}()
	time.Sleep(5 * writerSpin) // past the spin: the writer blocks
	select {
	case <-wrote:
		t.Fatal("the writer entered while a reader was inside")
	default:
	}
	g.runlock()
	<-wrote
	<-read
}

// TestGateReadersWaitForLongWrite holds the write side far longer than
// readers spin: readers must block and all get in once it is released.
func TestGateReadersWaitForLongWrite(t *testing.T) {
	g := newGate()
	g.lock()
	var wg sync.WaitGroup
	var mu sync.Mutex
	released := false
	for range 8 {
		wg.Go(func() {
			g.rlock()
			mu.Lock()
			ok := released
			mu.Unlock()
			g.runlock()
			if !ok {
				t.Error("a reader entered while the writer was inside")
			}
		})
	}
	time.Sleep(5 * readerSpin) // past the spin: the readers block
	mu.Lock()
	released = true
	mu.Unlock()
	g.unlock()
	wg.Wait()
	g.lock() // and the gate is usable again
	g.unlock()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
