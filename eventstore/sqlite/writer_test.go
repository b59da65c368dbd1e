package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
)

// TestGroupCommit holds the writer inside a transaction while 64 appends queue up behind it, and
// checks that they are committed together: far fewer transactions than appends.
func TestGroupCommit(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			gate := &clockGate{}
			s := openTemp(t, Options{Driver: drv, Registerer: reg, Now: gate.now})

			first := gate.hold(t, s, "first") // the writer is inside the first batch's transaction

			const writers = 64
			var wg sync.WaitGroup
			errs := make([]error, writers)
			for w := range writers {
				wg.Go(func() {
					_, errs[w] = s.Append(context.Background(), fmt.Sprintf("w-%d", w), eventstore.NoStream(), events("Concurrent", 1))
				})
			}
			waitFor(t, "64 appends queued behind the first batch", func() bool { return s.queued() == writers })
			gate.open()
			wg.Wait()
			if r := <-first; r.err != nil {
				t.Fatalf("first append: %v", r.err)
			}
			for w, err := range errs {
				if err != nil {
					t.Fatalf("append of writer %d: %v", w, err)
				}
			}

			txs, appends := histogram(t, reg, "csc_eventstore_sqlite_batch_appends")
			if appends != writers+1 {
				t.Fatalf("batch size histogram: want %d appends in all, got %v", writers+1, appends)
			}
			if txs != 2 {
				t.Fatalf("transactions: want 2 (the held one, then the 64 queued appends together), got %d", txs)
			}
			if got := len(readAll(t, s)); got != writers+1 {
				t.Fatalf("$all: want %d events, got %d", writers+1, got)
			}
			if got := counter(t, reg, "csc_eventstore_sqlite_appends_total", "outcome", outcomeOK); got != writers+1 {
				t.Fatalf("appends_total{outcome=ok}: want %d, got %v", writers+1, got)
			}
			if got := counter(t, reg, "csc_eventstore_sqlite_events_appended_total"); got != writers+1 {
				t.Fatalf("events_appended_total: want %d, got %v", writers+1, got)
			}
		})
	}
}

