package sqlite

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Append outcomes, the values of the outcome label.
const (
	outcomeOK            = "ok"
	outcomeIdempotent    = "idempotent"
	outcomeWrongRevision = "wrong_revision"
	outcomeRejected      = "rejected" // refused before or by the database for this append alone
	outcomeError         = "error"    // the batch failed (I/O, lock, corruption) or the store closed
)

// metrics are the store's Prometheus collectors. They always exist; they are registered only when
// Options.Registerer is set, and unregistered by Close so that the file can be reopened.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	appends  *prometheus.CounterVec
	events   prometheus.Counter
	latency  prometheus.Histogram
	batch    prometheus.Histogram
	commitHS prometheus.Histogram
	ckpt     prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg: reg,
		appends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "csc_eventstore_sqlite_appends_total",
			Help: "Appends answered by the SQLite event store, by outcome.",
		}, []string{"outcome"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "csc_eventstore_sqlite_events_appended_total",
			Help: "Events written by the SQLite event store (idempotent repeats excluded).",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "csc_eventstore_sqlite_append_duration_seconds",
			Help:    "Time from Append being called to its durable acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "csc_eventstore_sqlite_batch_appends",
			Help:    "Appends committed per transaction (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		commitHS: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "csc_eventstore_sqlite_commit_duration_seconds",
			Help:    "Duration of COMMIT, which writes and fsyncs the WAL.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		ckpt: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "csc_eventstore_sqlite_checkpoint_duration_seconds",
			Help:    "Duration of the background checkpoints that copy the WAL into the database file.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}),
	}
	for _, outcome := range []string{outcomeOK, outcomeIdempotent, outcomeWrongRevision, outcomeRejected, outcomeError} {
		m.appends.WithLabelValues(outcome)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.appends, m.events, m.latency, m.batch, m.commitHS, m.ckpt} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				return nil, fmt.Errorf("register metrics: another SQLite store is registered with this registerer: %w", err)
			}
			return nil, fmt.Errorf("register metrics: %w", err)
		}
		m.collectors = append(m.collectors, c)
	}
	return m, nil
}

func (m *metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
	m.collectors = nil
}

func (m *metrics) observeAppend(outcome string, events int, d time.Duration) {
	m.appends.WithLabelValues(outcome).Inc()
	if outcome == outcomeOK {
		m.events.Add(float64(events))
	}
	m.latency.Observe(d.Seconds())
}
