package projections

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/memstore"
	"github.com/metropolis/csc/eventstore/sqlite"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRunner runs r until the test ends and returns a function that stops it and returns Run's
// result.
func startRunner(t *testing.T, r *Runner) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitFor(t *testing.T, r *Runner, p eventstore.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.WaitFor(ctx, p); err != nil {
		t.Fatalf("wait for %s: %v", p, err)
	}
}

// replayed folds what store holds, as recorded (the store stamps its own recorded times).
func replayed(t *testing.T, s eventstore.Store) *Models {
	t.Helper()
	var events []eventstore.RecordedEvent
	for e, err := range s.ReadAll(context.Background(), eventstore.Position{}) {
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	st, err := foldEvents(events)
	if err != nil {
		t.Fatal(err)
	}
	return newModels(st)
}

func head(t *testing.T, s eventstore.Store) eventstore.Position {
	t.Helper()
	p, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunnerCatchesUpThenFollows(t *testing.T) {
	ctx := context.Background()
	l := scenario(t)
	store := memstore.New(memstore.Options{})
	first := &logBuilder{t: t, events: l.events[:15]}
	first.appendAll(ctx, store)

	r := NewRunner(store, domain.NewCodec(), Options{})
	if r.Ready() || !r.Position().IsZero() || r.Models().Stats().Events != 0 {
		t.Fatal("a runner that has not run is not empty")
	}
	stop := startRunner(t, r)
	waitFor(t, r, head(t, store))
	if !r.Ready() {
		t.Error("caught up but not ready")
	}
	if d := cmp.Diff(dumpModels(replayed(t, store), june()), dumpModels(r.Models(), june())); d != "" {
		t.Fatalf("after catch-up (-fold +runner):\n%s", d)
	}

	rest := &logBuilder{t: t, events: l.events[15:]}
	rest.appendAll(ctx, store)
	waitFor(t, r, head(t, store))
	if got, want := r.Position(), head(t, store); got != want {
		t.Errorf("position %s, head %s", got, want)
	}
	if d := cmp.Diff(dumpModels(replayed(t, store), june()), dumpModels(r.Models(), june())); d != "" {
		t.Errorf("live (-fold +runner):\n%s", d)
	}
	if got := r.Models().Stats(); got.Events != 28 || got.Skipped != 1 {
		t.Errorf("stats %+v", got)
	}

	if err := stop(); err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
	err := r.WaitFor(ctx, eventstore.Position{Commit: 1000, Prepare: 1000})
	if !errors.Is(err, ErrStopped) {
		t.Errorf("WaitFor after stop: %v, want ErrStopped", err)
	}
	if r.Ready() || !errors.Is(r.Stopped(), ErrStopped) {
		t.Errorf("after stop: Ready %v, Stopped %v; want false and ErrStopped", r.Ready(), r.Stopped())
	}
	if err := r.Rebuild(ctx); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Rebuild after stop: %v, want ErrNotRunning", err)
	}
}

func TestRunnerOnAnEmptyLog(t *testing.T) {
	store := memstore.New(memstore.Options{})
	r := NewRunner(store, domain.NewCodec(), Options{})
	startRunner(t, r)
	waitFor(t, r, eventstore.Position{})
	l := scenario(t)
	l.appendAll(context.Background(), store)
	waitFor(t, r, head(t, store))
	if !r.Ready() {
		t.Error("not ready")
	}
	if d := cmp.Diff(dumpModels(replayed(t, store), june()), dumpModels(r.Models(), june())); d != "" {
		t.Errorf("(-fold +runner):\n%s", d)
	}
}

func TestWaitFor(t *testing.T) {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	l := scenario(t)
	(&logBuilder{t: t, events: l.events[:5]}).appendAll(ctx, store)
	r := NewRunner(store, domain.NewCodec(), Options{})

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.WaitFor(canceled, eventstore.Position{Commit: 1, Prepare: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitFor with a canceled context: %v", err)
	}
	startRunner(t, r)

	// Waiters for a future position wake when it is applied, not before.
	target := l.events[9].Position
	woke := make(chan error, 1)
	go func() { woke <- r.WaitFor(ctx, target) }()
	waitFor(t, r, l.events[4].Position)
	select {
	case err := <-woke:
		t.Fatalf("WaitFor(%s) returned %v at position %s", target, err, r.Position())
	default:
	}
	(&logBuilder{t: t, events: l.events[5:10]}).appendAll(ctx, store)
	if err := <-woke; err != nil {
		t.Fatal(err)
	}
	if r.Position().Before(target) {
		t.Errorf("woke at %s, before %s", r.Position(), target)
	}
	if m := r.Models(); m.Position().Before(target) {
		t.Errorf("models at %s after WaitFor(%s)", m.Position(), target)
	}
	// A past position returns at once.
	if err := r.WaitFor(canceled, l.events[0].Position); err != nil {
		t.Errorf("WaitFor of a past position: %v", err)
	}
}

func TestRunnerSkipsCountsAndLogsUnknownTypes(t *testing.T) {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	l := scenario(t)
	l.raw(minute(40), "roadmap-"+itemA, "csc.roadmap.item_teleported", []byte(`{}`), []byte(`{"schemaVersion":3}`))
	l.appendAll(ctx, store)
	var logs syncBuffer
	reg := prometheus.NewPedanticRegistry()
	r := NewRunner(store, domain.NewCodec(), Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Registerer: reg})
	startRunner(t, r)
	waitFor(t, r, head(t, store))

	if got := r.Models().Stats().Skipped; got != 2 {
		t.Errorf("%d skipped, want 2", got)
	}
	for name, want := range map[string]float64{
		"csc_projection_unknown_events_total": 2,
		"csc_projection_events_applied_total": 28,
		"csc_projection_position":             30,
		"csc_projection_ready":                1,
		"csc_projection_lag_events":           0,
		"csc_projection_builds_total":         1,
	} {
		if got := metricValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	out := logs.String()
	for _, want := range []string{"level=WARN", "type=csc.roadmap.item_teleported", "position=22", "level=DEBUG", "position=30", "stream=roadmap-" + itemA} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "level=WARN") != 1 {
		t.Errorf("want one warning for the unknown type:\n%s", out)
	}

	// A second runner on the same registry works without metrics and says so.
	var logs2 syncBuffer
	r2 := NewRunner(store, domain.NewCodec(), Options{Logger: slog.New(slog.NewTextHandler(&logs2, nil)), Registerer: reg})
	if r2.metrics != nil || !strings.Contains(logs2.String(), "metrics not registered") {
		t.Errorf("duplicate registration: metrics %v, log %q", r2.metrics, logs2.String())
	}
}

func TestLagMetrics(t *testing.T) {
	ctx := context.Background()
	var clk clock
	store := memstore.New(memstore.Options{Now: clk.now})
	l := scenario(t)
	(&logBuilder{t: t, events: l.events[:20]}).appendAll(ctx, store)
	reg := prometheus.NewPedanticRegistry()
	now := time.Date(2026, 2, 1, 1, 0, 0, 0, time.UTC)
	r := NewRunner(store, domain.NewCodec(), Options{Registerer: reg, Now: func() time.Time { return now }})
	lag := func() (float64, float64) {
		return metricValue(t, reg, "csc_projection_lag_events"), metricValue(t, reg, "csc_projection_lag_seconds")
	}
	if e, s := lag(); e != 20 || s != 0 {
		t.Errorf("before running: lag %v events, %v s; want 20 and 0 (nothing applied yet)", e, s)
	}
	stop := startRunner(t, r)
	waitFor(t, r, head(t, store))
	if e, s := lag(); e != 0 || s != 0 {
		t.Errorf("caught up: lag %v events, %v s; want 0", e, s)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	(&logBuilder{t: t, events: l.events[20:23]}).appendAll(ctx, store)
	// The last applied event was recorded 20 s after the clock's base; now is 1 h after it.
	if e, s := lag(); e != 3 || s != 3600-20 {
		t.Errorf("behind: lag %v events, %v s; want 3 and %d", e, s, 3600-20)
	}
}

// metricValue gathers reg and returns the value of the metric named name (a counter or a gauge
// without labels).
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestRunnerStopsOnAnEventThatDoesNotDecode(t *testing.T) {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	l := scenario(t)
	l.raw(minute(40), "roadmap-"+itemA, domain.TypeRoadmapUpdateSubmitted, []byte(`{"itemId":"`+itemA+`","progressPercent":"lots"}`), []byte(`{"schemaVersion":1}`))
	l.appendAll(ctx, store)
	r := NewRunner(store, domain.NewCodec(), Options{})
	err := r.Run(ctx)
	if err == nil {
		t.Fatal("Run returned nil")
	}
	for _, want := range []string{"position 30", "stream roadmap-" + itemA, domain.TypeRoadmapUpdateSubmitted} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if !errors.Is(err, domain.ErrDecode) {
		t.Errorf("error %v does not match domain.ErrDecode", err)
	}
	if err := r.WaitFor(ctx, eventstore.Position{Commit: 30, Prepare: 30}); err == nil || !strings.Contains(err.Error(), "position 30") {
		t.Errorf("WaitFor after the failure: %v", err)
	}
	if r.Ready() {
		t.Error("ready although the catch-up failed")
	}
}

func TestRunnerStopsOnALiveEventThatDoesNotDecode(t *testing.T) {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	l := scenario(t)
	l.appendAll(ctx, store)
	r := NewRunner(store, domain.NewCodec(), Options{})
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, r, head(t, store))
	bad := eventstore.EventData{ID: uuid.New(), Type: domain.TypeRoadmapItemApproved, Data: []byte(`{"itemId":`), Metadata: []byte(`{"schemaVersion":1}`)}
	if _, err := store.Append(ctx, "roadmap-x", eventstore.NoStream(), []eventstore.EventData{bad}); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "position 30") || !strings.Contains(err.Error(), "stream roadmap-x") {
		t.Errorf("Run = %v, want an error naming position 30 and stream roadmap-x", err)
	}
	if r.Ready() || r.Stopped() == nil || r.Stopped().Error() != err.Error() {
		t.Errorf("after the failure: Ready %v, Stopped %v; want false and Run's error", r.Ready(), r.Stopped())
	}
}

