package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-authz/outpost/internal/memtune"
	"github.com/outpost-authz/outpost/query"
	"github.com/outpost-authz/outpost/query/httpapi"
	"github.com/outpost-authz/outpost/replica"
	"github.com/outpost-authz/outpost/snapshotter"
)

// runChild runs a hidden child mode (childServe, childLoad); ok=false when
// args name none.
func runChild(ctx context.Context, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	var err error
	switch args[0] {
	case childServe:
		err = serveChild(ctx, args[1:], stdout)
	case childLoad:
		err = loadChild(ctx, args[1:], stdout)
	default:
		return 0, false
	}
	if err != nil {
		fmt.Fprintf(stderr, "outpost-bench %s: %v\n", args[0], err)
		return 1, true
	}
	return 0, true
}

// minimalAnswer is the minimal handler's body.
var minimalAnswer = []byte(`{"allowed":true}`)

// minimalHandler is the yardstick: read the body, write {"allowed":true}.
func minimalHandler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Write(minimalAnswer)
}

// headersHandler is the minimal handler that also sends the response
// headers the node sends with an answer: a fresh X-Request-Id (a UUID, as
// for a request without one), Server-Timing, X-Outpost-Revision and an
// explicit Content-Length. Its distance from the minimal handler is what
// the Check API's headers cost net/http, before any work of the node's.
func headersHandler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	var id [16]byte
	binary.LittleEndian.PutUint64(id[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(id[8:], rand.Uint64())
	var uuid [36]byte
	hex.Encode(uuid[:], id[:]) // the layout of a UUID is not what is measured
	uuid[8], uuid[13], uuid[18], uuid[23] = '-', '-', '-', '-'
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["Content-Length"] = headerLength
	h["X-Request-Id"] = []string{string(uuid[:])}
	h["Server-Timing"] = headerTiming
	h["X-Outpost-Revision"] = headerRevision
	w.WriteHeader(http.StatusOK)
	w.Write(minimalAnswer)
}

var (
	headerJSON     = []string{"application/json"}
	headerLength   = []string{strconv.Itoa(len(minimalAnswer))}
	headerTiming   = []string{"oso;dur=0"}
	headerRevision = []string{"1000001"}
)

// serveChild loads a checkpoint and serves it as a node does (API keys,
// default answer cache), again without the cache, the minimal handler
// (with /debug/pprof/ next to it) and the minimal handler with the node's
// headers, each on its own 127.0.0.1 port. It
// prints a serverInfo line and serves until its stdin closes.
func serveChild(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(childServe, flag.ContinueOnError)
	cp := fs.String("checkpoint", "", "checkpoint `file` to serve")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// The node's memory policy (GC target and soft limit), as cmd/outpost
	// applies it at start.
	if _, err := memtune.Apply(memtune.Config{}); err != nil {
		return err
	}
	f, err := os.Open(*cp)
	if err != nil {
		return err
	}
	st, _, err := snapshotter.Read(bufio.NewReaderSize(f, 1<<20), replica.Config{Env: benchEnv, Compiler: query.Compile})
	f.Close()
	if err != nil {
		return err
	}
	var servers []*http.Server
	var wg sync.WaitGroup
	defer func() {
		for _, s := range servers {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.Shutdown(sctx)
			cancel()
		}
		wg.Wait()
	}()
	serve := func(h http.Handler) (string, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		s := httpapi.NewHTTPServer(ln.Addr().String(), h)
		servers = append(servers, s)
		wg.Go(func() { s.Serve(ln) })
		return "http://" + ln.Addr().String(), nil
	}
	var info serverInfo
	for _, v := range []struct {
		cache int64
		url   *string
	}{{0, &info.Cached}, {-1, &info.Uncached}} {
		e, err := query.New(st, query.Config{CacheMaxBytes: v.cache})
		if err != nil {
			return err
		}
		defer e.Close()
		api, err := httpapi.New(httpapi.Config{Engine: e, Registry: prometheus.NewRegistry(), Auth: httpapi.AuthTokens})
		if err != nil {
			return err
		}
		if *v.url, err = serve(api.Handler()); err != nil {
			return err
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/authorize", minimalHandler)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	if info.Minimal, err = serve(mux); err != nil {
		return err
	}
	hmux := http.NewServeMux()
	hmux.HandleFunc("/api/authorize", headersHandler)
	if info.Headers, err = serve(hmux); err != nil {
		return err
	}
	runtime.GC()
	debug.FreeOSMemory()
	info.RSS, info.Procs = procStatus("VmRSS:"), runtime.GOMAXPROCS(0)
	b, _ := json.Marshal(info)
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// loadChild is the Go load generator used when wrk is not installed: conns
// keep-alive connections in a closed loop for duration, cycling through
// the bodies file; it prints a loadResult line.
func loadChild(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(childLoad, flag.ContinueOnError)
	url := fs.String("url", "", "")
	bodiesFile := fs.String("bodies", "", "")
	key := fs.String("key", "", "")
	conns := fs.Int("conns", pinnedConns, "")
	d := fs.Duration("duration", 5*time.Second, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raw, err := os.ReadFile(*bodiesFile)
	if err != nil {
		return err
	}
	bodies := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	tr := &http.Transport{MaxIdleConns: *conns, MaxIdleConnsPerHost: *conns, DisableCompression: true}
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	var errs atomic.Int64
	lats := make([][]time.Duration, *conns)
	start := time.Now()
	until := start.Add(*d)
	var wg sync.WaitGroup
	for w := range *conns {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i += *conns {
				t0 := time.Now()
				if t0.After(until) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, *url, bytes.NewReader(bodies[i%len(bodies)]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+*key)
				resp, err := cl.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	lr := loadResult{Requests: int64(len(all)) + errs.Load(), Seconds: secs, Errors: errs.Load()}
	if len(all) > 0 {
		lr.P50US = float64(percentile(all, 0.50)) / 1e3
		lr.P99US = float64(percentile(all, 0.99)) / 1e3
	}
	b, _ := json.Marshal(lr)
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}
