package esdb_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/esdb"
	"github.com/metropolis/csc/eventstore/esdb/esdbfixture"
	"github.com/metropolis/csc/eventstore/storetest"
)

// contractOptions: EventStoreDB checks event IDs per stream only (for idempotence) and writes an ID
// reused in another stream, so the contract's IDReuse cases, which want an ID to name one event in the
// whole store, do not apply. TestIDReuseFollowsTheServer pins what the server (and so the adapter) does.
var contractOptions = storetest.Options{EventIDsPerStream: true}

// fixtureStore is the store under test in CI: the adapter and the fixture it talks to. Close closes both,
// because the contract suite counts goroutines from before newStore to after Close, and the fixture
// (the "server") is part of what newStore started.
type fixtureStore struct {
	*esdb.Store
	fixture *esdbfixture.Fixture
}

func (s fixtureStore) Close() error {
	err := s.Store.Close()
	s.fixture.Close()
	return err
}

// open opens a store on url and closes it when the test ends.
func open(t testing.TB, url string, opts esdb.Options) *esdb.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := esdb.Open(ctx, url, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The contract, in CI, against the protocol fixture (one per subtest). The fixture is a fake because
// no EventStoreDB/KurrentDB server can be installed here or in CI: no package registry they reach ships
// one (only clients).
func TestStoreContract(t *testing.T) {
	storetest.RunWith(t, func(t *testing.T) eventstore.Store {
		f := esdbfixture.Start(t, esdbfixture.Options{})
		s := fixtureStore{Store: open(t, f.URL(), esdb.Options{}), fixture: f}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}, contractOptions)
}

// The contract against a real EventStoreDB/KurrentDB, where CSC_ESDB_URL is set. The server is shared
// (with earlier runs too), so every subtest gets a store whose stream names carry a unique prefix and
// whose $all is the part of the server's $all after the subtest started, holding only its own streams.
func TestStoreContractRealServer(t *testing.T) {
	url := os.Getenv("CSC_ESDB_URL")
	if url == "" {
		t.Skip("CSC_ESDB_URL is not set: the contract runs against a real EventStoreDB/KurrentDB only where it names one (e.g. esdb://localhost:2113?tls=false)")
	}
	storetest.RunWith(t, func(t *testing.T) eventstore.Store {
		return newPrefixed(t, open(t, url, esdb.Options{}))
	}, contractOptions)
}

// prefixed is one subtest's share of a shared server: its streams are prefix+name, and its $all holds the
// events of those streams after base (the head of the server's $all when it was made).
type prefixed struct {
	inner  *esdb.Store
	prefix string
	base   eventstore.Position
}

func newPrefixed(t testing.TB, s *esdb.Store) *prefixed {
	t.Helper()
	base, err := s.Head(context.Background())
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return &prefixed{inner: s, prefix: "t" + strings.ReplaceAll(uuid.NewString(), "-", "") + "-", base: base}
}

func (p *prefixed) own(ev eventstore.RecordedEvent) (eventstore.RecordedEvent, bool) {
	name, ok := strings.CutPrefix(ev.Stream, p.prefix)
	ev.Stream = name
	return ev, ok
}

func (p *prefixed) from(after eventstore.Position) eventstore.Position {
	if after.IsZero() {
		return p.base
	}
	return after
}

func (p *prefixed) filter(seq iter.Seq2[eventstore.RecordedEvent, error]) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for ev, err := range seq {
			if err != nil {
				yield(ev, err)
				return
			}
			if ev, ok := p.own(ev); ok && !yield(ev, nil) {
				return
			}
		}
	}
}

func (p *prefixed) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	if stream == "" {
		return p.inner.Append(ctx, "", expected, events)
	}
	res, err := p.inner.Append(ctx, p.prefix+stream, expected, events)
	var wr *eventstore.WrongRevisionError
	if errors.As(err, &wr) {
		wr.Stream = stream
	}
	return res, err
}

func (p *prefixed) ReadStream(ctx context.Context, stream string, from uint64) iter.Seq2[eventstore.RecordedEvent, error] {
	return p.filter(p.inner.ReadStream(ctx, p.prefix+stream, from))
}

func (p *prefixed) ReadAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return p.filter(p.inner.ReadAll(ctx, p.from(after)))
}

