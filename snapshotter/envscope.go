package snapshotter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Checkpoints of other environments (issue #17, item 4). A Store opened
// with OpenStoreFor(dir, keep, env) counts only the checkpoints whose
// header names env (or no environment) toward retention and as its newest
// checkpoint; files of other environments in the same directory are left
// alone: never pruned, never loaded, never reported as this node's.

// OpenStoreFor is OpenStore for a store that belongs to environment env:
// retention (Keep) and Latest consider only checkpoints whose header names
// env. An empty env counts every checkpoint (OpenStore's behaviour).
func OpenStoreFor(dir string, keep int, env string) (*Store, error) {
	s, err := OpenStore(dir, keep)
	if err != nil {
		return nil, err
	}
	s.env = env
	return s, nil
}

// Foreign returns the checkpoints in the directory that belong to another
// environment than the store's (none when the store has no environment).
func (s *Store) Foreign() ([]Entry, map[string]string, error) {
	list, err := s.List()
	if err != nil {
		return nil, nil, err
	}
	var out []Entry
	envs := map[string]string{}
	for _, e := range list {
		if env, ok := s.fileEnv(e.Path); ok && !s.owns(env) {
			out = append(out, e)
			envs[e.Path] = env
		}
	}
	return out, envs, nil
}

// Own returns the store's checkpoints (those of its environment, and those
// whose header cannot be read, which may be corrupt files of its own),
// oldest first.
func (s *Store) Own() ([]Entry, error) {
	list, err := s.List()
	if err != nil {
		return nil, err
	}
	if s.env == "" {
		return list, nil
	}
	out := list[:0]
	for _, e := range list {
		if env, ok := s.fileEnv(e.Path); !ok || s.owns(env) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *Store) owns(env string) bool { return s.env == "" || env == "" || env == s.env }

// fileEnv reads the environment named in a checkpoint's header; ok is
// false when the header cannot be read. Results are cached by path (names
// are unique: they hold the creation time in nanoseconds).
func (s *Store) fileEnv(path string) (string, bool) {
	s.envMu.Lock()
	if env, ok := s.envs[path]; ok {
		s.envMu.Unlock()
		return env, true
	}
	s.envMu.Unlock()
	env, err := readHeaderEnv(path)
	if err != nil {
		return "", false
	}
	s.envMu.Lock()
	if s.envs == nil {
		s.envs = map[string]string{}
	}
	if len(s.envs) > 4096 {
		clear(s.envs)
	}
	s.envs[path] = env
	s.envMu.Unlock()
	return env, true
}

// errHeaderRead stops a decoder after the header block.
var errHeaderRead = errors.New("header read")

type headerSink struct{ h Header }

func (s *headerSink) header(h *Header) error             { s.h = *h; return errHeaderRead }
func (s *headerSink) values(string, []string) error      { return nil }
func (s *headerSink) relation(string, int, uint64) error { return nil }
func (s *headerSink) facts([]uint32) error               { return nil }

// readHeaderEnv reads only the preamble and header block of a checkpoint.
func readHeaderEnv(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hs := &headerSink{}
	var info Info
	d := newDecoder(f, hs, &info)
	if err := d.preamble(); err != nil {
		return "", err
	}
	if err := d.header(); !errors.Is(err, errHeaderRead) {
		if err == nil {
			err = fmt.Errorf("%s: no header", filepath.Base(path))
		}
		return "", err
	}
	return hs.h.Env, nil
}

// newestOwn returns the newest checkpoint of the store's environment whose
// header reads back.
func (s *Store) newestOwn() (Entry, bool) {
	list, err := s.Own()
	if err != nil {
		return Entry{}, false
	}
	for i := len(list) - 1; i >= 0; i-- {
		if _, ok := s.fileEnv(list[i].Path); ok {
			return list[i], true
		}
	}
	return Entry{}, false
}
