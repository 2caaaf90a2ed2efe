package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Report is the JSON output: the machine, then one Result per scenario and
// data set. Field names are shared with bench/opa's report so that the two
// join on (scenario, facts).
type Report struct {
	Engine       string    `json:"engine"`
	GoVersion    string    `json:"go_version"`
	CPU          string    `json:"cpu"`
	Cores        int       `json:"cores"`
	GOMAXPROCS   int       `json:"gomaxprocs"`
	Seed         int64     `json:"seed"`
	Started      time.Time `json:"started"`
	LoadAvgStart string    `json:"load_avg_start"` // 1, 5 and 15 minutes
	LoadAvgEnd   string    `json:"load_avg_end"`
	Args         []string  `json:"args"`
	Results      []Result  `json:"results"`
}

// Result is one measurement. Fields that do not apply are omitted; Metrics
// are the rows of the markdown table, judged against DESIGN.md §10.
type Result struct {
	Engine   string `json:"engine"`
	Scenario string `json:"scenario"`
	Facts    int64  `json:"facts"`

	N         int     `json:"n,omitempty"` // timed operations
	P50NS     int64   `json:"p50_ns,omitempty"`
	P99NS     int64   `json:"p99_ns,omitempty"`
	P999NS    int64   `json:"p999_ns,omitempty"`
	MeanNS    int64   `json:"mean_ns,omitempty"`
	MaxNS     int64   `json:"max_ns,omitempty"`
	PerSecond float64 `json:"per_second,omitempty"` // operations (load, ingest: facts) per second
	Items     int     `json:"items,omitempty"`      // list: ids returned

	LoadSeconds      float64 `json:"load_seconds,omitempty"`
	RSSBytesPerFact  float64 `json:"rss_bytes_per_fact,omitempty"`
	HeapBytesPerFact float64 `json:"heap_bytes_per_fact,omitempty"`

	Concurrency     int     `json:"concurrency,omitempty"` // HTTP
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
	Errors          int     `json:"errors,omitempty"`

	Detail  map[string]float64 `json:"detail,omitempty"`
	Metrics []Metric           `json:"metrics"`
}

// Metric is one row of the table.
type Metric struct {
	Name   string  `json:"metric"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"` // ns, s, B, x, facts/s, req/s, ops/s
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"` // nil: no target, or not judged at this size
}

func newResult(scenario string, facts int) Result {
	return Result{Engine: "outpost", Scenario: scenario, Facts: int64(facts), Detail: map[string]float64{}}
}

// metric adds a table row.
func (r *Result) metric(name string, value float64, unit string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: value, Unit: unit})
}

// latencyMetrics adds p50 and p99 (and p999 when set) rows.
func (r *Result) latencyMetrics() {
	r.metric("p50", float64(r.P50NS), "ns")
	r.metric("p99", float64(r.P99NS), "ns")
	if r.P999NS > 0 {
		r.metric("p999", float64(r.P999NS), "ns")
	}
}

func newReport(seed int64, args []string) *Report {
	return &Report{
		Engine:       "outpost",
		GoVersion:    runtime.Version(),
		CPU:          cpuModel(),
		Cores:        runtime.NumCPU(),
		GOMAXPROCS:   runtime.GOMAXPROCS(0),
		Seed:         seed,
		Started:      time.Now().UTC().Truncate(time.Second),
		LoadAvgStart: loadAvg(),
		Args:         args,
	}
}

func (r *Report) writeJSON(path string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func (r *Report) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "Outpost, %s, %s, %d cores (GOMAXPROCS %d), %s; load average %s at start, %s at end\n\n",
		r.GoVersion, r.CPU, r.Cores, r.GOMAXPROCS, r.Started.Format("2006-01-02 15:04 UTC"), r.LoadAvgStart, r.LoadAvgEnd)
	fmt.Fprintln(w, "| scenario | facts | metric | value | target | met? |")
	fmt.Fprintln(w, "|---|--:|---|--:|---|---|")
	for _, x := range r.Results {
		scen := x.Scenario
		if x.Concurrency > 0 {
			scen += fmt.Sprintf(" (c=%d)", x.Concurrency)
		}
		for _, m := range x.Metrics {
			met := ""
			switch {
			case m.Met == nil && m.Target != "":
				met = "n/a"
			case m.Met != nil && *m.Met:
				met = "✅"
			case m.Met != nil:
				met = "❌"
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", scen, x.Facts, m.Name, format(m.Value, m.Unit), m.Target, met)
		}
	}
	for _, x := range r.Results {
		if strings.HasPrefix(x.Scenario, "http_") {
			fmt.Fprintln(w, "\nHTTP: http_authorize_* are in-process figures (a Go client in the same process, sharing the server's cores). "+
				"http_pinned_* are the DESIGN.md §11 figures: the server pinned to one core, the load generator (wrk, else a Go client) "+
				"on the other, medians over rounds that alternate a minimal net/http handler, the same with the node's response headers (http_pinned_headers), "+
				"the node uncached and the node cached, asked the 4,096 mixed questions (unsuffixed) and the 2,000 issue reads of §11's own comparison (_issue_read); "+
				"on a shared machine only the ratios to the minimal handler of the same round are meaningful.")
			break
		}
	}
}

// format renders a value in its unit for people.
func format(v float64, unit string) string {
	switch unit {
	case "ns":
		switch d := time.Duration(v); {
		case d < time.Microsecond:
			return fmt.Sprintf("%.0f ns", v)
		case d < time.Millisecond:
			return fmt.Sprintf("%.2f µs", v/1e3)
		case d < time.Second:
			return fmt.Sprintf("%.2f ms", v/1e6)
		default:
			return fmt.Sprintf("%.2f s", v/1e9)
		}
	case "s":
		return fmt.Sprintf("%.3f s", v)
	case "B":
		return fmt.Sprintf("%.1f B", v)
	case "MiB":
		return fmt.Sprintf("%.1f MiB", v)
	case "x":
		return fmt.Sprintf("%.2fx", v)
	case "%":
		return fmt.Sprintf("%.1f%%", v)
	}
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM %s", v/1e6, unit)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk %s", v/1e3, unit)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}
