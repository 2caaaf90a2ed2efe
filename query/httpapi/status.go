package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
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

// statusRow is one line of a table of the HTML page: a value, or a
// nested table (Sub) for a nested object.
type statusRow struct {
	Key, Value string
	Sub        []statusRow
}

type statusSection struct {
	Name string
	Rows []statusRow
}

// statusBanner is the verdict at the top of the page: Class is ok, warn
// or bad; Lines say why, with how long.
type statusBanner struct {
	Class, Title string
	Lines        []string
}

var statusTmpl = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Outpost replica</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:56rem;padding:0 1rem;color:#1d232a;background:#fbfbfa}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.05rem;margin:1.6rem 0 .4rem;text-transform:capitalize}
.banner{border-radius:.5rem;padding:.8rem 1rem;margin:0 0 1rem;border:1px solid}
.banner strong{font-size:1.15rem;display:block;margin-bottom:.2rem}
.banner p{margin:.15rem 0}
.ok{background:#dff3e4;color:#1b6b32;border-color:#a9d9b5}
.warn{background:#fff4d6;color:#7a5300;border-color:#ecd08a}
.bad{background:#fbe3e1;color:#9b271c;border-color:#eba9a2}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e4e4e0}
table table{border:none;background:transparent}
td{padding:.35rem .7rem;border-top:1px solid #efefeb;vertical-align:top}
table table td{padding:.15rem .5rem .15rem 0;border:none}
td.k{color:#5c6670;width:32%;white-space:nowrap}
td.v{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
footer{margin-top:2rem;color:#7a838c;font-size:.85rem}
</style></head><body>
<h1>Outpost replica{{with .Env}} · {{.}}{{end}}</h1>
<div class="banner {{.Banner.Class}}" id="verdict"><strong>{{.Banner.Title}}</strong>
{{range .Banner.Lines}}<p>{{.}}</p>
{{end}}</div>
{{define "rows"}}{{range .}}<tr><td class="k">{{.Key}}</td><td class="v">{{if .Sub}}<table>{{template "rows" .Sub}}</table>{{else}}{{.Value}}{{end}}</td></tr>{{end}}{{end}}
{{range .Sections}}<h2>{{.Name}}</h2>
<table>{{template "rows" .Rows}}</table>
{{end}}
<footer>Rendered {{.Now}}. Machine-readable: <a href="/status">/status</a> · <a href="/metrics">/metrics</a> · <a href="/healthcheck">/healthcheck</a></footer>
</body></html>
`))

// statusPage: GET / renders /status for people: a verdict at the top
// (serving and current, catching up, stale, failing, not ready) with how
// long, then every section as a table; times in RFC 3339 with their age,
// durations human-readable, nested objects as nested tables.
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	doc, err := genericDoc(s.statusDoc())
	if err != nil {
		s.log.Error("render status page", "err", err)
		http.Error(w, "render status page", http.StatusInternalServerError)
		return
	}
	now := time.Now()
	data := struct {
		Env      string
		Now      string
		Banner   statusBanner
		Sections []statusSection
	}{Now: now.UTC().Format(time.RFC3339), Banner: verdict(doc, now)}
	if node, ok := doc["node"].(map[string]any); ok {
		data.Env, _ = node["environment"].(string)
	}
	main := statusSection{Name: "replica"}
	var extra []statusSection
	for _, k := range sortedKeys(doc) {
		if sec, ok := doc[k].(map[string]any); ok {
			extra = append(extra, statusSection{Name: k, Rows: rows(sec, now)})
			continue
		}
		main.Rows = append(main.Rows, row(k, doc[k], now))
	}
	// the sections an operator reads first come first
	rank := map[string]int{"ingest": 1, "checkpoint": 2, "node": 3}
	sort.SliceStable(extra, func(i, j int) bool {
		ri, rj := rank[extra[i].Name], rank[extra[j].Name]
		if ri == 0 {
			ri = 99
		}
		if rj == 0 {
			rj = 99
		}
		return ri < rj
	})
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

// genericDoc turns the status document into plain JSON values (maps,
// slices, strings, json.Number, bools), as a client of /status sees it,
// whatever types the sections use.
func genericDoc(doc map[string]any) (map[string]any, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out map[string]any
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// staleAfter is how long without being caught up the page calls a node
// that is not failing stale (twice the poll source's default long-poll).
const staleAfter = 60 * time.Second

// verdict says in words whether the node is serving, current, catching
// up, stale or failing, and for how long.
func verdict(doc map[string]any, now time.Time) statusBanner {
	rev := display(doc["revision"])
	if doc["policy_loaded"] != true {
		return statusBanner{Class: "bad", Title: "Not ready: no state loaded",
			Lines: []string{"The node answers 503 until it has loaded a snapshot, checkpoint or import file."}}
	}
	var b statusBanner
	ing, hasIngest := doc["ingest"].(map[string]any)
	if !hasIngest {
		from := ""
		if node, ok := doc["node"].(map[string]any); ok {
			from, _ = node["loaded_from"].(string)
		}
		b = statusBanner{Class: "ok", Title: "Serving revision " + rev + " (no ingest source)",
			Lines: []string{"The state does not change: it was loaded from " + orNone(from) + "."}}
	} else {
		state, _ := ing["state"].(string)
		caughtUp, hasCaughtUp := timeOf(ing["caught_up_at"])
		behind := "never caught up since start"
		if hasCaughtUp {
			behind = "last caught up " + ago(now, caughtUp) + " (" + caughtUp.UTC().Format(time.RFC3339) + ")"
		}
		lag := ""
		if n, ok := ing["lag_events"].(json.Number); ok && n.String() != "0" {
			lag = n.String() + " events behind the source"
		} else if !ok {
			lag = "Events behind: unknown (the source cannot be reached)"
		}
		switch {
		case state == "failing":
			since, ok := timeOf(ing["transport_failing_since"])
			if !ok {
				since, ok = caughtUp, hasCaughtUp
			}
			title := "Failing: serving revision " + rev + ", possibly stale"
			if ok {
				title = "Failing for " + humanDuration(now.Sub(since)) + ": serving revision " + rev + ", possibly stale"
			}
			b = statusBanner{Class: "bad", Title: title, Lines: []string{"Ingest from " + display(ing["source"]) + " is failing; " + behind + "."}}
			if e, ok := ing["last_error"].(string); ok && e != "" {
				b.Lines = append(b.Lines, "Last error: "+e)
			}
		case state == "caught-up":
			b = statusBanner{Class: "ok", Title: "Serving revision " + rev + ", caught up with " + display(ing["source"]), Lines: []string{strings.ToUpper(behind[:1]) + behind[1:] + "."}}
		case hasCaughtUp && now.Sub(caughtUp) > staleAfter:
			b = statusBanner{Class: "warn", Title: "Stale for " + humanDuration(now.Sub(caughtUp)) + ": serving revision " + rev + " (" + state + ")",
				Lines: []string{"Ingest from " + display(ing["source"]) + " is " + state + "; " + behind + "."}}
		default:
			b = statusBanner{Class: "warn", Title: "Serving revision " + rev + ", catching up (" + state + ")", Lines: []string{strings.ToUpper(behind[:1]) + behind[1:] + "."}}
		}
		if lag != "" {
			b.Lines = append(b.Lines, lag+".")
		}
	}
	if cp, ok := doc["checkpoint"].(map[string]any); ok {
		if n, ok := cp["consecutive_failures"].(json.Number); ok && n.String() != "0" {
			if b.Class == "ok" {
				b.Class = "warn"
			}
			b.Lines = append(b.Lines, "Checkpoints are failing ("+n.String()+" in a row): "+display(cp["last_error"]))
		}
	}
	return b
}

func orNone(s string) string {
	if s == "" {
		return "nowhere"
	}
	return s
}

// rows renders an object's keys, sorted, nested objects as nested tables.
func rows(m map[string]any, now time.Time) []statusRow {
	out := make([]statusRow, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, row(k, m[k], now))
	}
	return out
}

func row(k string, v any, now time.Time) statusRow {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return statusRow{Key: k, Value: "none"}
		}
		return statusRow{Key: k, Sub: rows(x, now)}
	case []any:
		if len(x) == 0 {
			return statusRow{Key: k, Value: "none"}
		}
		sub := make([]statusRow, len(x))
		for i, e := range x {
			sub[i] = row(strconv.Itoa(i+1), e, now)
		}
		return statusRow{Key: k, Sub: sub}
	case json.Number:
		if d, ok := durationOf(k, x); ok {
			return statusRow{Key: k, Value: humanDuration(d)}
		}
	case string:
		if t, ok := timeOf(x); ok {
			return statusRow{Key: k, Value: t.UTC().Format(time.RFC3339) + " (" + ago(now, t) + ")"}
		} else if x == zeroTime {
			return statusRow{Key: k, Value: "never"}
		}
	case nil:
		return statusRow{Key: k, Value: "none"}
	}
	return statusRow{Key: k, Value: display(v)}
}

const zeroTime = "0001-01-01T00:00:00Z"

// timeOf reads an RFC 3339 time; the zero time is no time.
func timeOf(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok || len(s) < 20 || s == zeroTime {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// durationOf reads a number whose key names its unit (_ms, _seconds).
func durationOf(key string, n json.Number) (time.Duration, bool) {
	f, err := n.Float64()
	if err != nil {
		return 0, false
	}
	switch {
	case strings.HasSuffix(key, "_ms"):
		return time.Duration(f * float64(time.Millisecond)), true
	case strings.HasSuffix(key, "_seconds"):
		return time.Duration(f * float64(time.Second)), true
	}
	return 0, false
}

func ago(now, t time.Time) string {
	if d := now.Sub(t); d >= 0 {
		return humanDuration(d) + " ago"
	}
	return "in " + humanDuration(t.Sub(now))
}

// humanDuration: "0s", "850ms", "12.3s", "3m 12s", "2h 5m", "3d 4h".
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + humanDuration(-d)
	case d == 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// display renders a scalar status value.
func display(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	case nil:
		return "none"
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
