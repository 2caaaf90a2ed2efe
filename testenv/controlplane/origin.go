package controlplane

import "sync"

// digestCache remembers the state digest of the last revision asked for,
// so that long-polls answering at the same revision hash the policy once.
type digestCache struct {
	mu     sync.Mutex // guards seq, digest
	seq    uint64
	digest string
}

// digestNow returns the state digest and the seq it is at, from one view.
func (s *Server) digestNow() (string, uint64) {
	v := s.state.Acquire()
	defer v.Release()
	seq := v.Revision()
	s.dcache.mu.Lock()
	defer s.dcache.mu.Unlock()
	if s.dcache.digest == "" || s.dcache.seq != seq {
		s.dcache.seq, s.dcache.digest = seq, v.Digest()
	}
	return s.dcache.digest, seq
}
