package http_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	cschttp "github.com/metropolis/csc/http"
	"github.com/metropolis/csc/projections"
)

// buildProbe counts the as-of builds of a server, how many ran at once at most, and can hold them.
type buildProbe struct {
	running, peak, total atomic.Int64
	hold                 chan struct{} // builds wait until it is closed (nil: they do not wait)
}

func (p *buildProbe) build(ctx context.Context, at projections.AsOf, build cschttp.BuildAsOfFunc) (*projections.Models, error) {
	n := p.running.Add(1)
	defer p.running.Add(-1)
	p.total.Add(1)
	for {
		peak := p.peak.Load()
		if n <= peak || p.peak.CompareAndSwap(peak, n) {
			break
		}
	}
	if p.hold != nil {
		<-p.hold
	}
	return build(ctx, at)
}

// gaugeValue reads a gauge of the registry (0 when it is not there).
func gaugeValue(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

// waitUntil polls cond until it holds (the test's own deadline bounds it).
func waitUntil(cond func() bool) {
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

// TestAsOfBuildsBounded: concurrent as-of reads of twelve different future moments never run more
// than AsOfBuilds builds at once, and all answer with the whole log.
func TestAsOfBuildsBounded(t *testing.T) {
	probe := &buildProbe{hold: make(chan struct{})}
	ts := startServer(t, "", serverOptions{asOfBuilds: 2, readWait: time.Minute, buildAsOf: probe.build})
	ts.itemIn("in_progress")
	head := ts.head()
	const readers = 12
	results := make([]response, readers)
	var wg sync.WaitGroup
	for i := range readers {
		at := time.Date(2100, 1, 1, 0, 0, 0, i+1, time.UTC).Format(time.RFC3339Nano)
		wg.Go(func() {
			results[i] = ts.do(req{method: "GET", path: "/v1/progress?asOf=" + url.QueryEscape(at), as: auditor})
		})
	}
	// Every reader is building or queued for a build slot (two build, ten wait).
	waitUntil(func() bool {
		return probe.running.Load()+int64(gaugeValue(t, ts.registry, "csc_http_asof_builds_waiting")) == readers
	})
	close(probe.hold)
	wg.Wait()
	if p := probe.peak.Load(); p > 2 {
		t.Errorf("%d as-of builds ran at once, want at most 2", p)
	}
	for i, r := range results {
		if r.status != 200 {
			t.Fatalf("reader %d: %d %s", i, r.status, r.body)
		}
		var p cschttp.Progress
		r.json(t, &p)
		if p.Position != fmt.Sprint(head) || len(p.Cities) != 7 {
			t.Errorf("reader %d: position %s with %d cities, want %d with 7", i, p.Position, len(p.Cities), head)
		}
	}
	if gaugeValue(t, ts.registry, "csc_http_asof_builds_running") != 0 {
		t.Error("builds still counted as running")
	}
}

// TestAsOfBuildsBusy: a read that finds every build slot taken for longer than ReadWait gets 503 with
// Retry-After; the build it waited behind still answers.
func TestAsOfBuildsBusy(t *testing.T) {
	probe := &buildProbe{hold: make(chan struct{})}
	ts := startServer(t, "", serverOptions{asOfBuilds: 1, readWait: 20 * time.Millisecond, buildAsOf: probe.build})
	var first response
	var wg sync.WaitGroup
	wg.Go(func() {
		first = ts.do(req{method: "GET", path: "/v1/progress?asOf=2100-01-01T00:00:00Z", as: auditor})
	})
	waitUntil(func() bool { return probe.running.Load() == 1 })
	r := ts.do(req{method: "GET", path: "/v1/matrix?asOf=2099-01-01T00:00:00Z", as: auditor})
	if r.status != 503 || r.header.Get("Retry-After") == "" || r.problem(t).Type != cschttp.ProblemTypePrefix+cschttp.ProblemUnavailable {
		t.Errorf("read with every build slot taken: %d, Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	close(probe.hold)
	wg.Wait()
	if first.status != 200 {
		t.Errorf("the build that held the slot: %d %s", first.status, first.body)
	}
}

// TestAsOfBuildsShared: a moment is built once per head of the log; a later moment than a build that
// included the whole log, and a moment between two builds that reached the same position, are served
// without a build; a write makes the next future read build again.
func TestAsOfBuildsShared(t *testing.T) {
	probe := &buildProbe{}
	ts := startServer(t, "", serverOptions{buildAsOf: probe.build})
	read := func(at time.Time) cschttp.Progress {
		t.Helper()
		var p cschttp.Progress
		ts.must(200, req{method: "GET", path: "/v1/progress?asOf=" + url.QueryEscape(at.Format(time.RFC3339Nano)), as: auditor}).json(t, &p)
		return p
	}
	builds := func(f func()) int64 {
		before := probe.total.Load()
		f()
		return probe.total.Load() - before
	}
	var page cschttp.EventPage
	ts.must(200, req{method: "GET", path: "/v1/events", as: auditor}).json(t, &page)
	launched := page.Events[len(page.Events)-1].Recorded
	time.Sleep(2 * time.Millisecond) // the next write's recorded time is after launched's
	ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin")})
	head := fmt.Sprint(ts.head())

	future := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	if n := builds(func() { read(future) }); n != 1 {
		t.Errorf("first future read: %d builds, want 1", n)
	}
	if n := builds(func() { read(future); read(future.Add(time.Nanosecond)); read(future.Add(time.Hour)) }); n != 0 {
		t.Errorf("repeated and later future reads on the same log: %d builds, want 0", n)
	}
	if n := builds(func() { read(future.Add(-time.Nanosecond)) }); n != 1 {
		t.Errorf("an earlier future moment: %d builds, want 1", n)
	}
	// Moments between the launch and the proposal all see the launch only.
	lo, hi := launched, launched.Add(time.Millisecond)
	var p cschttp.Progress
	if n := builds(func() { p = read(lo); read(hi) }); n != 2 {
		t.Errorf("two past moments: %d builds, want 2", n)
	}
	if n := builds(func() { read(lo.Add(time.Microsecond)) }); n != 0 {
		t.Errorf("a moment between two builds with the same end: %d builds, want 0", n)
	}
	if p.Position == head {
		t.Errorf("as of the launch: position %s, the head", p.Position)
	}
	ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin")})
	var after cschttp.Progress
	if n := builds(func() { after = read(future.Add(time.Hour)) }); n != 1 {
		t.Errorf("a future read after a write: %d builds, want 1", n)
	}
	if after.Position != fmt.Sprint(ts.head()) {
		t.Errorf("future read after a write: position %s, want %d", after.Position, ts.head())
	}
}
