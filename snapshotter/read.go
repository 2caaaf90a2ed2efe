package snapshotter

import (
	"fmt"
	"io"

	"github.com/outpost-authz/outpost/replica"
)

// Read decodes a checkpoint from r as a stream and builds its state with
// cfg (the policy is compiled with cfg.Compiler). It verifies everything
// before returning a state: the magic and version, each block's CRC32C,
// every length, count and symbol, the trailer's totals and whole-file
// CRC32C, that nothing follows the trailer, that no fact is repeated, and
// that the state digest recomputed from the loaded state equals the
// header's. It never returns a partial state.
//
// Errors wrap ErrNotCheckpoint, ErrVersion, ErrTruncated or ErrCorrupt
// (as a *FormatError naming the region and byte offset), ErrWrongEnv when
// cfg.Env is set and the file belongs to another environment, the
// Compiler's error, or an I/O error of r. On error the returned Header
// holds whatever was decoded before it.
//
// Memory beyond the state itself stays bounded: a 64 KiB read buffer, one
// block (at most 1 MiB after the policy) and one chunk of decoded symbols.
func Read(r io.Reader, cfg replica.Config) (*replica.State, Header, error) {
	ls := &loadSink{cfg: cfg, l: replica.NewLoader(cfg)}
	var info Info
	d := newDecoder(r, ls, &info)
	if err := d.run(); err != nil {
		return nil, info.Header, err
	}
	h := info.Header
	if err := ls.l.SetTokens(d.tokens); err != nil {
		return nil, h, d.fail(ErrCorrupt, "tokens", 0, "%v", err)
	}
	if err := ls.l.SetPolicy(d.policy); err != nil {
		return nil, h, fmt.Errorf("load checkpoint policy: %w", err)
	}
	st, err := ls.l.Finish(h.Position.Seq)
	if err != nil {
		return nil, h, d.fail(ErrCorrupt, "facts", 0, "%v", err)
	}
	v := st.Acquire()
	digest := v.Digest()
	v.Release()
	if digest != h.Digest {
		return nil, h, d.fail(ErrCorrupt, "header", 0, "the state digest recomputed from the file is %s; the header says %s", digest, h.Digest)
	}
	return st, h, nil
}

// loadSink feeds a replica.Loader, reserving room in steps as data arrives
// (see reserveStep).
type loadSink struct {
	cfg replica.Config
	l   *replica.Loader
	h   *Header

	nvals, valsReserved uint64

	pred             string
	arity            int
	relFacts, loaded uint64
	rowsReserved     uint64
}

func (s *loadSink) header(h *Header) error {
	if s.cfg.Env != "" && h.Env != "" && h.Env != s.cfg.Env {
		return fmt.Errorf("load checkpoint: %w: it holds environment %q, this node serves %q", ErrWrongEnv, h.Env, s.cfg.Env)
	}
	s.h = h
	s.valsReserved = min(h.Values, reserveStep)
	s.l.ReserveValues(int(s.valsReserved))
	return nil
}

func (s *loadSink) values(typ string, ids []string) error {
	need := s.nvals + uint64(len(ids))
	if need > s.valsReserved {
		s.valsReserved = min(s.h.Values, max(need, reserveGrowth*s.valsReserved))
		s.l.ReserveValues(int(s.valsReserved - s.nvals)) // room beyond those loaded

	}
	for _, id := range ids {
		s.nvals++
		if sym := s.l.AddValue(typ, id); uint64(sym) != s.nvals {
			if err := s.l.Err(); err != nil {
				return err
			}
			return fmt.Errorf("%s %q repeats symbol %d", typ, id, sym)
		}
	}
	return nil
}

func (s *loadSink) relation(name string, arity int, facts uint64) error {
	s.pred, s.arity, s.relFacts, s.loaded = name, arity, facts, 0
	s.rowsReserved = min(facts, reserveStep)
	s.l.Reserve(name, arity, int(s.rowsReserved))
	return nil
}

func (s *loadSink) facts(data []uint32) error {
	a := s.arity
	rows := uint64(len(data) / a)
	if s.loaded+rows > s.rowsReserved {
		s.rowsReserved = min(s.relFacts, max(s.loaded+rows, reserveGrowth*s.rowsReserved))
		s.l.Reserve(s.pred, a, int(s.rowsReserved-s.loaded)) // room beyond those loaded
	}
	for i := 0; i+a <= len(data); i += a {
		if err := s.l.AddFact(s.pred, data[i:i+a:i+a]); err != nil {
			return err
		}
	}
	s.loaded += rows
	return nil
}

// Inspect decodes a checkpoint without building a state and describes it.
// It verifies what Read verifies except repeated facts: block and
// whole-file checksums, lengths, counts and symbols, and the state digest,
// which it recomputes from the policy, tokens, dictionary and facts. It
// holds the value dictionary in memory (not the facts).
//
// On error Info describes the file as far as it was decoded (Regions up
// to the failing block, ChecksumOK and DigestOK false).
func Inspect(r io.Reader) (Info, error) {
	hs := &hashSink{}
	var info Info
	d := newDecoder(r, hs, &info)
	if err := d.run(); err != nil {
		return info, err
	}
	digest := replica.ComputeDigest(d.policy, d.tokens, hs.sum, info.Header.Facts)
	if digest != info.Header.Digest {
		return info, d.fail(ErrCorrupt, "header", 0, "the state digest recomputed from the file is %s; the header says %s", digest, info.Header.Digest)
	}
	info.DigestOK = true
	return info, nil
}

// hashSink keeps the dictionary and sums fact hashes (replica.HashFact).
type hashSink struct {
	typ  []string // symbol -> type name; [0] unused
	ids  []string // symbol -> id
	fact replica.Fact
	sum  replica.FactSum
}

func (s *hashSink) header(h *Header) error {
	s.typ = append(make([]string, 0, min(h.Values, reserveStep)+1), "")
	s.ids = append(make([]string, 0, min(h.Values, reserveStep)+1), "")
	return nil
}

func (s *hashSink) values(typ string, ids []string) error {
	for _, id := range ids {
		v, err := replica.Canonical(replica.Value{Type: typ, ID: id})
		if err != nil {
			return err
		}
		if v.ID != id {
			return fmt.Errorf("%s id %q is not in canonical form %q", typ, id, v.ID)
		}
		s.typ = append(s.typ, typ)
		s.ids = append(s.ids, id)
	}
	return nil
}

func (s *hashSink) relation(name string, arity int, _ uint64) error {
	s.fact = replica.Fact{Predicate: name, Args: make([]replica.Value, arity)}
	return nil
}

func (s *hashSink) facts(data []uint32) error {
	args := s.fact.Args
	a := len(args)
	for i := 0; i+a <= len(data); i += a {
		for j, sym := range data[i : i+a] {
			args[j] = replica.Value{Type: s.typ[sym], ID: s.ids[sym]}
		}
		s.sum = s.sum.Add(replica.HashFact(s.fact))
	}
	return nil
}
