package controlplane

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/outpost-authz/outpost/replica"
)

// The event log file (events.log in the data directory):
//
//	header  "OPCPLOG1" | log id (8 bytes) | base seq (uint64 BE) | CRC32C of the previous 24 bytes (uint32 BE)
//	record  payload length n (uint32 BE) | CRC32C of (length bytes + payload) (uint32 BE) | payload (n bytes: the event's JSON)
//	record  ...
//
// Records hold the events base+1, base+2, ... in order, with no gaps. The log
// id, rendered as 16 lower-case hex digits, names this log in OsoOffset
// tokens and in /status. The header is written to a temporary file, fsynced
// and renamed into place, so a log either exists with a valid header or not at
// all. Each append is one write of header+payload followed by fsync before the
// write is acknowledged.
//
// On open, records are verified in order. A damaged record that is the last
// thing in the file (its header or payload runs past the end, its checksum
// fails and nothing follows it, or everything from it to the end is zero
// bytes) is a torn append that was never acknowledged: the file is truncated
// there. Any other damage - a bad record followed by more data, a valid record
// that does not decode, a seq out of order - is corruption in the middle, and
// opening fails with ErrCorrupt.

// ErrCorrupt marks an event log damaged somewhere other than a torn tail.
var ErrCorrupt = errors.New("event log is corrupt")

const (
	logFileName   = "events.log"
	logMagic      = "OPCPLOG1"
	logHeaderLen  = 28
	recHeaderLen  = 8
	maxRecordSize = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// eventLog is the append-only log file. Appends are serialised by the
// caller (the Server's write mutex); reads may run concurrently with them.
type eventLog struct {
	path string
	f    *os.File
	id   string
	base uint64

	mu sync.RWMutex
	// Guarded by mu: offs[i] is the file offset of the record of seq
	// base+1+i (committed records only); size is the committed file size.
	offs []int64
	size int64
}

// openLog opens (creating when missing) the log in dir, verifies it, truncates
// a torn tail and calls replay with each event in order.
func openLog(dir, env string, logger *slog.Logger, replay func(replica.Event) error) (*eventLog, error) {
	path := filepath.Join(dir, logFileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := createLog(dir, path); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	l := &eventLog{path: path, f: f}
	if err := l.load(env, logger, replay); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

func createLog(dir, path string) error {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return fmt.Errorf("create event log: %w", err)
	}
	hdr := make([]byte, 0, logHeaderLen)
	hdr = append(hdr, logMagic...)
	hdr = append(hdr, id[:]...)
	hdr = binary.BigEndian.AppendUint64(hdr, 0)
	hdr = binary.BigEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, hdr); err != nil {
		return fmt.Errorf("create event log: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("create event log: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("create event log: %w", err)
	}
	return nil
}

// load reads and verifies the header and every record.
func (l *eventLog) load(env string, logger *slog.Logger, replay func(replica.Event) error) error {
	st, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("open event log: %w", err)
	}
	size := st.Size()
	hdr := make([]byte, logHeaderLen)
	if _, err := l.f.ReadAt(hdr, 0); err != nil {
		return fmt.Errorf("open event log %s: %w: header: %v", l.path, ErrCorrupt, err)
	}
	if string(hdr[:8]) != logMagic {
		return fmt.Errorf("open event log %s: %w: bad magic %q", l.path, ErrCorrupt, hdr[:8])
	}
	if crc32.Checksum(hdr[:24], castagnoli) != binary.BigEndian.Uint32(hdr[24:]) {
		return fmt.Errorf("open event log %s: %w: header checksum mismatch", l.path, ErrCorrupt)
	}
	l.id = hex.EncodeToString(hdr[8:16])
	l.base = binary.BigEndian.Uint64(hdr[16:24])

	r := bufio.NewReaderSize(io.NewSectionReader(l.f, logHeaderLen, size-logHeaderLen), 1<<20)
	off := int64(logHeaderLen)
	seq := l.base
	rh := make([]byte, recHeaderLen)
	var payload []byte
	for off < size {
		torn := func(why string) error {
			logger.Warn("event log: truncating torn tail", "offset", off, "bytes", size-off, "after_seq", seq, "reason", why)
			if err := l.f.Truncate(off); err != nil {
				return fmt.Errorf("truncate event log: %w", err)
			}
			if err := l.f.Sync(); err != nil {
				return fmt.Errorf("truncate event log: %w", err)
			}
			size = off
			return nil
		}
		corrupt := func(why string) error {
			return fmt.Errorf("open event log %s: %w: record at offset %d (after seq %d): %s, and %d more bytes follow it; refusing to start",
				l.path, ErrCorrupt, off, seq, why, size-off)
		}
		if size-off < recHeaderLen {
			if err := torn("incomplete record header"); err != nil {
				return err
			}
			break
		}
		if _, err := io.ReadFull(r, rh); err != nil {
			return fmt.Errorf("read event log: %w", err)
		}
		n := int64(binary.BigEndian.Uint32(rh[:4]))
		sum := binary.BigEndian.Uint32(rh[4:])
		end := off + recHeaderLen + n
		if n == 0 || n > maxRecordSize || end > size {
			zero, err := l.zeroFrom(off, size)
			if err != nil {
				return err
			}
			if end > size || zero {
				if err := torn("record runs past the end of the file"); err != nil {
					return err
				}
				break
			}
			return corrupt(fmt.Sprintf("implausible length %d", n))
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return fmt.Errorf("read event log: %w", err)
		}
		if recordCRC(rh[:4], payload) != sum {
			zero, err := l.zeroFrom(off, size)
			if err != nil {
				return err
			}
			if end == size || zero {
				if err := torn("checksum mismatch in the last record"); err != nil {
					return err
				}
				break
			}
			return corrupt("checksum mismatch")
		}
		ev, err := replica.DecodeEvent(payload)
		if err != nil {
			return corrupt(err.Error())
		}
		if ev.Seq != seq+1 {
			return corrupt(fmt.Sprintf("holds seq %d, want %d", ev.Seq, seq+1))
		}
		if ev.Env != env {
			return fmt.Errorf("open event log %s: it holds environment %q, this control plane serves %q", l.path, ev.Env, env)
		}
		if err := replay(ev); err != nil {
			return fmt.Errorf("replay event log %s: seq %d: %w", l.path, ev.Seq, err)
		}
		l.offs = append(l.offs, off)
		seq++
		off = end
	}
	l.size = size
	return nil
}

// zeroFrom reports whether the file holds only zero bytes from off to size.
func (l *eventLog) zeroFrom(off, size int64) (bool, error) {
	buf := make([]byte, 64<<10)
	r := io.NewSectionReader(l.f, off, size-off)
	for {
		n, err := r.Read(buf)
		if bytes.ContainsFunc(buf[:n], func(r rune) bool { return r != 0 }) {
			return false, nil
		}
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("read event log: %w", err)
		}
	}
}