// TestBatchIsolation queues, in one batch, appends that succeed, fail on their own, and repeat one
// another, and checks each gets its own answer and the batch commits what it should.
func TestBatchIsolation(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			gate := &clockGate{}
			s := openTemp(t, Options{Driver: drv, Registerer: reg, Now: gate.now})
			seed := mustAppend(t, s, "seeded", eventstore.NoStream(), events("Seed", 2))

			hold := gate.hold(t, s, "hold")

			a := events("A", 2)
			reusesA := []eventstore.EventData{{ID: a[1].ID, Type: "Reuse", Data: []byte(`{}`)}}
			type step struct {
				name     string
				stream   string
				expected eventstore.ExpectedRevision
				events   []eventstore.EventData
				check    func(t *testing.T, res eventstore.AppendResult, err error)
			}
			wantOK := func(rev uint64) func(*testing.T, eventstore.AppendResult, error) {
				return func(t *testing.T, res eventstore.AppendResult, err error) {
					if err != nil || res.Revision != rev {
						t.Fatalf("want success at revision %d, got %+v, %v", rev, res, err)
					}
				}
			}
			wantWrong := func(actual uint64, exists bool) func(*testing.T, eventstore.AppendResult, error) {
				return func(t *testing.T, _ eventstore.AppendResult, err error) {
					var wr *eventstore.WrongRevisionError
					if !errors.As(err, &wr) || wr.Actual != actual || wr.Exists != exists {
						t.Fatalf("want a wrong revision error (actual %d, exists %v), got %v", actual, exists, err)
					}
				}
			}
			var firstA eventstore.AppendResult
			steps := []step{
				{"creates x", "x", eventstore.NoStream(), a, func(t *testing.T, res eventstore.AppendResult, err error) {
					wantOK(1)(t, res, err)
					firstA = res
				}},
				{"sees x created earlier in the batch", "x", eventstore.NoStream(), events("B", 1), wantWrong(1, true)},
				{"follows x within the batch", "x", eventstore.Exact(1), events("C", 3), wantOK(4)},
				{"retries the first append of x", "x", eventstore.NoStream(), a, func(t *testing.T, res eventstore.AppendResult, err error) {
					if err != nil || res != firstA {
						t.Fatalf("want the first result %+v, got %+v, %v", firstA, res, err)
					}
				}},
				{"wrong revision on a committed stream", "seeded", eventstore.Exact(0), events("D", 1), wantWrong(seed.Revision, true)},
				{"reuses an event ID of x", "y", eventstore.Any(), reusesA, func(t *testing.T, _ eventstore.AppendResult, err error) {
					if !errors.Is(err, ErrEventIDReused) {
						t.Fatalf("want ErrEventIDReused, got %v", err)
					}
				}},
				{"appends to the committed stream", "seeded", eventstore.Exact(seed.Revision), events("E", 1), wantOK(seed.Revision + 1)},
			}
			results := make([]<-chan appendResult, len(steps))
			for i, st := range steps {
				results[i] = appendAsync(t, s, st.stream, st.expected, st.events)
			}
			gate.open()
			if r := <-hold; r.err != nil {
				t.Fatalf("held append: %v", r.err)
			}
			for i, st := range steps {
				r := <-results[i]
				t.Run(st.name, func(t *testing.T) { st.check(t, r.res, r.err) })
			}

			if txs, _ := histogram(t, reg, "csc_eventstore_sqlite_batch_appends"); txs != 3 {
				t.Fatalf("transactions: want 3 (seed, held, then the whole batch), got %d", txs)
			}
			wantStreams := map[string]int{"seeded": 3, "hold": 1, "x": 5}
			got := map[string]int{}
			for _, e := range readAll(t, s) {
				got[e.Stream]++
			}
			if fmt.Sprint(got) != fmt.Sprint(wantStreams) {
				t.Fatalf("events per stream after the batch: want %v, got %v", wantStreams, got)
			}
			for outcome, want := range map[string]float64{outcomeOK: 5, outcomeIdempotent: 1, outcomeWrongRevision: 2, outcomeRejected: 1} {
				if got := counter(t, reg, "csc_eventstore_sqlite_appends_total", "outcome", outcome); got != want {
					t.Errorf("appends_total{outcome=%s}: want %v, got %v", outcome, want, got)
				}
			}
		})
	}
}

// TestCloseWithPendingAppends closes the store while one batch is in the writer's hands and more
// appends are queued: the batch in hand is committed and acknowledged, the queued appends get
// ErrClosed, and after a reopen the file holds exactly the acknowledged events.
func TestCloseWithPendingAppends(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			path := tempPath(t)
			gate := &clockGate{}
			s, err := Open(path, Options{Driver: drv, Now: gate.now})
			if err != nil {
				t.Fatal(err)
			}
			inHand := gate.hold(t, s, "in-hand")
			var queued []<-chan appendResult
			for i := range 5 {
				queued = append(queued, appendAsync(t, s, fmt.Sprintf("queued-%d", i), eventstore.NoStream(), events("Queued", 3)))
			}
			closed := make(chan error, 1)
			go func() { closed <- s.Close() }()
			waitFor(t, "Close started", s.isClosed)
			gate.open()
			if err := <-closed; err != nil {
				t.Fatalf("Close: %v", err)
			}
			if r := <-inHand; r.err != nil || r.res.Revision != 0 {
				t.Fatalf("append in the writer's hands at Close: want it committed at revision 0, got %+v, %v", r.res, r.err)
			}
			for i, q := range queued {
				if r := <-q; !errors.Is(r.err, eventstore.ErrClosed) {
					t.Fatalf("append %d queued at Close: want ErrClosed, got %+v, %v", i, r.res, r.err)
				}
			}

			s = openAt(t, path, Options{Driver: drv})
			all := readAll(t, s)
			if len(all) != 1 {
				t.Fatalf("after reopen: want the one acknowledged event, got %d", len(all))
			}
			for _, e := range all {
				if e.Stream != "in-hand" {
					t.Fatalf("after reopen: want only stream in-hand, got an event of %s", e.Stream)
				}
			}
		})
	}
}

