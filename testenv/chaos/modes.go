package chaos

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// forward connects c to the upstream and copies bytes both ways until both
// directions are done. A failed dial resets c.
func (p *Proxy) forward(c net.Conn) {
	p.count(func(st *Stats) { st.Forwarded++ })
	up, err := net.DialTimeout("tcp", p.cfg.Upstream, p.cfg.DialTimeout)
	if err != nil {
		p.count(func(st *Stats) { st.DialErrors++ })
		p.cfg.Logger.Warn("chaos upstream dial", "upstream", p.cfg.Upstream, "err", err)
		reset(c)
		return
	}
	if !p.track(c, up) { // dropped while dialing
		up.Close()
		return
	}
	defer p.forget(up)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pipe(up, c)
	}()
	pipe(c, up)
	wg.Wait()
}

// pipe copies src to dst. At src's end of stream it half-closes dst, so the
// other side sees the end too and the other direction keeps working; on an
// error it closes both.
func pipe(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		src.Close()
		return
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
		return
	}
	dst.Close()
}

// hang reads and discards what the client sends until it closes the
// connection or the proxy drops it.
func hang(c net.Conn) {
	io.Copy(io.Discard, c)
}

// answer serves HTTP/1.1 requests on c, answering each with status and a
// JSON error body, until the client closes the connection or asks to.
// Request bodies are read in full first, so closing never discards unread
// input (which would make the kernel send a reset instead of the answer).
func (p *Proxy) answer(c net.Conn, status int) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, err = io.Copy(io.Discard, req.Body)
		req.Body.Close()
		if err != nil {
			return
		}
		body := fmt.Sprintf(`{"message":"chaos proxy: injected %d %s"}`, status, http.StatusText(status))
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("X-Chaos-Proxy", "http5xx")
		if id := req.Header.Get("X-Request-ID"); id != "" {
			h.Set("X-Request-ID", id)
		}
		resp := &http.Response{
			StatusCode:    status,
			Status:        strconv.Itoa(status) + " " + http.StatusText(status),
			ProtoMajor:    1,
			ProtoMinor:    1,
			Header:        h,
			ContentLength: int64(len(body)),
			Body:          io.NopCloser(strings.NewReader(body)),
			Close:         req.Close,
			Request:       req,
		}
		p.count(func(st *Stats) { st.Answered++ }) // before the client can see it
		if err := resp.Write(c); err != nil {
			return
		}
		if req.Close {
			return
		}
	}
}