func TestRebuildSwapsInEqualModels(t *testing.T) {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	l := scenario(t)
	l.appendAll(ctx, store)
	r := NewRunner(store, domain.NewCodec(), Options{})
	if err := r.Rebuild(ctx); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Rebuild before Run: %v", err)
	}
	startRunner(t, r)
	waitFor(t, r, head(t, store))
	before := r.Models()
	if err := r.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	after := r.Models()
	if before == after {
		t.Fatal("Rebuild did not swap the models")
	}
	if d := cmp.Diff(dumpModels(before, june()), dumpModels(after, june())); d != "" {
		t.Errorf("(-before +after):\n%s", d)
	}
	// The rebuilt models follow live appends; the old ones stay as they were.
	n := uint64(len(l.events))
	extra := newLog(t)
	extra.revs = map[string]uint64{"roadmap-" + itemB: 5}
	extra.add(minute(50), actor{anna, "member"}, domain.ItemResumed{ItemID: itemB, City: "berlin"})
	extra.events[0].Position = eventstore.Position{Commit: n + 1, Prepare: n + 1}
	extra.appendAll(ctx, store)
	waitFor(t, r, head(t, store))
	if got := r.Models().Items(ItemFilter{Stage: domain.StageOnHold}, june()); len(got) != 0 {
		t.Errorf("after resume, on hold: %v", got)
	}
	if got := before.Items(ItemFilter{Stage: domain.StageOnHold}, june()); len(got) != 1 {
		t.Errorf("the replaced models changed: on hold %v", got)
	}
}