func (p *prefixed) SubscribeAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return p.filter(p.inner.SubscribeAll(ctx, p.from(after)))
}

func (p *prefixed) Head(ctx context.Context) (eventstore.Position, error) {
	var last eventstore.Position
	for ev, err := range p.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			return eventstore.Position{}, err
		}
		last = ev.Position
	}
	return last, nil
}

func (p *prefixed) Close() error { return p.inner.Close() }

// newEvents returns n events of type typ with fresh IDs.
func newEvents(typ string, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{ID: uuid.New(), Type: typ, Data: fmt.Appendf(nil, `{"n":%d}`, i), Metadata: []byte(`{"schemaVersion":1}`)}
	}
	return out
}

func mustAppend(t testing.TB, s eventstore.Store, stream string, expected eventstore.ExpectedRevision, evs []eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), stream, expected, evs)
	if err != nil {
		t.Fatalf("Append(%s, %v, %d events): %v", stream, expected, len(evs), err)
	}
	return res
}

func collect(t testing.TB, seq iter.Seq2[eventstore.RecordedEvent, error]) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for ev, err := range seq {
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		out = append(out, ev)
	}
	return out
}

func idsOf(evs []eventstore.RecordedEvent) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func dataIDs(evs []eventstore.EventData) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// waitUntil polls cond until it holds, failing the test after a minute (a guard against hangs, not a
// timing assertion).
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: still not true after a minute", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// subscription collects the events of a SubscribeAll in the background.
type subscription struct {
	events chan eventstore.RecordedEvent
	done   chan struct{}
	err    error
}

