package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	cschttp "github.com/metropolis/csc/http"
	"github.com/metropolis/csc/projections"
)

// The soak test (issue 8, item 4): mixed load on an in-process server, so that its goroutines and heap
// can be read directly.
//
//	CSC_SOAK=60s go test -run '^TestSoak$' -count=1 -v -timeout 10m ./cmd/csc/
//
// Without CSC_SOAK it runs for defaultSoak (skipped with -short); CSC_SOAK=off skips it.

// Soak sizes.
const (
	defaultSoak  = 10 * time.Second
	soakWriters  = 6
	soakReaders  = 4
	soakStreams  = 3 // SSE listeners, each connecting and leaving over and over
	soakSeed     = 20260315
	soakWarmup   = 2 * time.Second
	soakMoments  = 4                // distinct past moments the queries with asOf ask about
	soakSettle   = 15 * time.Second // how long the goroutines may take to wind down after the load
	soakMaxExtra = 2                // goroutines above the baseline tolerated after the load
	// soakSlack is the heap growth allowed beyond twice the growth of the read models (the live read
	// models and the engines' folded states both grow with the log).
	soakSlack = 16 << 20
)

// TestSoak runs writes (items through their lifecycle), queries (progress, items, an item, the matrix,
// the activity feed, raw log pages, now and then as of a past moment) and SSE listeners that connect,
// read a while, leave and resume with Last-Event-ID, all at once. It requires:
//   - 0 errors: every write acknowledged, every read 200 and at or after the position it asked for,
//     every SSE stream in order and resuming after its Last-Event-ID, and nothing logged at warn or
//     above by the server;
//   - no goroutine growth: once the load stops and the clients close their connections, the process
//     is back to at most soakMaxExtra goroutines over the count after the warm-up;
//   - memory bounded: the heap after GC grows by at most twice what read models built fresh from the
//     log grow by over the same events, plus soakSlack.
//
// It logs the figures: commands, queries and SSE events per second, goroutines and heap.
func TestSoak(t *testing.T) {
	d := defaultSoak
	switch v := os.Getenv("CSC_SOAK"); v {
	case "off":
		t.Skip("CSC_SOAK=off")
	case "":
		if testing.Short() {
			t.Skip("soak: skipped with -short (CSC_SOAK=60s runs it for a minute)")
		}
	default:
		var err error
		if d, err = time.ParseDuration(v); err != nil || d <= 0 {
			t.Fatalf("CSC_SOAK=%q: want a duration such as 60s, or off", v)
		}
	}

	dir := t.TempDir()
	m, logs, _ := testMain(map[string]string{"CSC_DATA": dir, "CSC_ADDR": "127.0.0.1:0", "CSC_LOG_LEVEL": "warn"})
	url := serve(t, m)
	tf := readTokens(t, dir)
	s := newSoak(url, tf)

	// Warm up (connection pools, caches, metrics), then take the baseline with no load and no
	// connections.
	s.moments = time.Now()
	s.run(t, soakWarmup)
	for i := range soakMoments {
		var p cschttp.Progress
		if err := s.client.getErr(context.Background(), tf.Auditor, s.asOfPath(i), &p); err != nil {
			t.Fatal(err)
		}
	}
	s.client.close()
	g0, h0 := settle(t, 0), heapAfterGC()
	e0 := head(t, m)
	m0 := modelsSize(t, m)

	start := time.Now()
	s.reset()
	s.run(t, d)
	elapsed := time.Since(start)

	g1, h1 := settle(t, g0+soakMaxExtra), heapAfterGC()
	e1 := head(t, m)
	m1 := modelsSize(t, m)

	if n := s.errors.Load(); n > 0 {
		t.Errorf("%d errors; the first: %v", n, s.firstError())
	}
	if l := logs.String(); l != "" {
		t.Errorf("the server logged warnings or errors:\n%s", l)
	}
	if g1 > g0+soakMaxExtra {
		t.Errorf("goroutines grew from %d to %d after the load:\n%s", g0, g1, goroutineDump())
	}
	growth, models := int64(h1)-int64(h0), int64(m1)-int64(m0)
	if growth > 2*models+soakSlack {
		t.Errorf("the heap grew by %s over %d events; read models built fresh grew by %s (allowed: twice that plus %s)",
			mib(growth), e1.Commit-e0.Commit, mib(models), mib(soakSlack))
	}
	sec := elapsed.Seconds()
	t.Logf("soak %v (measured %.1fs): %d writers, %d readers, %d SSE listeners", d, sec, soakWriters, soakReaders, soakStreams)
	t.Logf("commands %d (%.0f/s), queries %d (%.0f/s), SSE connections %d, SSE events received %d (%.0f/s), errors %d",
		s.commands.Load(), float64(s.commands.Load())/sec, s.queries.Load(), float64(s.queries.Load())/sec,
		s.connects.Load(), s.sseEvents.Load(), float64(s.sseEvents.Load())/sec, s.errors.Load())
	t.Logf("log: %d events after the warm-up, %d at the end (+%d)", e0.Commit, e1.Commit, e1.Commit-e0.Commit)
	t.Logf("goroutines: %d after the warm-up, at most %d under load, %d after the load", g0, s.maxGoroutines.Load(), g1)
	t.Logf("heap after GC: %s after the warm-up, %s after the load (%+.1f MiB; at most %s in use under load); "+
		"read models built fresh: %s and %s (%+.1f MiB)",
		mib(int64(h0)), mib(int64(h1)), float64(growth)/(1<<20), mib(int64(s.maxHeap.Load())), mib(int64(m0)), mib(int64(m1)), float64(models)/(1<<20))
}