// clock is a deterministic store clock: each reading is one second after the previous one.
type clock struct{ n atomic.Int64 }

func (c *clock) now() time.Time {
	return time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(c.n.Add(1)) * time.Second)
}

// engines runs workload steps through the real command engine, as the HTTP layer does.
type engines struct {
	collab *eventstore.Engine[domain.Collaboratory, domain.Event]
	items  *eventstore.Engine[domain.RoadmapItem, domain.Event]
}

func newEngines(t testing.TB, store eventstore.Store) engines {
	codec := domain.NewCodec()
	c, err := eventstore.NewEngine(store, codec, domain.Collaboratory{}, domain.EvolveCollaboratory, eventstore.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	i, err := eventstore.NewEngine(store, codec, domain.RoadmapItem{}, domain.EvolveItem, eventstore.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return engines{collab: c, items: i}
}

func (e engines) execute(ctx context.Context, s Step, id uuid.UUID) (eventstore.Result, error) {
	cmd := eventstore.Command{ID: id, Actor: s.Context.Actor, Role: string(s.Context.Role), City: s.Context.City}
	if s.Collaboratory != nil {
		cmd.Name = s.Collaboratory.CommandName()
		return e.collab.Execute(ctx, s.Stream, cmd, func(st domain.Collaboratory, _ bool) ([]domain.Event, error) {
			return domain.DecideCollaboratory(st, s.Collaboratory, s.Context)
		})
	}
	cmd.Name = s.Item.CommandName()
	return e.items.Execute(ctx, s.Stream, cmd, func(st domain.RoadmapItem, _ bool) ([]domain.Event, error) {
		return domain.DecideItem(st, s.Item, s.Context)
	})
}

// TestLiveModelsEqualReplayAndAsOf runs a randomized workload through the command engine while the
// runner follows it live. At random moments it captures the live models; afterwards every capture
// must equal the models built as of its position and as of its time, and the final live models
// must equal a fresh replay.
func TestLiveModelsEqualReplayAndAsOf(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			ctx := context.Background()
			var clk clock
			store := memstore.New(memstore.Options{Now: clk.now})
			codec := domain.NewCodec()
			eng := newEngines(t, store)
			w := NewWorkload(seed)
			rng := rand.New(rand.NewPCG(seed, 99))
			steps := 0
			run := func(n int) eventstore.Position {
				var last eventstore.Position
				for range n {
					s, err := w.Next()
					if err != nil {
						t.Fatal(err)
					}
					steps++
					res, err := eng.execute(ctx, s, uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d-%d", seed, steps)))
					if err != nil {
						t.Fatalf("step %d (%s): %v", steps, s.Stream, err)
					}
					last = res.Position
				}
				return last
			}
			run(300) // history before the runner starts
			r := NewRunner(store, codec, Options{})
			startRunner(t, r)
			now := time.Date(2019, 6, 1, 0, 0, 0, 0, time.UTC)
			type capture struct {
				d  dump
				at time.Time
			}
			var captures []capture
			for range 6 {
				waitFor(t, r, run(50+rng.IntN(200)))
				d := lockedDump(r.Models(), now)
				var at time.Time
				for e, err := range store.ReadAll(ctx, eventstore.Position{Commit: d.Position.Commit - 1, Prepare: d.Position.Prepare - 1}) {
					if err != nil {
						t.Fatal(err)
					}
					at = e.Recorded
					break
				}
				captures = append(captures, capture{d, at})
			}
			final := run(200)
			waitFor(t, r, final)
			live := lockedDump(r.Models(), now)
			replay, err := BuildAsOf(ctx, store, codec, AsOf{})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(dumpModels(replay, now), live); d != "" {
				t.Errorf("live models differ from a replay (-replay +live):\n%s", d)
			}
			for i, c := range captures {
				byPos, err := BuildAsOf(ctx, store, codec, AsOf{Position: c.d.Position})
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(c.d, dumpModels(byPos, now)); d != "" {
					t.Errorf("capture %d at %s differs from as-of position (-live +asof):\n%s", i, c.d.Position, d)
				}
				byTime, err := BuildAsOf(ctx, store, codec, AsOf{Time: c.at})
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(c.d, dumpModels(byTime, now)); d != "" {
					t.Errorf("capture %d at %s differs from as-of time (-live +asof):\n%s", i, c.at, d)
				}
			}
			if r.Models().Stats().Items == 0 || len(live.Activity) == 0 {
				t.Error("the workload produced no items")
			}
		})
	}
}

