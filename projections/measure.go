package projections

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/metropolis/csc/eventstore"
)

// MeasureReadAll reads the whole log of store through ReadAll without decoding anything and returns
// the events per second: the rate a rebuild could reach if decoding and folding cost nothing.
func MeasureReadAll(ctx context.Context, store eventstore.Store) (eventsPerSecond float64, events int, err error) {
	start := time.Now()
	for _, err := range store.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			return 0, events, fmt.Errorf("measure read all: %w", err)
		}
		events++
	}
	return float64(events) / time.Since(start).Seconds(), events, nil
}

// QueryLatency summarises the latencies of repeated queries.
type QueryLatency struct {
	Queries  int
	P50, P99 time.Duration
	Max      time.Duration
}

// MeasureProgress calls m.Progress(now) n times and returns the latency distribution. Run it on a
// quiet machine, or compare two models measured alternately (MeasureProgressPair), since a shared
// machine adds its own noise.
func MeasureProgress(m *Models, now time.Time, n int) QueryLatency {
	d := make([]time.Duration, n)
	for i := range d {
		start := time.Now()
		m.Progress(now)
		d[i] = time.Since(start)
	}
	return latency(d)
}

// MeasureProgressPair measures m.Progress(now) on a and b alternately, n times each, so that both
// see the same machine conditions: the fair way to compare a small history with a large one.
func MeasureProgressPair(a, b *Models, now time.Time, n int) (QueryLatency, QueryLatency) {
	da, db := make([]time.Duration, n), make([]time.Duration, n)
	for i := range n {
		start := time.Now()
		a.Progress(now)
		da[i] = time.Since(start)
		start = time.Now()
		b.Progress(now)
		db[i] = time.Since(start)
	}
	return latency(da), latency(db)
}

func latency(d []time.Duration) QueryLatency {
	slices.Sort(d)
	q := QueryLatency{Queries: len(d)}
	if len(d) == 0 {
		return q
	}
	q.P50, q.P99, q.Max = d[len(d)/2], d[min(len(d)-1, len(d)*99/100)], d[len(d)-1]
	return q
}
