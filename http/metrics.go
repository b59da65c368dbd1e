package http

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the HTTP layer's collectors. Route labels are mux path templates (or "unmatched"), so the
// label sets stay bounded whatever paths clients send.
type metrics struct {
	requests *prometheus.CounterVec   // route, method, code
	latency  *prometheus.HistogramVec // route, method
	sse      prometheus.Gauge

	asOfRunning, asOfWaiting prometheus.Gauge
	asOfBuilds, asOfRefused  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "csc_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "csc_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template and method (SSE: the stream's life).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		sse: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "csc_http_sse_clients",
			Help: "Server-Sent Events clients connected to /v1/events/live.",
		}),
	}
	m.asOfRunning, m.asOfWaiting, m.asOfBuilds, m.asOfRefused = asOfCollectors()
	collectors := []prometheus.Collector{m.requests, m.latency, m.sse, m.asOfRunning, m.asOfWaiting, m.asOfBuilds, m.asOfRefused}
	for i, c := range collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range collectors[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions:
	default:
		method = "other" // clients choose methods: keep the label set bounded
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}