// soak is the load: its clients and what they counted.
type soak struct {
	client  *apiClient
	tokens  TokensFile
	writers []*loadWriter
	rng     *rand.Rand // seeds the readers and listeners (used before they start)
	moments time.Time  // the first of the moments of the queries as of the past (the warm-up's start)

	mu      sync.Mutex
	items   []string // recent item IDs (a ring of soakRecent)
	next    int
	lastPos eventstore.Position // the greatest acknowledged position
	first   error

	commands, queries, connects, sseEvents, errors atomic.Int64
	maxGoroutines, maxHeap                         atomic.Int64
}

// soakRecent is the number of recent items the readers choose from.
const soakRecent = 256

func newSoak(url string, tf TokensFile) *soak {
	s := &soak{client: newAPIClient(url, tf.Coordinator), tokens: tf, rng: rand.New(rand.NewPCG(soakSeed, 0))}
	for i := range soakWriters {
		city := domain.FoundingCities()[i%len(domain.FoundingCities())].ID
		w := newLoadWriter(city, tf.Members[city], tf.Coordinator, soakSeed, uint64(i))
		w.keep = false
		w.onAck = s.acked
		s.writers = append(s.writers, w)
	}
	return s
}

// acked records an acknowledged command (called by the writers).
func (s *soak) acked(op string, res cschttp.WriteResult) {
	s.commands.Add(1)
	p, err := eventstore.ParsePosition(res.Position)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.lastPos.Before(p) {
		s.lastPos = p
	}
	if op == "propose" {
		if len(s.items) < soakRecent {
			s.items = append(s.items, res.ID)
		} else {
			s.items[s.next] = res.ID
			s.next = (s.next + 1) % soakRecent
		}
	}
}

// fail counts an error and keeps the first.
func (s *soak) fail(err error) {
	s.errors.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first == nil {
		s.first = err
	}
}

func (s *soak) firstError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first
}

// reset clears the counters (after the warm-up).
func (s *soak) reset() {
	for _, c := range []*atomic.Int64{&s.commands, &s.queries, &s.connects, &s.sseEvents, &s.maxGoroutines, &s.maxHeap} {
		c.Store(0)
	}
}

