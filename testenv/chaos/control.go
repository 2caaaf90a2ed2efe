package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// wireSetting is a Setting as the control API reads and writes it. Delay
// is a Go duration string ("1.5s"); delay_ms is accepted as an alternative
// for clients that prefer numbers (delay wins when both are given). Listen
// and Upstream are reported, and ignored on input, so a GET answer can be
// sent back as it is.
type wireSetting struct {
	Mode     Mode    `json:"mode"`
	Delay    string  `json:"delay,omitempty"`
	DelayMS  float64 `json:"delay_ms,omitempty"`
	Status   int     `json:"status,omitempty"`
	Listen   string  `json:"listen,omitempty"`
	Upstream string  `json:"upstream,omitempty"`
}

func (w wireSetting) setting() (Setting, error) {
	s := Setting{Mode: w.Mode, Status: w.Status}
	switch {
	case w.Delay != "":
		d, err := time.ParseDuration(w.Delay)
		if err != nil {
			return s, fmt.Errorf("delay: %w", err)
		}
		s.Delay = d
	case w.DelayMS != 0:
		s.Delay = time.Duration(w.DelayMS * float64(time.Millisecond))
	}
	return s, s.Validate()
}

// ControlHandler returns the proxy's control API:
//
//	GET  /mode         {"mode":"delay","delay":"2s","delay_ms":2000,"listen":"127.0.0.1:PORT","upstream":"HOST:PORT"}
//	PUT  /mode         body {"mode":"http5xx","status":500} or {"mode":"delay","delay":"2s"}; answers like GET
//	POST /mode         same as PUT
//	GET  /stats        the Stats counters
//	GET  /healthcheck  200 {"ok":true}
//
// Errors are JSON {"message":"..."}: 400 for a bad setting, 404, 405, 500
// when the listener cannot be re-opened.
func (p *Proxy) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /mode", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, p.wire())
	})
	set := func(w http.ResponseWriter, r *http.Request) {
		var ws wireSetting
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ws); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("decode setting: %v", err))
			return
		}
		s, err := ws.setting()
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := p.Set(s); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, p.wire())
	}
	mux.HandleFunc("PUT /mode", set)
	mux.HandleFunc("POST /mode", set)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, p.Stats())
	})
	mux.HandleFunc("GET /healthcheck", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern == "" {
			// Keep the JSON error shape for unknown paths and methods.
			rec := &statusOnly{header: http.Header{}}
			h.ServeHTTP(rec, r)
			writeError(w, rec.status, http.StatusText(rec.status))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// wire returns the current setting in control-API form.
func (p *Proxy) wire() wireSetting {
	s := p.Setting()
	ws := wireSetting{Mode: s.Mode, Status: s.Status, Listen: p.addr, Upstream: p.cfg.Upstream}
	if s.Delay > 0 {
		ws.Delay = s.Delay.String()
		ws.DelayMS = float64(s.Delay) / float64(time.Millisecond)
	}
	return ws
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

// statusOnly records the status a ServeMux fallback handler (404/405)
// would write, discarding its text body.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(b), nil
}
func (s *statusOnly) WriteHeader(code int) { s.status = code }
