package controlplane

import (
	"net/http"
	"testing"
)

// expectReports reads controlplane_expect_reports_total for one label.
func expectReports(t *testing.T, cp *Running, expected string) float64 {
	t.Helper()
	mfs, err := cp.Server().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "controlplane_expect_reports_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelValue(m, "expected") == expected {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestExpect: POST /api/expect accepts a well-formed parity report with
// any valid key, counts it, answers 200 with a message without an OsoOffset, and
// refuses a malformed one with 400 naming the problem.
func TestExpect(t *testing.T) {
	cp := startWithPolicy(t, Config{})
	cases := []struct {
		name    string
		key     string
		body    any
		status  int
		message string
	}{
		{"expected true, read key", cp.ReadKey, `{"request_id":"6f1c9a52-3d7e-4b8a-9b71-0c2f5e8d4a10","expected":true}`, 200, ""},
		{"expected false, write key", cp.WriteKey, `{"request_id":"r-2","expected":false}`, 200, ""},
		{"unknown fields ignored", cp.ReadKey, `{"request_id":"r-3","expected":true,"extra":1}`, 200, ""},
		{"no key", "", `{"request_id":"r","expected":true}`, 401, "missing API key"},
		{"no body", cp.ReadKey, ``, 400, "invalid JSON in expect body"},
		{"null body", cp.ReadKey, `null`, 400, "must be an object"},
		{"array body", cp.ReadKey, `[]`, 400, "invalid JSON in expect body"},
		{"missing request_id", cp.ReadKey, `{"expected":true}`, 400, `no \"request_id\"`},
		{"numeric request_id", cp.ReadKey, `{"request_id":7,"expected":true}`, 400, `\"request_id\" must be a string, not 7`},
		{"empty request_id", cp.ReadKey, `{"request_id":"","expected":true}`, 400, "must not be empty"},
		{"missing expected", cp.ReadKey, `{"request_id":"r"}`, 400, `no \"expected\"`},
		{"string expected", cp.ReadKey, `{"request_id":"r","expected":"true"}`, 400, `\"expected\" must be a boolean, not \"true\"`},
		{"null expected", cp.ReadKey, `{"request_id":"r","expected":null}`, 400, "must be a boolean, not null"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, cp, tc.key, http.MethodPost, "/api/expect", tc.body)
			wantStatus(t, res, tc.status, tc.message)
			if tc.status == 200 {
				if string(res.Body) != "{\"message\":\"parity report recorded\"}\n" {
					t.Errorf("body %q, want {\"message\": ...}", res.Body)
				}
				if off := res.Header.Get("OsoOffset"); off != "" {
					t.Errorf("OsoOffset %q on a report that writes nothing", off)
				}
			}
		})
	}
	if got := expectReports(t, cp, "true"); got != 2 {
		t.Errorf("reports with expected=true: %v, want 2", got)
	}
	if got := expectReports(t, cp, "false"); got != 1 {
		t.Errorf("reports with expected=false: %v, want 1", got)
	}
	if got := cp.Requests("/api/expect"); got != float64(len(cases)) {
		t.Errorf("requests counted on /api/expect: %v, want %d", got, len(cases))
	}
}