// TestConcurrentWritersMissNothing appends from many goroutines through the engine to a real
// SQLite store while the runner follows and readers query: afterwards the models hold every event
// exactly once.
func TestConcurrentWritersMissNothing(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	codec := domain.NewCodec()
	eng := newEngines(t, store)
	r := NewRunner(store, codec, Options{})
	startRunner(t, r)

	const writers, itemsEach, updates = 8, 3, 6
	readCtx, stopReading := context.WithCancel(ctx)
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for readCtx.Err() == nil {
				m := r.Models()
				m.Progress(time.Now())
				m.Items(ItemFilter{Health: HealthOnTrack}, time.Now())
				m.Activity(20)
				m.Matrix()
			}
		})
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			city := domain.FoundingCities()[w%7].ID
			ctxM := domain.Context{Now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Actor: fmt.Sprintf("writer-%d", w), Role: domain.RoleMember, City: city}
			ctxC := domain.Context{Now: ctxM.Now, Actor: "coordinator-1", Role: domain.RoleCoordinator}
			for i := range itemsEach {
				id := uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "item-%d-%d", w, i)).String()
				cmds := []struct {
					c   domain.ItemCommand
					ctx domain.Context
				}{
					{domain.ProposeRoadmapItem{ItemID: id, City: city, ItemFields: domain.ItemFields{Title: "T", Description: "D",
						Theme: domain.ThemeCulture, SDGTargets: []string{"11.4"}, StartDate: day("2026-01-01"), DueDate: day("2026-12-31")}}, ctxM},
					{domain.ApproveRoadmapItem{}, ctxC},
					{domain.StartImplementation{}, ctxM},
				}
				for u := range updates {
					cmds = append(cmds, struct {
						c   domain.ItemCommand
						ctx domain.Context
					}{domain.SubmitRoadmapUpdate{UpdateID: uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "u-%d-%d-%d", w, i, u)).String(),
						ProgressPercent: ptr(10 * (u + 1)), Narrative: "n"}, ctxM})
				}
				for _, c := range cmds {
					s := Step{Stream: domain.ItemStream(id), Item: c.c, Context: c.ctx}
					if _, err := eng.execute(ctx, s, uuid.New()); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, r, head(t, store))
	stopReading()
	readers.Wait()

	m := r.Models()
	total := writers * itemsEach * (3 + updates)
	if st := m.Stats(); st.Events != uint64(total) || st.Items != writers*itemsEach {
		t.Fatalf("stats %+v, want %d events and %d items", st, total, writers*itemsEach)
	}
	for _, it := range m.Items(ItemFilter{}, time.Now()) {
		h, _ := m.ItemHistory(it.ID)
		if len(h) != 3+updates || it.Revision != uint64(2+updates) || it.Progress != float64(updates)/10 {
			t.Errorf("item %s: %d history entries, revision %d, progress %v", it.ID, len(h), it.Revision, it.Progress)
		}
		for i, e := range h {
			if e.Revision != uint64(i) {
				t.Errorf("item %s: entry %d has revision %d", it.ID, i, e.Revision)
			}
		}
	}
	replay, err := BuildAsOf(ctx, store, codec, AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	if d := cmp.Diff(dumpModels(replay, now), lockedDump(m, now)); d != "" {
		t.Errorf("live differs from replay (-replay +live):\n%s", d)
	}
}