func recordCRC(lenBytes, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, lenBytes)
	return crc32.Update(c, castagnoli, payload)
}

// ID returns the log id.
func (l *eventLog) ID() string { return l.id }

// head returns the seq of the last committed record.
func (l *eventLog) head() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.base + uint64(len(l.offs))
}

// write appends one record after the committed end of the file and fsyncs
// it. It does not commit the record: the caller calls commit, or rollback
// when the event turns out not to apply. The caller serialises writes.
func (l *eventLog) write(payload []byte) error {
	if len(payload) == 0 || len(payload) > maxRecordSize {
		return fmt.Errorf("append event: %d bytes is not a valid record size", len(payload))
	}
	l.mu.RLock()
	off := l.size
	l.mu.RUnlock()
	buf := make([]byte, recHeaderLen, recHeaderLen+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[4:], recordCRC(buf[:4], payload))
	buf = append(buf, payload...)
	if _, err := l.f.WriteAt(buf, off); err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("append event: fsync: %w", err)
	}
	return nil
}

// commit makes the record written last visible to readers.
func (l *eventLog) commit(payloadLen int) {
	l.mu.Lock()
	l.offs = append(l.offs, l.size)
	l.size += recHeaderLen + int64(payloadLen)
	l.mu.Unlock()
}

// rollback removes a written but uncommitted record.
func (l *eventLog) rollback() error {
	l.mu.RLock()
	size := l.size
	l.mu.RUnlock()
	if err := l.f.Truncate(size); err != nil {
		return fmt.Errorf("roll back event: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("roll back event: %w", err)
	}
	return nil
}

// read returns the JSON of committed events first, first+1, ... up to
// limit events or the head. first must be > base.
func (l *eventLog) read(first uint64, limit int) ([][]byte, error) {
	l.mu.RLock()
	head := l.base + uint64(len(l.offs))
	if first <= l.base || first > head || limit <= 0 {
		l.mu.RUnlock()
		return nil, nil
	}
	last := min(head, first+uint64(limit)-1)
	start := l.offs[first-l.base-1]
	end := l.size
	if last < head {
		end = l.offs[last-l.base]
	}
	l.mu.RUnlock()

	buf := make([]byte, end-start)
	if _, err := l.f.ReadAt(buf, start); err != nil {
		return nil, fmt.Errorf("read events %d-%d: %w", first, last, err)
	}
	out := make([][]byte, 0, last-first+1)
	for seq := first; seq <= last; seq++ {
		if len(buf) < recHeaderLen {
			return nil, fmt.Errorf("read event %d: %w: short record", seq, ErrCorrupt)
		}
		n := binary.BigEndian.Uint32(buf)
		if uint64(len(buf)-recHeaderLen) < uint64(n) || recordCRC(buf[:4], buf[recHeaderLen:recHeaderLen+n]) != binary.BigEndian.Uint32(buf[4:]) {
			return nil, fmt.Errorf("read event %d: %w: checksum mismatch", seq, ErrCorrupt)
		}
		out = append(out, buf[recHeaderLen:recHeaderLen+n:recHeaderLen+n])
		buf = buf[recHeaderLen+n:]
	}
	return out, nil
}

func (l *eventLog) close() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("close event log: %w", err)
	}
	return nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
