package esdb

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
)

// metrics are the adapter's Prometheus metrics. A nil *metrics records nothing.
type metrics struct {
	reg             prometheus.Registerer
	appendSeconds   prometheus.Histogram
	appends         *prometheus.CounterVec
	resubscriptions prometheus.Counter
	clients         prometheus.Counter
}

// Outcomes of an append, the values of the "outcome" label of csc_eventstore_esdb_appends_total. (An
// idempotent repeat cannot be told from a write: the server answers both alike.)
const (
	outcomeOK            = "ok"
	outcomeWrongRevision = "wrong_revision"
	outcomeRejected      = "rejected" // refused by the adapter before anything was sent
	outcomeError         = "error"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		reg: reg,
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "csc_eventstore_esdb_append_duration_seconds",
			Help:    "Latency of appends sent to EventStoreDB, whatever their outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		appends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "csc_eventstore_esdb_appends_total",
			Help: "Appends to EventStoreDB by outcome (ok, wrong_revision, rejected, error).",
		}, []string{"outcome"}),
		resubscriptions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "csc_eventstore_esdb_resubscriptions_total",
			Help: "Subscriptions to $all that were dropped and made again.",
		}),
		clients: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "csc_eventstore_esdb_clients_created_total",
			Help: "EventStoreDB clients created (the first one, then one after each client closed under the store).",
		}),
	}
	collectors := []prometheus.Collector{m.appendSeconds, m.appends, m.resubscriptions, m.clients}
	for i, c := range collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range collectors[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	for _, o := range []string{outcomeOK, outcomeWrongRevision, outcomeRejected, outcomeError} {
		m.appends.WithLabelValues(o)
	}
	return m, nil
}

// unregister removes the metrics from the registerer (used when Open fails after registering them).
func (m *metrics) unregister() {
	if m == nil {
		return
	}
	for _, c := range []prometheus.Collector{m.appendSeconds, m.appends, m.resubscriptions, m.clients} {
		m.reg.Unregister(c)
	}
}

func (m *metrics) observeAppend(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.appendSeconds.Observe(d.Seconds())
	outcome := outcomeOK
	switch {
	case errors.Is(err, eventstore.ErrWrongRevision):
		outcome = outcomeWrongRevision
	case err != nil:
		outcome = outcomeError
	}
	m.appends.WithLabelValues(outcome).Inc()
}

func (m *metrics) rejected() {
	if m == nil {
		return
	}
	m.appends.WithLabelValues(outcomeRejected).Inc()
}

func (m *metrics) resubscribed() {
	if m == nil {
		return
	}
	m.resubscriptions.Inc()
}

func (m *metrics) clientCreated() {
	if m == nil {
		return
	}
	m.clients.Inc()
}