// viewsOnly is a store that offers read-only payload views (as sqlite.Store does) and fails its
// copying reads of $all, so that a build or a runner that succeeds on it read through the views.
type viewsOnly struct{ eventstore.Store }

var errCopyingRead = errors.New("viewsOnly: a copying read of $all")

func failing(yield func(eventstore.RecordedEvent, error) bool) {
	yield(eventstore.RecordedEvent{}, errCopyingRead)
}

func (viewsOnly) ReadAll(context.Context, eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return failing
}

func (viewsOnly) SubscribeAll(context.Context, eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return failing
}

func (v viewsOnly) ReadAllViews(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return v.Store.ReadAll(ctx, after)
}

func (v viewsOnly) SubscribeAllViews(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return v.Store.SubscribeAll(ctx, after)
}

// TestReadsThroughPayloadViews: a store that offers payload views is read through them, by BuildAsOf
// and by the runner, catching up and live, with the same models as a fold of the log.
func TestReadsThroughPayloadViews(t *testing.T) {
	ctx := context.Background()
	l := scenario(t)
	mem := memstore.New(memstore.Options{})
	(&logBuilder{t: t, events: l.events[:15]}).appendAll(ctx, mem)
	store := viewsOnly{mem}

	built, err := BuildAsOf(ctx, store, domain.NewCodec(), AsOf{})
	if err != nil {
		t.Fatalf("BuildAsOf: %v", err)
	}
	if d := cmp.Diff(dumpModels(replayed(t, mem), june()), dumpModels(built, june())); d != "" {
		t.Fatalf("BuildAsOf (-fold +built):\n%s", d)
	}

	r := NewRunner(store, domain.NewCodec(), Options{})
	startRunner(t, r)
	waitFor(t, r, head(t, mem))
	(&logBuilder{t: t, events: l.events[15:]}).appendAll(ctx, mem)
	waitFor(t, r, head(t, mem))
	if d := cmp.Diff(dumpModels(replayed(t, mem), june()), dumpModels(r.Models(), june())); d != "" {
		t.Fatalf("runner (-fold +runner):\n%s", d)
	}
}
