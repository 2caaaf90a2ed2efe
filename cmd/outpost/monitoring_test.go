package main

// The monitoring a newcomer sees must tell the truth: the status page and
// /status of a node that cannot reach its source say so, with growing lag
// figures, and the sample alert rules of docs/alerts.yml fire on a failing
// node and stay quiet on a healthy quiet one.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape is one reading of a node's /metrics: the outpost_ and
// oso_fallback_ counters and gauges, by series ("name{labels}").
type scrape struct {
	at     time.Time
	values map[string]float64
}

func scrapeMetrics(t *testing.T, n *convNode) scrape {
	t.Helper()
	resp, err := n.get("/metrics")
	if err != nil || resp.Status != 200 {
		t.Fatalf("/metrics: %v %v", err, resp)
	}
	s := scrape{at: time.Now(), values: map[string]float64{}}
	for _, l := range strings.Split(string(resp.Body), "\n") {
		if l == "" || l[0] == '#' || !(strings.HasPrefix(l, "outpost_") || strings.HasPrefix(l, "oso_fallback_")) {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		name := l[:i]
		if base, _, _ := strings.Cut(name, "{"); strings.HasSuffix(base, "_bucket") || strings.HasSuffix(base, "_sum") || strings.HasSuffix(base, "_count") {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", l, err)
		}
		s.values[name] = v
	}
	return s
}

// nodeStatusDoc reads /status as plain JSON.
func nodeStatusDoc(t *testing.T, n *convNode) map[string]any {
	t.Helper()
	resp, err := n.get("/status")
	if err != nil || resp.Status != 200 {
		t.Fatalf("/status: %v %v", err, resp)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var bannerRe = regexp.MustCompile(`(?s)<div class="banner (\w+)" id="verdict"><strong>([^<]*)</strong>(.*?)</div>`)

// TestMonitoringTellsTheTruth: a quiet node, then the same node with its
// checkpoints failing and its control plane unreachable; the page, /status
// and /metrics at each stage, and the alert rules against both.
func TestMonitoringTellsTheTruth(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is needed to test docs/alerts.yml: `make tools` installs it (Debian package prometheus)")
	}
	c := startCluster(t, "poll")
	w := newWorkload(7, c.cp.Client)
	w.run(t, 10)
	n := c.startNode(t, filepath.Join(t.TempDir(), "node"), "--poll-wait", "1s")

	// Quiet: caught up, nothing written; a few scrapes over a few poll
	// periods.
	eventually(t, 30*time.Second, func() error {
		if st := n.mustStatus(t); st.Ingest.State != "caught-up" {
			return fmt.Errorf("ingest %s", st.Ingest.State)
		}
		return nil
	})
	eventually(t, 30*time.Second, func() error { // the first checkpoint
		if s := scrapeMetrics(t, n); s.values["outpost_checkpoint_revisions_behind"] != 0 {
			return fmt.Errorf("revisions behind the checkpoint: %v", s.values["outpost_checkpoint_revisions_behind"])
		}
		return nil
	})
	quiet := scrapeSeries(t, n, 10, 400*time.Millisecond)
	page := getPage(t, n)
	if m := bannerRe.FindStringSubmatch(page); m == nil || m[1] != "ok" || !strings.Contains(m[2], "caught up") {
		t.Errorf("quiet node's verdict: %v", m)
	}

	// Failing: checkpoints cannot be written (the data directory is
	// replaced by a file), new events arrive, then the feed goes away.
	if err := os.Rename(n.Dir, n.Dir+".gone"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.Dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.run(t, 5)
	head, err := w.head()
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if st := n.mustStatus(t); st.Revision < head {
			return fmt.Errorf("revision %d, head %d", st.Revision, head)
		}
		return nil
	})
	c.proxy.down()
	eventually(t, 30*time.Second, func() error {
		if st := n.mustStatus(t); st.Ingest.State != "failing" {
			return fmt.Errorf("ingest %s", st.Ingest.State)
		}
		if s := scrapeMetrics(t, n); s.values["outpost_checkpoint_failures_total"] == 0 {
			return fmt.Errorf("no checkpoint failure yet")
		}
		return nil
	})
	first := nodeStatusDoc(t, n)["ingest"].(map[string]any)
	failing := scrapeSeries(t, n, 10, 400*time.Millisecond)
	last := nodeStatusDoc(t, n)["ingest"].(map[string]any)

	// /status: lag in events unknown (absent), lag in seconds growing.
	for _, st := range []map[string]any{first, last} {
		if _, ok := st["lag_events"]; ok {
			t.Errorf("/status shows lag_events %v while the source is unreachable", st["lag_events"])
		}
	}
	if a, b := first["lag_seconds"].(float64), last["lag_seconds"].(float64); !(a > 0 && b > a) {
		t.Errorf("/status lag_seconds %v then %v: want > 0 and growing", a, b)
	}
	// /metrics: the same.
	a, b := failing[0].values, failing[len(failing)-1].values
	if _, ok := b["outpost_lag_events"]; ok {
		t.Errorf("/metrics has outpost_lag_events %v while the source is unreachable", b["outpost_lag_events"])
	}
	if _, ok := quiet[0].values["outpost_lag_events"]; !ok {
		t.Errorf("/metrics lacks outpost_lag_events on a healthy node")
	}
	for _, name := range []string{"outpost_lag_seconds", "oso_fallback_snapshot_age_ms"} {
		if !(a[name] > 0 && b[name] > a[name]) {
			t.Errorf("%s %v then %v: want > 0 and growing", name, a[name], b[name])
		}
	}

	// The page: the verdict first, in words and colour, with how long.
	page = getPage(t, n)
	m := bannerRe.FindStringSubmatch(page)
	if m == nil || m[1] != "bad" || !strings.HasPrefix(m[2], "Failing for ") || !strings.Contains(m[3], "Checkpoints are failing") ||
		!strings.Contains(m[3], "Last error:") || !strings.Contains(m[3], "unknown") {
		t.Errorf("failing node's verdict: %q", m)
	}
	if strings.Index(page, `id="verdict"`) > strings.Index(page, "<table") {
		t.Error("the verdict is not above the tables")
	}
	for _, bad := range []string{"{&#34;", "[&#34;", "T00:00:00Z"} { // escaped JSON, zero times
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q:\n%s", bad, page)
		}
	}
	if !regexp.MustCompile(`caught_up_at</td><td class="v">\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \([0-9.]+m?s ago\)`).MatchString(page) {
		t.Errorf("caught_up_at is not an RFC 3339 time with its age:\n%s", page)
	}
	if !regexp.MustCompile(`lag_seconds</td><td class="v">[0-9.]+m?s<`).MatchString(page) {
		t.Errorf("lag_seconds is not a human-readable duration:\n%s", page)
	}
	if !regexp.MustCompile(`<td class="k">errors</td><td class="v"><table><tr><td class="k">poll/transport`).MatchString(page) {
		t.Errorf("ingest errors are not a nested table:\n%s", page)
	}

	testAlertRules(t, promtool, quiet, failing)
}