func subscribe(ctx context.Context, s eventstore.Store, after eventstore.Position) *subscription {
	sub := &subscription{events: make(chan eventstore.RecordedEvent), done: make(chan struct{})}
	go func() {
		defer close(sub.done)
		for ev, err := range s.SubscribeAll(ctx, after) {
			if err != nil {
				sub.err = err
				return
			}
			select {
			case sub.events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return sub
}

func (sub *subscription) receive(t testing.TB, n int) []eventstore.RecordedEvent {
	t.Helper()
	out := make([]eventstore.RecordedEvent, 0, n)
	for len(out) < n {
		select {
		case ev := <-sub.events:
			out = append(out, ev)
		case <-sub.done:
			t.Fatalf("subscription ended after %d of %d events: %v", len(out), n, sub.err)
		case <-time.After(time.Minute):
			t.Fatalf("subscription: %d of %d events after a minute", len(out), n)
		}
	}
	return out
}

// nothingMore fails t if the subscription delivers another event within a short while: a double
// would come right after the events it repeats.
func (sub *subscription) nothingMore(t testing.TB) {
	t.Helper()
	select {
	case ev := <-sub.events:
		t.Fatalf("subscription: want no more events, got %s %s@%d", ev.ID, ev.Stream, ev.Revision)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestSystemEventsAreSkipped(t *testing.T) {
	f := esdbfixture.Start(t, esdbfixture.Options{})
	s := open(t, f.URL(), esdb.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sub := subscribe(ctx, s, eventstore.Position{})

	// 2,500 user events with system events among them, some of them at the edges of ReadAll's pages.
	var want []uuid.UUID
	for i := range 50 {
		evs := newEvents("Counted", 50)
		mustAppend(t, s, fmt.Sprintf("user-%d", i%7), eventstore.Any(), evs)
		want = append(want, dataIDs(evs)...)
		f.WriteSystemEvent("$stats-127.0.0.1:2113", "$statsCollected")
		if i%9 == 0 {
			f.WriteSystemEvent("$projections-$users", "ProjectionUpdated") // system stream, plain type
		}
	}
	last := mustAppend(t, s, "user-last", eventstore.NoStream(), newEvents("Last", 1))
	f.WriteSystemEvent("$stats-127.0.0.1:2113", "$statsCollected")
	f.WriteSystemEvent("$$user-last", "$metadata")
	want = append(want, idsOf(collect(t, s.ReadStream(ctx, "user-last", 0)))...)

	all := collect(t, s.ReadAll(ctx, eventstore.Position{}))
	if !slices.Equal(idsOf(all), want) {
		t.Fatalf("ReadAll: want the %d user events only, got %d events", len(want), len(all))
	}
	for _, k := range []int{0, 49, 50, 998, 999, 1000, 1001, 1999, 2000, len(all) - 2, len(all) - 1} {
		got := collect(t, s.ReadAll(ctx, all[k].Position))
		if !slices.Equal(idsOf(got), want[k+1:]) {
			t.Fatalf("ReadAll(after event %d): want the %d user events after it, got %d", k, len(want)-k-1, len(got))
		}
	}
	if h, err := s.Head(ctx); err != nil || h != last.Position {
		t.Fatalf("Head with system events after the last user event: want %v, got %v (err %v)", last.Position, h, err)
	}
	if got := sub.receive(t, len(want)); !slices.Equal(idsOf(got), want) {
		t.Fatalf("SubscribeAll: want the %d user events in order, got others", len(want))
	}
	sub.nothingMore(t)
}

func TestHeadSkipsSystemEvents(t *testing.T) {
	cases := []struct {
		name     string
		user     int // user events appended
		trailing int // system events written after them (Head reads backwards 256 at a time)
	}{
		{name: "only the fixture's system events"},
		{name: "many system events, no user event", trailing: 600},
		{name: "user events last", user: 3},
		{name: "a few system events after the user events", user: 3, trailing: 2},
		{name: "pages of system events after the user events", user: 3, trailing: 600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := esdbfixture.Start(t, esdbfixture.Options{})
			s := open(t, f.URL(), esdb.Options{})
			var want eventstore.Position
			if tc.user > 0 {
				want = mustAppend(t, s, "user", eventstore.NoStream(), newEvents("User", tc.user)).Position
			}
			for range tc.trailing {
				f.WriteSystemEvent("$stats-127.0.0.1:2113", "$statsCollected")
			}
			if h, err := s.Head(t.Context()); err != nil || h != want {
				t.Fatalf("Head: want %v, got %v (err %v)", want, h, err)
			}
		})
	}
}

func TestSubscriptionSurvivesDrops(t *testing.T) {
	cases := []struct {
		name  string
		drops int
		pause bool // drop while the consumer holds an event, in the middle of catching up
	}{
		{name: "dropped when live", drops: 1},
		{name: "dropped while catching up", drops: 1, pause: true},
		{name: "dropped again and again", drops: 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := esdbfixture.Start(t, esdbfixture.Options{})
			reg := prometheus.NewRegistry()
			s := open(t, f.URL(), esdb.Options{Registerer: reg})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()

			first := newEvents("Before", 300)
			mustAppend(t, s, "dropped", eventstore.NoStream(), first)
			want := dataIDs(first)
			sub := subscribe(ctx, s, eventstore.Position{})
			var got []eventstore.RecordedEvent
			if tc.pause {
				got = sub.receive(t, 10) // the subscription is now blocked on the 11th
			} else {
				got = sub.receive(t, len(first))
			}
			for d := range tc.drops {
				waitUntil(t, "a live subscription", func() bool { return f.LiveSubscriptions() == 1 })
				if n := f.DropSubscriptions(); n != 1 {
					t.Fatalf("drop %d: want 1 subscription dropped, got %d", d, n)
				}
				evs := newEvents(fmt.Sprintf("After%d", d), 25)
				mustAppend(t, s, "dropped", eventstore.Any(), evs)
				want = append(want, dataIDs(evs)...)
				if !tc.pause {
					got = append(got, sub.receive(t, len(evs))...)
				}
			}
			got = append(got, sub.receive(t, len(want)-len(got))...)
			if !slices.Equal(idsOf(got), want) {
				t.Fatalf("after %d drops: want every event exactly once, in order", tc.drops)
			}
			sub.nothingMore(t)
			if n := counter(t, reg, "csc_eventstore_esdb_resubscriptions_total"); n != float64(tc.drops) {
				t.Fatalf("csc_eventstore_esdb_resubscriptions_total: want %d, got %v", tc.drops, n)
			}
			if n := f.SubscriptionsStarted(); n != tc.drops+1 {
				t.Fatalf("subscriptions made: want %d, got %d", tc.drops+1, n)
			}
		})
	}
}

// counter returns the value of the named counter (one series) in reg.
func counter(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s: not registered", name)
	return 0
}

func TestSurvivesServerRestart(t *testing.T) {
	f := esdbfixture.Start(t, esdbfixture.Options{})
	reg := prometheus.NewRegistry()
	// Few, quick discovery attempts, so that a client gives up (and closes itself) soon while the
	// server is down.
	s := open(t, f.URL("maxDiscoverAttempts=2", "discoveryInterval=20"), esdb.Options{Registerer: reg})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	before := newEvents("Before", 40)
	mustAppend(t, s, "restarted", eventstore.NoStream(), before)
	sub := subscribe(ctx, s, eventstore.Position{})
	got := sub.receive(t, len(before))

	f.Stop()
	if err := s.Ready(ctx); err == nil {
		t.Fatal("Ready with the server stopped: want an error, got nil")
	}
	if _, err := s.Append(ctx, "restarted", eventstore.Exact(39), newEvents("Lost", 1)); err == nil {
		t.Fatal("Append with the server stopped: want an error, got success")
	}
	waitUntil(t, "a new client after the old one closed itself", func() bool {
		return counter(t, reg, "csc_eventstore_esdb_clients_created_total") >= 2
	})
	if err := f.Restart(); err != nil {
		t.Fatal(err)
	}

	waitUntil(t, "the store to be ready again", func() bool { return s.Ready(ctx) == nil })
	after := newEvents("After", 40)
	mustAppend(t, s, "restarted", eventstore.Exact(39), after)
	got = append(got, sub.receive(t, len(after))...)
	if want := append(dataIDs(before), dataIDs(after)...); !slices.Equal(idsOf(got), want) {
		t.Fatal("subscription across a server restart: want every event exactly once, in order")
	}
	sub.nothingMore(t)
	if n := len(collect(t, s.ReadAll(ctx, eventstore.Position{}))); n != 80 {
		t.Fatalf("ReadAll after the restart: want 80 events, got %d", n)
	}
}

func TestAppendPositions(t *testing.T) {
	cases := []struct {
		name          string
		noStreamPos   bool
		events        int
		wantStreamPos bool
	}{
		{name: "one event", events: 1, wantStreamPos: true},
		{name: "several events", events: 4, wantStreamPos: true},
		{name: "one event, stream reads without positions", noStreamPos: true, events: 1},
		{name: "several events, stream reads without positions", noStreamPos: true, events: 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := esdbfixture.Start(t, esdbfixture.Options{StreamReadsWithoutPosition: tc.noStreamPos})
			s := open(t, f.URL(), esdb.Options{})
			mustAppend(t, s, "first", eventstore.NoStream(), newEvents("First", 3))
			evs := newEvents("Measured", tc.events)
			res := mustAppend(t, s, "measured", eventstore.NoStream(), evs)
			again := mustAppend(t, s, "measured", eventstore.NoStream(), evs) // an idempotent retry

			all := collect(t, s.ReadAll(t.Context(), eventstore.Position{}))
			lastEv := all[len(all)-1]
			if lastEv.ID != evs[len(evs)-1].ID {
				t.Fatalf("last event of $all: want %s, got %s", evs[len(evs)-1].ID, lastEv.ID)
			}
			want := eventstore.AppendResult{Revision: uint64(tc.events - 1), Position: lastEv.Position}
			if res != want || again != want {
				t.Fatalf("AppendResult of the append and of its retry: want %+v (the last event's), got %+v and %+v", want, res, again)
			}
			for _, e := range collect(t, s.ReadStream(t.Context(), "measured", 0)) {
				if hasPos := !e.Position.IsZero(); hasPos != tc.wantStreamPos {
					t.Fatalf("ReadStream event %d: want a position: %v, got %v", e.Revision, tc.wantStreamPos, e.Position)
				}
			}
		})
	}
}

func TestIDReuseFollowsTheServer(t *testing.T) {
	a, b := newEvents("A", 1)[0], newEvents("B", 1)[0]
	cases := []struct {
		name     string
		stream   string
		expected eventstore.ExpectedRevision
		events   []eventstore.EventData
		written  bool // the server writes them (it checks IDs per stream, for idempotence only)
	}{
		{name: "same ID in another stream", stream: "other", expected: eventstore.NoStream(), events: []eventstore.EventData{a}, written: true},
		{name: "same IDs in another stream, any", stream: "other", expected: eventstore.Any(), events: []eventstore.EventData{a, b}, written: true},
		{name: "same IDs at the current revision", stream: "owner", expected: eventstore.Exact(1), events: []eventstore.EventData{a, b}, written: true},
		{name: "same IDs in another order", stream: "owner", expected: eventstore.NoStream(), events: []eventstore.EventData{b, a}},
		{name: "known IDs followed by a new one", stream: "owner", expected: eventstore.NoStream(), events: append([]eventstore.EventData{a, b}, newEvents("New", 1)...)},
		{name: "known ID then another, any", stream: "owner", expected: eventstore.Any(), events: append([]eventstore.EventData{a}, newEvents("New", 1)...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := esdbfixture.Start(t, esdbfixture.Options{})
			s := open(t, f.URL(), esdb.Options{})
			mustAppend(t, s, "owner", eventstore.NoStream(), []eventstore.EventData{a, b})
			before := len(collect(t, s.ReadAll(t.Context(), eventstore.Position{})))
			_, err := s.Append(t.Context(), tc.stream, tc.expected, tc.events)
			after := len(collect(t, s.ReadAll(t.Context(), eventstore.Position{})))
			switch {
			case tc.written && (err != nil || after != before+len(tc.events)):
				t.Fatalf("want the events written (%d more in $all), got err %v and %d more", len(tc.events), err, after-before)
			case !tc.written && (!errors.Is(err, eventstore.ErrWrongRevision) || after != before):
				t.Fatalf("want a wrong revision error and nothing written, got err %v and %d more events", err, after-before)
			}
		})
	}
}

func TestAppendMetrics(t *testing.T) {
	f := esdbfixture.Start(t, esdbfixture.Options{})
	reg := prometheus.NewRegistry()
	s := open(t, f.URL(), esdb.Options{Registerer: reg})
	mustAppend(t, s, "m", eventstore.NoStream(), newEvents("M", 2))
	mustAppend(t, s, "m", eventstore.Exact(1), newEvents("M", 1))
	if _, err := s.Append(t.Context(), "m", eventstore.NoStream(), newEvents("M", 1)); !errors.Is(err, eventstore.ErrWrongRevision) {
		t.Fatalf("Append(no stream) on an existing stream: want ErrWrongRevision, got %v", err)
	}
	if _, err := s.Append(t.Context(), "m", eventstore.Any(), nil); err == nil {
		t.Fatal("Append with no events: want an error")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	var observed uint64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "csc_eventstore_esdb_appends_total":
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" {
						got[l.GetValue()] = m.GetCounter().GetValue()
					}
				}
			case "csc_eventstore_esdb_append_duration_seconds":
				observed += m.GetHistogram().GetSampleCount()
			}
		}
	}
	if want := map[string]float64{"ok": 2, "wrong_revision": 1, "rejected": 1, "error": 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("csc_eventstore_esdb_appends_total by outcome: want %v, got %v", want, got)
	}
	if observed != 3 {
		t.Fatalf("csc_eventstore_esdb_append_duration_seconds: want 3 observations (the appends sent), got %d", observed)
	}
}

func TestOpen(t *testing.T) {
	stopped := esdbfixture.Start(t, esdbfixture.Options{})
	stopped.Stop()
	running := esdbfixture.Start(t, esdbfixture.Options{})
	reg := prometheus.NewRegistry()
	cases := []struct {
		name string
		url  string
		ok   bool
	}{
		{name: "not a connection string", url: "http://localhost:2113"},
		{name: "server down", url: stopped.URL("maxDiscoverAttempts=1")},
		{name: "running server", url: running.URL(), ok: true},
		{name: "second store on the same registerer", url: running.URL()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := esdb.Open(t.Context(), tc.url, esdb.Options{Registerer: reg})
			if tc.ok != (err == nil) {
				t.Fatalf("Open(%s): want success %v, got err %v", tc.url, tc.ok, err)
			}
			if err == nil {
				t.Cleanup(func() { _ = s.Close() })
				if err := s.Ready(t.Context()); err != nil {
					t.Fatalf("Ready: %v", err)
				}
			}
		})
	}
}
