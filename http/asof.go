package http

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/projections"
)

// DefaultAsOfBuilds is the number of as-of builds that may run at once when Config.AsOfBuilds is 0.
const DefaultAsOfBuilds = 2

// asOfCacheSize is the number of as-of builds whose read models are kept.
const asOfCacheSize = 8

// asOfRetryAfter is the Retry-After (seconds) of a read refused because every build slot stayed busy.
const asOfRetryAfter = 2

// BuildAsOfFunc builds the read models as of a moment of the log (projections.BuildAsOf).
type BuildAsOfFunc func(ctx context.Context, at projections.AsOf) (*projections.Models, error)

// asOfCache serves the read models as of past or future moments. A build replays the log from the
// start and holds a whole set of read models, so builds are expensive: at most cap(slots) run at once
// across the server (a caller waits for a slot, bounded by wait and its context; errAsOfBusy after),
// and the builds are kept and shared whenever that is provably exact.
//
// An as-of view is the longest prefix of $all whose effective times are at or before the moment.
// Every build is bounded by the head of the log when it began (AsOf.Position), so it is a pure
// function of (moment, head): a build that stopped before that head (an event after the moment
// follows) holds whatever the log grows into; a build that reached the head ("complete") holds as long
// as the head has not moved. As prefixes grow with the moment, a moment between two built moments
// whose builds reached the same position has that same view, and a moment at or after a complete
// build's moment, on the same head, is the whole log too (so every future moment shares one build
// until the next write).
//
// It is safe for concurrent use.
type asOfCache struct {
	build   BuildAsOfFunc
	slots   chan struct{} // one token per build running
	wait    time.Duration // how long a caller waits for a slot
	metrics *metrics      // nil: none

	mu      sync.Mutex
	entries map[time.Time]*asOfEntry
	order   []time.Time // oldest first
}

type asOfEntry struct {
	at     time.Time
	head   eventstore.Position // the head of the log the build was bounded by
	done   chan struct{}       // closed when the build ended
	models *projections.Models
	pos    eventstore.Position // the position the models reached
	err    error
}

func (e *asOfEntry) ended() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// complete reports whether the build included every event up to its head.
func (e *asOfEntry) complete() bool { return e.pos == e.head }

// holds reports whether the ended build e is still the view of e.at on a log whose head is head.
func (e *asOfEntry) holds(head eventstore.Position) bool {
	return e.err == nil && (!e.complete() || e.head == head)
}

// errAsOfBusy refuses an as-of read when no build slot became free in time.
var errAsOfBusy = &requestError{status: http.StatusServiceUnavailable, code: ProblemUnavailable, retryAfter: asOfRetryAfter,
	detail: "the server is busy building other as-of views: try again shortly"}

func newAsOfCache(build BuildAsOfFunc, builds int, wait time.Duration, m *metrics) *asOfCache {
	return &asOfCache{build: build, slots: make(chan struct{}, builds), wait: wait, metrics: m,
		entries: make(map[time.Time]*asOfEntry)}
}

