package soak

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// interval is what the checks and writes of one interval did.
type interval struct {
	Checks, Failed, Wrong, Late int
	Writes, WriteErrs           int
	RYWStale, RYWWrong          int
	P50, P99, Max               time.Duration
	Samples                     []string
}

// NodeSample is one node's figures at the end of an interval.
type NodeSample struct {
	Name               string
	PID                int
	RSS                int64
	Heap               int64 // live after the last GC (from the GC goal)
	Goroutines         int
	Revision           uint64
	Checkpoints        int // written by this process so far
	CheckpointFailures int
}

// Row is one report line.
type Row struct {
	At   time.Duration // since the load started
	Span time.Duration // the interval's length
	interval
	Nodes []NodeSample
	CPRSS int64
	CPSeq uint64
	Load  string // /proc/loadavg: 1, 5 and 15 minutes
	Event string
}

// Errors counts what the run must not have: failed checks, wrong answers,
// failed writes and writes not visible despite their OsoOffset.
func (r Row) Errors() int { return r.Failed + r.Wrong + r.WriteErrs + r.RYWWrong }

// FinalNode is a node's state after the run.
type FinalNode struct {
	Name     string
	Revision uint64
	Digest   string
	Facts    int
}

func (f FinalNode) String() string {
	return fmt.Sprintf("%s rev %d digest %s", f.Name, f.Revision, f.Digest)
}

// Report is the outcome of Run.
type Report struct {
	Config     Config
	WorkDir    string // kept when the run failed
	Machine    string
	CPUs       int
	Started    time.Time
	LoadBefore string
	LoadAfter  string

	LoadStarted, LoadEnded time.Time
	Capacity               float64 // measured checks/s (0 when Config.Rate was set)
	Rate                   float64 // offered checks/s

	Rows                       []Row
	Checks, Errors, Late       int
	Writes, Policies, RYWStale int
	Restart                    string

	CPSeq                         uint64
	CPDigest                      string
	Final                         []FinalNode
	NodeErrorLines, NodeWarnLines int
	CPErrorLines, CPWarnLines     int

	mu       sync.Mutex // guards Failures while the restart runs
	Failures []string
	Passed   bool
}

const mib = 1 << 20