// snapshot returns the greatest acknowledged position and a recent item ("" before any).
func (s *soak) snapshot(rng *rand.Rand) (eventstore.Position, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	item := ""
	if len(s.items) > 0 {
		item = s.items[rng.IntN(len(s.items))]
	}
	return s.lastPos, item
}

// run puts the load on for d, then stops every client and closes their connections.
func (s *soak) run(t *testing.T, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range s.writers {
		wg.Go(func() {
			w.run(ctx, s.client, 0, -1)
			switch {
			case w.failed != nil:
				s.fail(w.failed)
			case ctx.Err() == nil:
				s.fail(fmt.Errorf("writer %s stopped: its command got no answer", w.city))
			}
			// A command cut off by the end of the load stays pending: the next run retries it with its
			// key (it may have been committed).
		})
	}
	for range soakReaders {
		rng := rand.New(rand.NewPCG(s.rng.Uint64(), 1))
		wg.Go(func() { s.read(ctx, rng) })
	}
	for range soakStreams {
		rng := rand.New(rand.NewPCG(s.rng.Uint64(), 2))
		wg.Go(func() { s.listen(ctx, rng) })
	}
	wg.Go(func() { s.sample(ctx) })
	wg.Wait()
	s.client.close()
}

// sample records the most goroutines and heap in use, every 250 ms.
func (s *soak) sample(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		storeMax(&s.maxHeap, int64(ms.HeapInuse))
		storeMax(&s.maxGoroutines, int64(runtime.NumGoroutine()))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// asOfPath is the progress as of the i-th of soakMoments moments of the warm-up. The server builds
// the read models up to such a moment once and keeps them (its cache holds more moments than that):
// primed after the warm-up, these builds are in the baseline, and the heap does not grow with them.
func (s *soak) asOfPath(i int) string {
	at := s.moments.Add(time.Duration(i) * soakWarmup / soakMoments)
	return "/v1/progress?asOf=" + at.UTC().Format(time.RFC3339Nano)
}

// read sends queries until ctx ends. Reads that name a position must answer at or after it.
func (s *soak) read(ctx context.Context, rng *rand.Rand) {
	cities := domain.FoundingCities()
	for ctx.Err() == nil {
		pos, item := s.snapshot(rng)
		minQ := ""
		if rng.IntN(2) == 0 && !pos.IsZero() {
			minQ = "minPosition=" + pos.String()
		}
		var (
			path string
			out  any
			at   *string // the answer's position, checked against pos
		)
		switch n := rng.IntN(100); {
		case n < 25:
			var p cschttp.Progress
			path, out, at = "/v1/progress?"+minQ, &p, &p.Position
		case n < 35:
			var p cschttp.CityProgress
			path, out, at = "/v1/progress/"+cities[rng.IntN(len(cities))].ID+"?"+minQ, &p, &p.Position
		case n < 55:
			var l cschttp.ItemList
			path, out, at = "/v1/roadmap-items?limit=100&city="+cities[rng.IntN(len(cities))].ID+"&"+minQ, &l, &l.Position
		case n < 70 && item != "":
			// At or after the proposal (the read models may not have it yet otherwise).
			var v cschttp.ItemView
			minQ = "minPosition=" + pos.String()
			path, out, at = "/v1/roadmap-items/"+item+"?"+minQ, &v, &v.Position
		case n < 78:
			var mx cschttp.Matrix
			path, out, at = "/v1/matrix?"+minQ, &mx, &mx.Position
		case n < 86:
			var a cschttp.ActivityFeed
			path, out, at = "/v1/activity?limit=50&"+minQ, &a, &a.Position
		case n < 98:
			var e cschttp.EventPage
			after := uint64(0)
			if pos.Commit > 0 {
				after = rng.Uint64N(pos.Commit)
			}
			path, out = fmt.Sprintf("/v1/events?limit=100&after=%d", after), &e
		default:
			var p cschttp.Progress
			path, out = s.asOfPath(rng.IntN(soakMoments)), &p
		}
		err := s.client.getErr(ctx, s.tokens.Auditor, path, out)
		if ctx.Err() != nil {
			return // the end of the load cut the query off
		}
		if err != nil {
			s.fail(fmt.Errorf("GET %s: %w", path, err))
			continue
		}
		s.queries.Add(1)
		if at != nil && minQ != "" {
			got, err := eventstore.ParsePosition(*at)
			if err != nil || got.Before(pos) {
				s.fail(fmt.Errorf("GET %s: answered at position %q", path, *at))
			}
		}
	}
}

// listen connects to the live feed over and over until ctx ends: each connection reads up to a random
// number of events or for a random time, then leaves; every other connection resumes after the last
// event seen (Last-Event-ID). Positions must increase, and a resumed feed must start after its
// Last-Event-ID.
func (s *soak) listen(ctx context.Context, rng *rand.Rand) {
	var last eventstore.Position
	for ctx.Err() == nil {
		resume := !last.IsZero() && rng.IntN(2) == 0
		stay := time.Duration(50+rng.IntN(1500)) * time.Millisecond
		want := 1 + rng.IntN(60)
		cctx, cancel := context.WithTimeout(ctx, stay)
		after, got, err := s.stream(cctx, resume, last, want)
		leftEarly := cctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil && !leftEarly {
			s.fail(err)
			continue
		}
		s.connects.Add(1)
		if !after.IsZero() {
			last = after
		}
		s.sseEvents.Add(int64(got))
	}
}

// stream reads one connection of the live feed: until want events or ctx ends. It returns the
// position of the last event read and the number read.
func (s *soak) stream(ctx context.Context, resume bool, from eventstore.Position, want int) (eventstore.Position, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.client.base+"/v1/events/live", nil)
	if err != nil {
		return eventstore.Position{}, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.tokens.Auditor)
	if resume {
		req.Header.Set("Last-Event-ID", from.String())
	}
	resp, err := s.client.http.Do(req)
	if err != nil {
		return eventstore.Position{}, 0, fmt.Errorf("live: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return eventstore.Position{}, 0, fmt.Errorf("live: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var (
		last eventstore.Position
		n    int
	)
	if resume {
		last = from
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for n < want {
		if !lines.Scan() {
			if ctx.Err() != nil {
				return last, n, nil // the listener left
			}
			return last, n, fmt.Errorf("live: the stream ended after %d events: %v", n, lines.Err())
		}
		id, ok := strings.CutPrefix(lines.Text(), "id: ")
		if !ok {
			continue
		}
		p, err := eventstore.ParsePosition(id)
		if err != nil {
			return last, n, fmt.Errorf("live: event id %q: %w", id, err)
		}
		if !last.IsZero() && !last.Before(p) {
			return last, n, fmt.Errorf("live: event %s after %s (resumed %v)", p, last, resume)
		}
		last, n = p, n+1
	}
	return last, n, nil
}

// settle waits, at most soakSettle, until the process has at most max goroutines (max 0: until the
// count stops falling), and returns the count.
func settle(t *testing.T, max int) int {
	t.Helper()
	deadline := time.Now().Add(soakSettle)
	n := runtime.NumGoroutine()
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		m := runtime.NumGoroutine()
		if max > 0 && m <= max || max == 0 && m == n {
			return m
		}
		n = m
	}
	return n
}

// heapAfterGC is the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// modelsSize is the heap that read models built fresh from the server's log take.
func modelsSize(t *testing.T, m *Main) uint64 {
	t.Helper()
	before := heapAfterGC()
	models, err := projections.BuildAsOf(context.Background(), m.app.store, domain.NewCodec(), projections.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	after := heapAfterGC()
	runtime.KeepAlive(models)
	if after < before {
		return 0
	}
	return after - before
}

func head(t *testing.T, m *Main) eventstore.Position {
	t.Helper()
	p, err := m.app.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
