package controlplane

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the control plane's Prometheus metrics, on a registry of its
// own so that several control planes in one test process stay apart.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	events    *prometheus.CounterVec
	published *prometheus.GaugeVec
	pubErrors *prometheus.CounterVec
	expects   *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controlplane_http_requests_total",
			Help: "HTTP requests answered, by route path template and status code.",
		}, []string{"path", "status_code"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controlplane_events_total",
			Help: "Events appended to the log since start, by kind.",
		}, []string{"kind"}),
		published: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "controlplane_published_seq",
			Help: "Seq of the last event a transport acknowledged.",
		}, []string{"transport"}),
		pubErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controlplane_publish_errors_total",
			Help: "Failed publish or connect attempts, by transport.",
		}, []string{"transport"}),
		expects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controlplane_expect_reports_total",
			Help: "POST /api/expect parity-handle reports accepted, by the expected decision they carried.",
		}, []string{"expected"}),
	}
	m.reg.MustRegister(m.requests, m.events, m.published, m.pubErrors, m.expects,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// register adds the gauges that read the server's state.
func (m *metrics) register(s *Server) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "controlplane_head_seq",
		Help: "Seq of the last committed event.",
	}, func() float64 { return float64(s.state.Revision()) }))
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// count is router middleware counting each request under its route's path
// template.
func (m *metrics) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := "unmatched"
		if rt := mux.CurrentRoute(r); rt != nil {
			if t, err := rt.GetPathTemplate(); err == nil {
				path = t
			}
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		m.requests.WithLabelValues(path, strconv.Itoa(rec.status)).Inc()
	})
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming handlers flush through the recorder.
func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