func rowHeader() string {
	return "| t | checks/s | errors | p50 ms | p99 ms | max ms | late | writes | stale RYW | node-a RSS / live heap MiB | node-a rev | node-a ckpts | node-b RSS / live heap MiB | node-b rev | node-b ckpts | cp seq | cp RSS MiB | load avg | event |\n" +
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func (r Row) line() string {
	var b strings.Builder
	rate := 0.0
	if r.Span > 0 {
		rate = float64(r.Checks) / r.Span.Seconds()
	}
	fmt.Fprintf(&b, "| %s | %.0f | %d | %s | %s | %s | %d | %d | %d |", r.At.Round(time.Second), rate, r.Errors(), ms(r.P50), ms(r.P99), ms(r.Max), r.Late, r.Writes, r.RYWStale)
	for _, n := range r.Nodes {
		fmt.Fprintf(&b, " %.0f / %.0f | %d | %d |", float64(n.RSS)/mib, float64(n.Heap)/mib, n.Revision, n.Checkpoints)
	}
	fmt.Fprintf(&b, " %d | %.0f | %s | %s |", r.CPSeq, float64(r.CPRSS)/mib, r.Load, r.Event)
	return b.String()
}

// RSSVerdicts compares, for each node process, its RSS at the end with its
// lowest RSS after warm-up (Config.Warmup into the process's life).
func (rep *Report) RSSVerdicts() []string {
	var out []string
	type seg struct {
		name       string
		pid        int
		first      time.Duration
		min, last  int64
		minAt, end time.Duration
	}
	var segs []*seg
	byPID := map[int]*seg{}
	for _, row := range rep.Rows {
		for _, n := range row.Nodes {
			s := byPID[n.PID]
			if s == nil {
				s = &seg{name: n.Name, pid: n.PID, first: row.At - rep.Config.Interval}
				if s.first < 0 {
					s.first = 0
				}
				byPID[n.PID] = s
				segs = append(segs, s)
			}
			if row.At-s.first < rep.Config.Warmup || n.RSS == 0 {
				continue
			}
			if s.min == 0 || n.RSS < s.min {
				s.min, s.minAt = n.RSS, row.At
			}
			s.last, s.end = n.RSS, row.At
		}
	}
	for _, s := range segs {
		if s.min == 0 {
			out = append(out, fmt.Sprintf("%s (pid %d): too short after warm-up for a verdict", s.name, s.pid))
			continue
		}
		growth := s.last - s.min
		verdict := "flat"
		if growth > 32*mib && float64(growth) > 0.10*float64(s.min) {
			verdict = "GROWING"
		}
		out = append(out, fmt.Sprintf("%s (pid %d): %s — RSS %.0f MiB at its lowest after warm-up (%v), %.0f MiB at %v (%+.0f MiB)",
			s.name, s.pid, verdict, float64(s.min)/mib, s.minAt.Round(time.Second), float64(s.last)/mib, s.end.Round(time.Second), float64(growth)/mib))
	}
	return out
}

// Markdown renders the report for docs/reliability.md.
func (rep *Report) Markdown() string {
	var b strings.Builder
	c := rep.Config
	verdict := "PASSED"
	if !rep.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "Soak run %s: %v of load on %s.\n\n", verdict, rep.LoadEnded.Sub(rep.LoadStarted).Round(time.Second), rep.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s.\n", rep.Machine)
	fmt.Fprintf(&b, "- Load average (1/5/15 min) before: %s; after: %s.\n", rep.LoadBefore, rep.LoadAfter)
	fmt.Fprintf(&b, "- Set-up: outpost-controlplane with embedded NATS, %d gitclub facts; two outpost nodes (separate processes) following JetStream, checkpoint every %v.\n", c.Facts, c.CheckpointInterval)
	if rep.Capacity > 0 {
		fmt.Fprintf(&b, "- Capacity measured before the run: %.0f checks/s (closed loop, 32 in flight, %v, both nodes); offered load: half, %.0f checks/s, open loop, %d workers.\n", rep.Capacity, c.MeasureFor, rep.Rate, c.Workers)
	} else {
		fmt.Fprintf(&b, "- Offered load: %.0f checks/s (configured), open loop, %d workers.\n", rep.Rate, c.Workers)
	}
	fmt.Fprintf(&b, "- Checks: %d (about 95%% authorize, 3%% actions, 2%% list), every answer compared with the answer before the writes; %d started more than 10 ms late.\n", rep.Checks, rep.Late)
	fmt.Fprintf(&b, "- Writes through the control plane: %d (batches of inserts with exact and wildcard deletes, every one read back with its OsoOffset: %d answers marked stale, 0 allowed to miss the write), %d policy changes.\n", rep.Writes, rep.RYWStale, rep.Policies)
	if rep.Restart != "" {
		fmt.Fprintf(&b, "- Restart: %s.\n", rep.Restart)
	}
	fmt.Fprintf(&b, "- Errors: %d (failed or wrong checks, failed writes, missed writes). Log lines at ERROR: nodes %d, control plane %d; at WARN: nodes %d, control plane %d.\n",
		rep.Errors, rep.NodeErrorLines, rep.CPErrorLines, rep.NodeWarnLines, rep.CPWarnLines)
	fmt.Fprintf(&b, "- Final: control plane seq %d digest `%s`;", rep.CPSeq, rep.CPDigest)
	for _, f := range rep.Final {
		eq := "equal"
		if f.Digest != rep.CPDigest || f.Revision != rep.CPSeq {
			eq = "DIFFERENT"
		}
		fmt.Fprintf(&b, " %s rev %d digest %s (%s);", f.Name, f.Revision, eq, shortDigest(f.Digest))
	}
	b.WriteString("\n- RSS after warm-up (")
	fmt.Fprintf(&b, "%v into each process's life):\n", c.Warmup)
	for _, v := range rep.RSSVerdicts() {
		fmt.Fprintf(&b, "  - %s\n", v)
	}
	if len(rep.Failures) > 0 {
		b.WriteString("- Failures:\n")
		for _, f := range rep.Failures {
			fmt.Fprintf(&b, "  - %s\n", f)
		}
	}
	b.WriteString("\nEach row covers the preceding interval: checks answered, errors, latency of the checks (client side, send to answer), checks started late, writes and stale read-your-write answers; then each node's RSS (from /proc) and live Go heap (heap left after its last garbage collection, derived from go_memstats_next_gc_bytes and GOGC on its /metrics), revision and checkpoints written by that process.\n\n")
	b.WriteString(rowHeader() + "\n")
	for _, row := range rep.Rows {
		b.WriteString(row.line() + "\n")
	}
	return b.String()
}

func shortDigest(d string) string {
	if len(d) > 16 {
		return d[:16] + "…"
	}
	return d
}
