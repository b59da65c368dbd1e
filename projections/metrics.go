package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// runnerMetrics are the runner's Prometheus collectors.
type runnerMetrics struct {
	position prometheus.Gauge
	applied  prometheus.Counter
	unknown  prometheus.Counter
	rebuilds prometheus.Counter
}

// headTimeout bounds the store query a scrape of the lag metrics makes.
const headTimeout = time.Second

func newRunnerMetrics(r *Runner, reg prometheus.Registerer) (*runnerMetrics, error) {
	m := &runnerMetrics{
		position: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "csc_projection_position",
			Help: "Position in $all (commit position) of the last event the live read models include.",
		}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "csc_projection_events_applied_total",
			Help: "Events applied to read models (every catch-up and rebuild counts its events again).",
		}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "csc_projection_unknown_events_total",
			Help: "Events of a type this build does not know, skipped (forward compatibility).",
		}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "csc_projection_builds_total",
			Help: "Read model sets built from the start of the log and published (the first catch-up and each rebuild).",
		}),
	}
	lag := func() (events float64, seconds float64) {
		ctx, cancel := context.WithTimeout(context.Background(), headTimeout)
		defer cancel()
		head, err := r.store.Head(ctx)
		pos := r.Position()
		if err != nil || !pos.Before(head) {
			return 0, 0
		}
		events = float64(head.Commit - pos.Commit)
		if last := r.lastRecorded.Load(); last != 0 {
			seconds = max(0, r.now().Sub(time.Unix(0, last)).Seconds())
		}
		return events, seconds
	}
	collectors := []prometheus.Collector{
		m.position, m.applied, m.unknown, m.rebuilds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "csc_projection_lag_events",
			Help: "How far the live read models are behind the head of $all, in commit positions (events, on the embedded store).",
		}, func() float64 { e, _ := lag(); return e }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "csc_projection_lag_seconds",
			Help: "While the live read models are behind the head of $all: the age of the last event they include; 0 when caught up.",
		}, func() float64 { _, s := lag(); return s }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "csc_projection_ready",
			Help: "1 once the read models have caught up with the log as it was when the runner started.",
		}, func() float64 {
			if r.Ready() {
				return 1
			}
			return 0
		}),
	}
	for i, c := range collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range collectors[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register projection metrics: %w", err)
		}
	}
	return m, nil
}
