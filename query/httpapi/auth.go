package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/outpost-authz/outpost/replica"
)

// stateInfo is what the request pipeline needs to know about the state at
// one revision, read through one short-lived view and cached until the
// revision (or the engine's state) changes.
type stateInfo struct {
	state    *replica.State
	revision uint64
	store    uint64     // the state's store id (View.StoreID)
	ready    bool       // a state is loaded (query.Engine.Loaded), with or without a policy
	tokens   [][32]byte // SHA-256 of the accepted API keys
}

// stateInfo returns the cached info, refreshing it when the state moved on.
func (s *Server) stateInfo() *stateInfo {
	st := s.eng.State()
	if i := s.info.Load(); i != nil && i.state == st && i.revision == st.Revision() {
		return i
	}
	v := st.Acquire()
	_, compiled := v.Policy()
	toks := v.Tokens()
	rev, store := v.Revision(), v.StoreID()
	v.Release()
	i := &stateInfo{state: st, revision: rev, store: store, ready: compiled != nil || s.eng.Loaded()}
	for _, t := range toks {
		var h [32]byte
		if b, err := hex.DecodeString(t.SHA256); err == nil && len(b) == len(h) {
			copy(h[:], b)
			i.tokens = append(i.tokens, h)
		}
	}
	s.info.Store(i)
	return i
}

var (
	errNoKey   = &apiError{status: http.StatusUnauthorized, msg: "missing API key"}
	errBadKey  = &apiError{status: http.StatusUnauthorized, msg: "invalid API key"}
	errNoToken = &apiError{status: http.StatusUnauthorized, msg: "no API keys are configured on this replica (its state holds no tokens), so every request is refused"}
)

// authenticate checks the Bearer key against the state's tokens: the
// key's SHA-256 is compared in constant time with every token hash. Keys
// are never logged.
func (s *Server) authenticate(r *http.Request, info *stateInfo) error {
	if s.cfg.Auth == AuthNone {
		return nil
	}
	key, ok := bearer(r.Header.Get("Authorization"))
	return checkKey(key, ok, info)
}

// checkKey compares a key with the state's tokens.
func checkKey(key string, ok bool, info *stateInfo) error {
	if len(info.tokens) == 0 {
		return errNoToken
	}
	if !ok {
		return errNoKey
	}
	sum := sha256.Sum256([]byte(key))
	match := 0
	for i := range info.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], info.tokens[i][:])
	}
	if match != 1 {
		return errBadKey
	}
	return nil
}

// bearer extracts the key of "Bearer <key>" (scheme case-insensitive,
// surrounding white space trimmed as Node does).
func bearer(h string) (string, bool) {
	h = strings.TrimSpace(h)
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	key = strings.TrimSpace(key)
	return key, key != ""
}

// statusGuard requires an API key on /status and / when Config.StatusAuth
// is set: "Authorization: Bearer KEY", or Basic with the key as the
// password, so that a browser can ask for it.
func (s *Server) statusGuard(h http.Handler) http.Handler {
	if !s.cfg.StatusAuth {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			_, key, ok = r.BasicAuth()
			ok = ok && key != ""
		}
		if err := checkKey(key, ok, s.stateInfo()); err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="outpost status", charset="UTF-8"`)
			writeError(w, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}