// get returns the read models as of at on a log whose head is head: kept ones when they provably are
// that view, else a build (shared with concurrent callers of the same moment).
func (c *asOfCache) get(ctx context.Context, at time.Time, head eventstore.Position) (*projections.Models, error) {
	at = at.UTC()
	if head.IsZero() {
		// An empty log: nothing to share, and AsOf.Position cannot bound the build.
		return c.runBuild(ctx, projections.AsOf{Time: at})
	}
	for {
		m, e, err := c.lookup(ctx, at, head)
		if err != nil || m != nil {
			return m, err
		}
		if e != nil { // a build of this moment is running: share it
			select {
			case <-e.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return e.models, e.err // (the build runs without its caller's cancellation)
		}
		if err := c.acquire(ctx); err != nil {
			return nil, err
		}
		// Another build may have ended while this caller waited: look again before building.
		c.mu.Lock()
		m, e = c.lookupLocked(at, head)
		if m != nil || e != nil {
			c.mu.Unlock()
			c.release()
			if m != nil {
				return m, nil
			}
			continue
		}
		e = c.insertLocked(at, head)
		c.mu.Unlock()
		return c.buildEntry(ctx, e)
	}
}

// lookup returns the models of a kept build that is the view of at on head, or the running build of
// at to wait for, or neither.
func (c *asOfCache) lookup(ctx context.Context, at time.Time, head eventstore.Position) (*projections.Models, *asOfEntry, error) {
	c.mu.Lock()
	m, e := c.lookupLocked(at, head)
	c.mu.Unlock()
	if m == nil && e == nil {
		return nil, nil, ctx.Err()
	}
	return m, e, nil
}

// lookupLocked is lookup with c.mu held.
func (c *asOfCache) lookupLocked(at time.Time, head eventstore.Position) (*projections.Models, *asOfEntry) {
	if e, ok := c.entries[at]; ok {
		if !e.ended() {
			return nil, e
		}
		if e.holds(head) {
			return e.models, nil
		}
	}
	var lo, hi *asOfEntry // the kept builds nearest to at, before and after it
	for _, e := range c.entries {
		if !e.ended() || e.err != nil {
			continue
		}
		if !e.at.After(at) && (lo == nil || e.at.After(lo.at)) {
			lo = e
		}
		if !e.at.Before(at) && (hi == nil || e.at.Before(hi.at)) {
			hi = e
		}
	}
	switch {
	case lo != nil && lo.complete() && lo.head == head:
		// Every event of the log is at or before lo.at, so at or before at.
		return lo.models, nil
	case lo != nil && hi != nil && lo.pos == hi.pos && hi.holds(head):
		// prefix(lo.at) ⊆ prefix(at) ⊆ prefix(hi.at), and both have the same end.
		return lo.models, nil
	}
	return nil, nil
}

// insertLocked keeps a new entry for the build of at bounded by head (c.mu held).
func (c *asOfCache) insertLocked(at time.Time, head eventstore.Position) *asOfEntry {
	e := &asOfEntry{at: at, head: head, done: make(chan struct{})}
	if old, ok := c.entries[at]; ok {
		c.dropLocked(at, old)
	}
	c.entries[at] = e
	c.order = append(c.order, at)
	if len(c.order) > asOfCacheSize {
		c.dropLocked(c.order[0], c.entries[c.order[0]])
	}
	return e
}

// buildEntry runs the build of e in the slot the caller holds (released here).
func (c *asOfCache) buildEntry(ctx context.Context, e *asOfEntry) (*projections.Models, error) {
	// The build outlives a caller that goes away: other callers may wait for it.
	e.models, e.err = c.buildHeld(context.WithoutCancel(ctx), projections.AsOf{Time: e.at, Position: e.head})
	if e.err == nil {
		e.pos = e.models.Position()
	}
	close(e.done)
	if e.err != nil {
		c.mu.Lock()
		c.dropLocked(e.at, e)
		c.mu.Unlock()
	}
	return e.models, e.err
}

// runBuild builds at once a slot is free, keeping nothing.
func (c *asOfCache) runBuild(ctx context.Context, at projections.AsOf) (*projections.Models, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	return c.buildHeld(ctx, at)
}

// buildHeld runs a build in the slot the caller holds, and releases it.
func (c *asOfCache) buildHeld(ctx context.Context, at projections.AsOf) (*projections.Models, error) {
	defer c.release()
	if c.metrics != nil {
		c.metrics.asOfRunning.Inc()
		defer c.metrics.asOfRunning.Dec()
		c.metrics.asOfBuilds.Inc()
	}
	return c.build(ctx, at)
}

// acquire takes a build slot, waiting at most c.wait (errAsOfBusy after) and no longer than ctx.
func (c *asOfCache) acquire(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	if c.metrics != nil {
		c.metrics.asOfWaiting.Inc()
		defer c.metrics.asOfWaiting.Dec()
	}
	timer := time.NewTimer(c.wait)
	defer timer.Stop()
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		if c.metrics != nil {
			c.metrics.asOfRefused.Inc()
		}
		return errAsOfBusy
	}
}

func (c *asOfCache) release() { <-c.slots }

// dropLocked forgets the entry of key if it is e. c.mu is held.
func (c *asOfCache) dropLocked(key time.Time, e *asOfEntry) {
	if c.entries[key] != e {
		return
	}
	delete(c.entries, key)
	for i, k := range c.order {
		if k.Equal(key) {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
}

// asOfCollectors are the metrics of the as-of builds.
func asOfCollectors() (running, waiting prometheus.Gauge, builds, refused prometheus.Counter) {
	running = prometheus.NewGauge(prometheus.GaugeOpts{Name: "csc_http_asof_builds_running",
		Help: "As-of read models being built (bounded by the server's AsOfBuilds)."})
	waiting = prometheus.NewGauge(prometheus.GaugeOpts{Name: "csc_http_asof_builds_waiting",
		Help: "As-of reads waiting for a build slot."})
	builds = prometheus.NewCounter(prometheus.CounterOpts{Name: "csc_http_asof_builds_total",
		Help: "As-of read models built (reads served from kept builds are not counted)."})
	refused = prometheus.NewCounter(prometheus.CounterOpts{Name: "csc_http_asof_refused_total",
		Help: "As-of reads refused with 503 because no build slot became free in time."})
	return running, waiting, builds, refused
}
