package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"time"
)

// healthcheck: /healthcheck and /api/healthcheck. 503 until a policy is
// loaded, then 200 even when stale (a fallback must keep answering).
func (s *Server) healthcheck(w http.ResponseWriter, r *http.Request) {
	if !s.stateInfo().ready {
		writeError(w, errNotReady)
		return
	}
	writeJSON(w, http.StatusOK, messageBody{Message: "ok"})
}

// statusDoc gathers /status: the state at one revision, the cache, uptime,
// then the caller's sections (Config.Status) under their own keys.
func (s *Server) statusDoc() map[string]any {
	v := s.eng.State().Acquire()
	src, compiled := v.Policy()
	doc := map[string]any{
		"revision":      v.Revision(),
		"facts":         v.FactCount(),
		"digest":        v.Digest(),
		"tokens":        len(v.Tokens()),
		"policy_loaded": compiled != nil,
	}
	v.Release()
	if compiled != nil {
		doc["policy_version"] = policyVersion(src)
		doc["policy_filename"] = src.Filename
	}
	hits, misses := s.eng.CacheStats()
	doc["cache"] = map[string]any{"hits": hits, "misses": misses}
	doc["started_at"] = s.started.UTC().Format(time.RFC3339)
	doc["uptime_seconds"] = int64(time.Since(s.started).Seconds())
	doc["auth"] = s.cfg.Auth
	doc["strict"] = s.cfg.Strict
	if s.cfg.Status != nil {
		for k, sec := range s.cfg.Status() {
			if _, taken := doc[k]; taken {
				s.warnEvery("status:"+k, "dropping a /status section whose key the server uses", "key", k)
				continue
			}
			doc[k] = sec
		}
	}
	return doc
}

// status: GET /status.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.statusDoc())
}

// statusRow is one line of the HTML page.
type statusRow struct{ Key, Value string }

type statusSection struct {
	Name string
	Rows []statusRow
}

var statusTmpl = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Outpost replica</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:56rem;padding:0 1rem;color:#1d232a;background:#fbfbfa}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.05rem;margin:1.6rem 0 .4rem;text-transform:capitalize}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:1rem;font-size:.85rem;font-weight:600}
.ok{background:#dff3e4;color:#1b6b32}.bad{background:#fbe3e1;color:#9b271c}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e4e4e0}
td{padding:.35rem .7rem;border-top:1px solid #efefeb;vertical-align:top}
td:first-child{color:#5c6670;width:32%;white-space:nowrap}
td:last-child{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
footer{margin-top:2rem;color:#7a838c;font-size:.85rem}
</style></head><body>
<h1>Outpost replica</h1>
<p>{{if .Ready}}<span class="badge ok">serving</span>{{else}}<span class="badge bad">not ready: no snapshot loaded</span>{{end}}
 revision {{.Revision}}</p>
{{range .Sections}}<h2>{{.Name}}</h2>
<table>{{range .Rows}}<tr><td>{{.Key}}</td><td>{{.Value}}</td></tr>{{end}}</table>
{{end}}
<footer>Machine-readable: <a href="/status">/status</a> · <a href="/metrics">/metrics</a> · <a href="/healthcheck">/healthcheck</a></footer>
</body></html>
`))

// statusPage: GET / renders /status for people.
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	doc := s.statusDoc()
	data := struct {
		Ready    bool
		Revision any
		Sections []statusSection
	}{Ready: doc["policy_loaded"] == true, Revision: doc["revision"]}
	main := statusSection{Name: "replica"}
	var extra []statusSection
	keys := sortedKeys(doc)
	for _, k := range keys {
		if sec, ok := doc[k].(map[string]any); ok {
			ss := statusSection{Name: k}
			flatten(&ss.Rows, "", sec)
			extra = append(extra, ss)
			continue
		}
		main.Rows = append(main.Rows, statusRow{Key: k, Value: display(doc[k])})
	}
	data.Sections = append([]statusSection{main}, extra...)
	var buf bytes.Buffer
	if err := statusTmpl.Execute(&buf, data); err != nil {
		s.log.Error("render status page", "err", err)
		http.Error(w, "render status page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

// flatten turns nested maps into dotted keys.
func flatten(rows *[]statusRow, prefix string, m map[string]any) {
	for _, k := range sortedKeys(m) {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := m[k].(map[string]any); ok {
			flatten(rows, key, sub)
			continue
		}
		*rows = append(*rows, statusRow{Key: key, Value: display(m[k])})
	}
}

// display renders a status value: strings as is, the rest as JSON.
func display(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