func scrapeSeries(t *testing.T, n *convNode, count int, every time.Duration) []scrape {
	t.Helper()
	out := make([]scrape, count)
	for i := range out {
		if i > 0 {
			time.Sleep(every)
		}
		out[i] = scrapeMetrics(t, n)
	}
	return out
}

func getPage(t *testing.T, n *convNode) string {
	t.Helper()
	resp, err := n.get("/")
	if err != nil || resp.Status != 200 {
		t.Fatalf("/: %v %v", err, resp)
	}
	return string(resp.Body)
}

// extend turns a few real scrapes into an hour of samples, one a minute,
// as promtool input: a series that never decreased across the scrapes
// (counters, the age of a node that is not catching up) continues at its
// observed average rate; one that went down (the age of a node that is
// caught up every poll) repeats its observed values.
func extend(scrapes []scrape, name string, minutes int) string {
	var vs []float64
	for _, s := range scrapes {
		v, ok := s.values[name]
		if !ok {
			return ""
		}
		vs = append(vs, v)
	}
	span := scrapes[len(scrapes)-1].at.Sub(scrapes[0].at).Seconds()
	monotonic := true
	for i := 1; i < len(vs); i++ {
		monotonic = monotonic && vs[i] >= vs[i-1]
	}
	rate := (vs[len(vs)-1] - vs[0]) / span
	out := make([]string, minutes)
	for i := range out {
		v := vs[i%len(vs)]
		if monotonic {
			v = vs[0] + rate*float64(60*i)
		}
		out[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strings.Join(out, " ")
}

// testAlertRules runs `promtool test rules` on docs/alerts.yml with the
// quiet and the failing node's metrics as two instances, and expects
// exactly these alerts: none on the quiet node; on the failing node
// OutpostStale, OutpostCheckpointFailing, and OutpostIngestErrors after
// its 10 minutes.
func testAlertRules(t *testing.T, promtool string, quiet, failing []scrape) {
	t.Helper()
	rulesPath, err := filepath.Abs("../../docs/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	// alert name → summary template, from the one-line annotations
	summaries := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)- alert: (\w+)\n(?:\s+.*\n)*?\s+annotations: \{summary: "(.*)"\}`).FindAllStringSubmatch(string(rules), -1) {
		summaries[m[1]] = m[2]
	}
	if len(summaries) != 5 {
		t.Fatalf("read %d rules' summaries from %s, want 5", len(summaries), rulesPath)
	}
	const minutes = 60
	var in strings.Builder
	for _, node := range []struct {
		instance string
		scrapes  []scrape
	}{{"quiet", quiet}, {"failing", failing}} {
		names := make([]string, 0, len(node.scrapes[0].values))
		for name := range node.scrapes[0].values {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			vals := extend(node.scrapes, name, minutes)
			if vals == "" {
				continue
			}
			series := name + `{instance="` + node.instance + `"}`
			if base, labels, ok := strings.Cut(name, "{"); ok {
				series = base + `{instance="` + node.instance + `",` + labels
			}
			fmt.Fprintf(&in, "  - series: '%s'\n    values: '%s'\n", series, vals)
		}
	}
	type alert struct{ name, kind string }
	firing := map[string][]alert{ // eval time → alerts of the failing node
		"1m":  {{name: "OutpostCheckpointFailing"}},                         // the others wait (for:) or need history
		"3m":  {{name: "OutpostStale"}, {name: "OutpostCheckpointFailing"}}, // 2 minutes as its summary says, +1 evaluation
		"5m":  {{name: "OutpostStale"}, {name: "OutpostCheckpointFailing"}},
		"9m":  {{name: "OutpostStale"}, {name: "OutpostCheckpointFailing"}},
		"12m": {{name: "OutpostStale"}, {name: "OutpostCheckpointFailing"}, {name: "OutpostIngestErrors", kind: "transport"}},
		"45m": {{name: "OutpostStale"}, {name: "OutpostCheckpointFailing"}, {name: "OutpostIngestErrors", kind: "transport"}},
	}
	var tests strings.Builder
	evals := make([]string, 0, len(firing))
	for e := range firing {
		evals = append(evals, e)
	}
	sort.Strings(evals)
	for _, eval := range evals {
		for _, name := range []string{"OutpostStale", "OutpostIngestErrors", "OutpostPoisonEvent", "OutpostResyncing", "OutpostCheckpointFailing"} {
			fmt.Fprintf(&tests, "  - eval_time: %s\n    alertname: %s\n    exp_alerts:\n", eval, name)
			for _, a := range firing[eval] {
				if a.name != name {
					continue
				}
				labels := `{instance: "failing"}`
				if a.kind != "" {
					labels = `{instance: "failing", kind: "` + a.kind + `"}`
				}
				summary := strings.NewReplacer("{{ $labels.instance }}", "failing", "{{ $labels.kind }}", a.kind).Replace(summaries[name])
				fmt.Fprintf(&tests, "    - exp_labels: %s\n      exp_annotations: {summary: %q}\n", labels, summary)
			}
			if !strings.HasSuffix(tests.String(), "exp_alerts:\n") {
				continue
			}
			s := tests.String()
			tests.Reset()
			tests.WriteString(strings.TrimSuffix(s, "\n") + " []\n")
		}
	}
	file := filepath.Join(t.TempDir(), "alerts_test.yml")
	body := fmt.Sprintf("rule_files: [%q]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n%s  alert_rule_test:\n%s", rulesPath, in.String(), tests.String())
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s\n--- %s ---\n%s", err, out, file, body)
	}
	t.Logf("promtool: %s", strings.TrimSpace(string(out)))
}
