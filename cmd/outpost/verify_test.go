package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A node on oso-api with --verify-rate compares itself with the control
// plane and finds no difference; `outpost verify` against the node agrees
// (exit 0), and against an upstream that answers differently reports the
// mismatches (exit 1).
func TestVerify(t *testing.T) {
	c := startOsoCluster(t)
	w := newWorkload(21, c.cp.Client)
	w.run(t, 40)
	n := c.startNode(t, t.TempDir(), "--refresh-interval", "50ms", "--verify-rate", "6000")
	c.waitContent(t, n, questions(21, 20))

	eventually(t, 60*time.Second, func() error {
		if got := n.metric(t, "outpost_verify_total", "outcome", "match"); got < 20 {
			return fmt.Errorf("%v matches so far", got)
		}
		return nil
	})
	if got := n.metric(t, "outpost_verify_total", "outcome", "mismatch"); got != 0 {
		t.Errorf("outpost_verify_total{outcome=mismatch} = %v with an unchanged upstream", got)
	}
	resp, err := n.get("/status")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(resp.Body, []byte(`"last_mismatches":[]`)) {
		t.Errorf("/status has no empty verify.last_mismatches: %s", resp.Body)
	}

	verifyCmd := func(upstream string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(t.Context(), []string{"verify", "--node-url", n.URL, "--control-plane-url", upstream,
			"--api-token", c.cp.ReadKey, "--questions", "80", "--seed", "3"}, func(string) (string, bool) { return "", false }, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := verifyCmd(c.cp.URL); code != 0 || !strings.Contains(out, "80 questions: 80 match, 0 mismatch, 0 error") {
		t.Errorf("outpost verify against the control plane: exit %d\n%s", code, out)
	}

	// An upstream that allows everything and lists nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stub := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"allowed":true,"results":[]}`))
	})}
	go stub.Serve(ln)
	t.Cleanup(func() { stub.Close() })
	code, out := verifyCmd("http://" + ln.Addr().String())
	if code != 1 || !strings.Contains(out, "MISMATCH authorize(") || !strings.Contains(out, "revision unknown") {
		t.Errorf("outpost verify against a stub: exit %d, want 1 with mismatches\n%s", code, out)
	}
	if code, out := verifyCmd(""); code != 2 || !strings.Contains(out, "usage") {
		t.Errorf("outpost verify without a control plane: exit %d\n%s", code, out)
	}
}

// With the poll source, --verify-rate compares the node with the reference
// control plane's Check API in the same way.
func TestVerifyRatePoll(t *testing.T) {
	c := startCluster(t, "poll")
	w := newWorkload(22, c.cp.Client)
	w.run(t, 40)
	n := c.startNode(t, t.TempDir(), "--verify-rate", "6000")
	c.converge(t, n, nil)
	eventually(t, 60*time.Second, func() error {
		if got := n.metric(t, "outpost_verify_total", "outcome", "match"); got < 20 {
			return fmt.Errorf("%v matches so far", got)
		}
		return nil
	})
	if got := n.metric(t, "outpost_verify_total", "outcome", "mismatch"); got != 0 {
		t.Errorf("outpost_verify_total{outcome=mismatch} = %v", got)
	}
}