// TestCanceledBeforeBatch: an append whose context ends while it waits in the queue is answered with
// the context's error and not written.
func TestCanceledBeforeBatch(t *testing.T) {
	gate := &clockGate{}
	s := openTemp(t, Options{Now: gate.now})
	hold := gate.hold(t, s, "hold")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "canceled", eventstore.NoStream(), events("Canceled", 1))
		done <- err
	}()
	waitFor(t, "append queued", func() bool { return s.queued() == 1 })
	cancel()
	gate.open()
	if r := <-hold; r.err != nil {
		t.Fatal(r.err)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("append canceled in the queue: want context.Canceled, got %v", err)
	}
	for _, e := range readAll(t, s) {
		if e.Stream == "canceled" {
			t.Fatalf("append canceled in the queue: want nothing written, found %s@%d", e.Stream, e.Revision)
		}
	}
}

// TestAppendRefusedUpFront covers what validate refuses before anything reaches the writer.
func TestAppendRefusedUpFront(t *testing.T) {
	s := openTemp(t, Options{})
	id := uuid.New()
	cases := []struct {
		name   string
		stream string
		events []eventstore.EventData
	}{
		{"empty type", "s", []eventstore.EventData{{ID: id, Data: []byte(`{}`)}}},
		{"data not JSON", "s", []eventstore.EventData{{ID: id, Type: "T", Data: []byte(`{nope`)}}},
		{"metadata not JSON", "s", []eventstore.EventData{{ID: id, Type: "T", Data: []byte(`{}`), Metadata: []byte(`]`)}}},
		{"no events", "s", nil},
		{"empty stream", "", events("T", 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Append(context.Background(), tc.stream, eventstore.Any(), tc.events); !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("want ErrInvalidEvent, got %v", err)
			}
		})
	}
	if n := len(readAll(t, s)); n != 0 {
		t.Fatalf("after refused appends: want an empty log, got %d events", n)
	}
}

// TestRevisionCacheSeesOtherWriters: the writer keeps the revisions of the streams it appended to,
// but a commit by another connection (another process writing the file) makes it look them up again:
// an expected revision that was current before that commit is refused as a wrong revision, and the
// new current one is accepted.
func TestRevisionCacheSeesOtherWriters(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			path := tempPath(t)
			s := openAt(t, path, Options{Driver: drv})
			mustAppend(t, s, "shared", eventstore.NoStream(), events("Mine", 1))
			mustAppend(t, s, "shared", eventstore.Exact(0), events("Mine", 1)) // revision 1, now cached

			other := rawDB(t, path, drv)
			if _, err := other.Exec(`INSERT INTO events (stream, revision, event_id, type, data, metadata, recorded)
				VALUES ('shared', 2, ?, 'Theirs', '{}', '{}', '2026-01-02T03:04:05.000000000Z')`, uuid.NewString()); err != nil {
				t.Fatal(err)
			}

			_, err := s.Append(context.Background(), "shared", eventstore.Exact(1), events("Mine", 1))
			var wrong *eventstore.WrongRevisionError
			if !errors.As(err, &wrong) || wrong.Actual != 2 {
				t.Fatalf("append at the revision before the other writer's: want a wrong revision with actual 2, got %v", err)
			}
			res := mustAppend(t, s, "shared", eventstore.Exact(2), events("Mine", 1))
			if res.Revision != 3 {
				t.Fatalf("append after the other writer's: want revision 3, got %d", res.Revision)
			}
		})
	}
}

// TestRetryAtMaxRevisionIsNotIdempotent appends events again with Exact(2^64-1): no stream reaches that
// revision, so it is a wrong revision, not a retry of the append that wrote them at revision 0 (the
// next revision after 2^64-1 wraps around to 0).
func TestRetryAtMaxRevisionIsNotIdempotent(t *testing.T) {
	s := openTemp(t, Options{})
	evs := events("E", 3)
	mustAppend(t, s, "x", eventstore.NoStream(), evs)
	mustAppend(t, s, "x", eventstore.Exact(2), events("F", 1))
	_, err := s.Append(context.Background(), "x", eventstore.Exact(math.MaxUint64), evs)
	var wrong *eventstore.WrongRevisionError
	if !errors.As(err, &wrong) || wrong.Actual != 3 {
		t.Fatalf("re-append at Exact(2^64-1): want a wrong revision at 3, got %v", err)
	}
}
