package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/version"
)

// Report is the JSON output: the environment, then one row per scenario and
// data set. Field names are shared with Outpost's benchmark so that the two
// reports join on (scenario, facts).
type Report struct {
	Engine        string    `json:"engine"`
	EngineVersion string    `json:"engine_version"`
	GoVersion     string    `json:"go_version"`
	CPU           string    `json:"cpu"`
	Cores         int       `json:"cores"`
	GOMAXPROCS    int       `json:"gomaxprocs"`
	Store         string    `json:"store"`
	Seed          int64     `json:"seed"`
	Started       time.Time `json:"started"`
	Results       []Result  `json:"results"`
}

// Result is one measurement. Fields that do not apply to a scenario are
// omitted.
type Result struct {
	Engine   string `json:"engine"`
	Scenario string `json:"scenario"`
	Facts    int64  `json:"facts"`

	N         int     `json:"n,omitempty"` // timed operations
	P50NS     int64   `json:"p50_ns,omitempty"`
	P99NS     int64   `json:"p99_ns,omitempty"`
	MeanNS    int64   `json:"mean_ns,omitempty"`
	MaxNS     int64   `json:"max_ns,omitempty"`
	PerSecond float64 `json:"per_second,omitempty"` // operations (load: facts) per second
	Items     int     `json:"items,omitempty"`      // list: ids returned

	LoadSeconds      float64 `json:"load_seconds,omitempty"`
	RSSBytesPerFact  float64 `json:"rss_bytes_per_fact,omitempty"`
	HeapBytesPerFact float64 `json:"heap_bytes_per_fact,omitempty"`

	Concurrency     int     `json:"concurrency,omitempty"` // HTTP
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
	Errors          int     `json:"errors,omitempty"`

	Detail map[string]float64 `json:"detail,omitempty"`
}

func newReport(cfg config) *Report {
	return &Report{
		Engine:        "opa",
		EngineVersion: version.Version,
		GoVersion:     runtime.Version(),
		CPU:           cpuModel(),
		Cores:         runtime.NumCPU(),
		GOMAXPROCS:    runtime.GOMAXPROCS(0),
		Store:         string(cfg.store),
		Seed:          cfg.seed,
		Started:       time.Now().UTC().Truncate(time.Second),
	}
}

func (r *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func (r *Report) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "OPA %s (store %s), %s, %s, %d cores (GOMAXPROCS %d)\n\n",
		r.EngineVersion, r.Store, r.GoVersion, r.CPU, r.Cores, r.GOMAXPROCS)
	fmt.Fprintln(w, "| scenario | facts | p50 | p99 | per second | load | RSS/fact | heap/fact | notes |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, x := range r.Results {
		var notes []string
		if x.Items > 0 {
			notes = append(notes, fmt.Sprintf("%d ids", x.Items))
		}
		if x.Concurrency > 0 {
			notes = append(notes, fmt.Sprintf("%d conns, %.0fs, %d errors", x.Concurrency, x.DurationSeconds, x.Errors))
		}
		if x.Scenario == "load" {
			d := x.Detail
			notes = append(notes, fmt.Sprintf("decode %.2fs, store %.2fs, prepare %.2fs; peak RSS %s",
				d["decode_seconds"], d["store_seconds"], d["prepare_seconds"], mib(d["peak_rss_during_load_bytes"])))
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n",
			x.Scenario, x.Facts, ns(x.P50NS), ns(x.P99NS), rate(x.PerSecond),
			secs(x.LoadSeconds), bytesPer(x.RSSBytesPerFact), bytesPer(x.HeapBytesPerFact), strings.Join(notes, "; "))
	}
}

func ns(v int64) string {
	if v == 0 {
		return ""
	}
	d := time.Duration(v)
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", float64(d)/1e3)
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
}

func rate(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f", v)
}

func secs(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f s", v)
}

func bytesPer(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f B", v)
}

func mib(v float64) string {
	if v == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f MiB", v/(1<<20))
}
