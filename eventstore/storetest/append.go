package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
)

func (su suite) testExpectedRevision(t *testing.T) {
	cases := []struct {
		name     string
		existing int // events already in the stream; 0: the stream does not exist
		expected eventstore.ExpectedRevision
		ok       bool
		actual   uint64 // WrongRevisionError.Actual when !ok
	}{
		{name: "any on missing stream", existing: 0, expected: eventstore.Any(), ok: true},
		{name: "no stream on missing stream", existing: 0, expected: eventstore.NoStream(), ok: true},
		{name: "exact 0 on missing stream", existing: 0, expected: eventstore.Exact(0), ok: false, actual: 0},
		{name: "exact 3 on missing stream", existing: 0, expected: eventstore.Exact(3), ok: false, actual: 0},
		{name: "any on existing stream", existing: 2, expected: eventstore.Any(), ok: true},
		{name: "no stream on existing stream", existing: 2, expected: eventstore.NoStream(), ok: false, actual: 1},
		{name: "exact current revision", existing: 2, expected: eventstore.Exact(1), ok: true},
		{name: "exact 0 on one-event stream", existing: 1, expected: eventstore.Exact(0), ok: true},
		{name: "exact behind", existing: 2, expected: eventstore.Exact(0), ok: false, actual: 1},
		{name: "exact ahead", existing: 2, expected: eventstore.Exact(2), ok: false, actual: 1},
		{name: "exact far ahead", existing: 3, expected: eventstore.Exact(1 << 40), ok: false, actual: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := su.newStore(t)
			ctx := context.Background()
			// Another stream, so that "does not exist" is tested in a store that is not empty.
			mustAppend(t, s, "other", eventstore.NoStream(), events("Other", 1))
			const stream = "subject"
			if tc.existing > 0 {
				mustAppend(t, s, stream, eventstore.NoStream(), events("Before", tc.existing))
			}
			before := readStream(t, s, stream, 0)
			headBefore := head(t, s)

			evs := events("Appended", 2)
			res, err := s.Append(ctx, stream, tc.expected, evs)
			after := readStream(t, s, stream, 0)

			if !tc.ok {
				checkWrongRevision(t, err, stream, tc.expected, tc.actual, tc.existing > 0)
				if !slices.Equal(ids(after), ids(before)) {
					t.Fatalf("after a refused append: want stream %s unchanged (%d events), got %d events", stream, len(before), len(after))
				}
				if h := head(t, s); h != headBefore {
					t.Fatalf("after a refused append: want Head unchanged at %v, got %v", headBefore, h)
				}
				return
			}
			if err != nil {
				t.Fatalf("Append(expected %v) on a stream with %d events: want success, got %v", tc.expected, tc.existing, err)
			}
			wantRev := uint64(tc.existing + 1)
			if res.Revision != wantRev {
				t.Fatalf("AppendResult.Revision: want %d (revision of the last event), got %d", wantRev, res.Revision)
			}
			if len(after) != tc.existing+2 {
				t.Fatalf("stream after append: want %d events, got %d", tc.existing+2, len(after))
			}
			for i, e := range after {
				if e.Revision != uint64(i) || e.Stream != stream {
					t.Fatalf("event %d of the stream: want stream %s revision %d, got stream %s revision %d", i, stream, i, e.Stream, e.Revision)
				}
			}
			if got := ids(after[tc.existing:]); !slices.Equal(got, dataIDs(evs)) {
				t.Fatalf("appended events: want IDs %v at the end of the stream, got %v", dataIDs(evs), got)
			}
			if last := after[len(after)-1]; res.Position != last.Position {
				t.Fatalf("AppendResult.Position: want %v (position of the last event), got %v", last.Position, res.Position)
			}
			if h := head(t, s); h != res.Position {
				t.Fatalf("Head after append: want %v (the append's position), got %v", res.Position, h)
			}
		})
	}
}

// checkWrongRevision fails t unless err is a *WrongRevisionError with the given fields that also
// matches ErrWrongRevision.
func checkWrongRevision(t testing.TB, err error, stream string, expected eventstore.ExpectedRevision, actual uint64, exists bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("Append(%s, expected %v): want a wrong revision error, got success", stream, expected)
	}
	if !errors.Is(err, eventstore.ErrWrongRevision) {
		t.Fatalf("Append(%s, expected %v): want errors.Is(err, ErrWrongRevision), got %v", stream, expected, err)
	}
	var wr *eventstore.WrongRevisionError
	if !errors.As(err, &wr) {
		t.Fatalf("Append(%s, expected %v): want errors.As(err, *WrongRevisionError), got %T: %v", stream, expected, err, err)
	}
	want := eventstore.WrongRevisionError{Stream: stream, Expected: expected, Actual: actual, Exists: exists}
	if *wr != want {
		t.Fatalf("WrongRevisionError: want %+v, got %+v", want, *wr)
	}
}

func (su suite) testAppendNoEvents(t *testing.T) {
	cases := []struct {
		name     string
		existing int
		expected eventstore.ExpectedRevision
		events   []eventstore.EventData
	}{
		{name: "nil slice, any, missing stream", expected: eventstore.Any()},
		{name: "empty slice, no stream, missing stream", expected: eventstore.NoStream(), events: []eventstore.EventData{}},
		{name: "empty slice, exact 0, missing stream", expected: eventstore.Exact(0), events: []eventstore.EventData{}},
		{name: "nil slice, any, existing stream", existing: 2, expected: eventstore.Any()},
		{name: "empty slice, exact current, existing stream", existing: 2, expected: eventstore.Exact(1), events: []eventstore.EventData{}},
		{name: "empty slice, no stream, existing stream", existing: 2, expected: eventstore.NoStream(), events: []eventstore.EventData{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := su.newStore(t)
			const stream = "subject"
			if tc.existing > 0 {
				mustAppend(t, s, stream, eventstore.NoStream(), events("Before", tc.existing))
			}
			headBefore := head(t, s)
			res, err := s.Append(context.Background(), stream, tc.expected, tc.events)
			if err == nil {
				t.Fatalf("Append with no events: want an error (an empty append is refused), got success %+v", res)
			}
			if got := readStream(t, s, stream, 0); len(got) != tc.existing {
				t.Fatalf("after a refused empty append: want %d events in %s, got %d", tc.existing, stream, len(got))
			}
			if h := head(t, s); h != headBefore {
				t.Fatalf("after a refused empty append: want Head unchanged at %v, got %v", headBefore, h)
			}
		})
	}
}

func (su suite) testAppendInvalid(t *testing.T) {
	dup := event("Dup", `{}`)
	cases := []struct {
		name   string
		stream string
		events []eventstore.EventData
	}{
		{name: "empty stream name", stream: "", events: events("E", 1)},
		{name: "nil event ID", stream: "subject", events: []eventstore.EventData{{ID: uuid.Nil, Type: "E", Data: []byte(`{}`)}}},
		{name: "nil event ID after a valid one", stream: "subject", events: append(events("E", 1), eventstore.EventData{Type: "E", Data: []byte(`{}`)})},
		{name: "same ID twice in one append", stream: "subject", events: []eventstore.EventData{dup, dup}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := su.newStore(t)
			res, err := s.Append(context.Background(), tc.stream, eventstore.Any(), tc.events)
			if err == nil {
				t.Fatalf("Append(%q, %d events): want an error, got success %+v", tc.stream, len(tc.events), res)
			}
			if got := readAll(t, s, eventstore.Position{}); len(got) != 0 {
				t.Fatalf("after a refused append: want an empty log, got %d events", len(got))
			}
		})
	}
}

// race runs n goroutines released together; each calls fn with its index.
func race(n int, fn func(g int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			<-start
			fn(g)
		})
	}
	close(start)
	wg.Wait()
}

const racers = 32

type raceOutcome struct {
	events []eventstore.EventData
	res    eventstore.AppendResult
	err    error
}

// runRace has racers goroutines append 3 events each to stream with the same expectation, and
// returns their outcomes.
func runRace(s eventstore.Store, stream string, expected eventstore.ExpectedRevision) []raceOutcome {
	out := make([]raceOutcome, racers)
	for g := range out {
		out[g].events = events(fmt.Sprintf("Racer%d", g), 3)
	}
	race(racers, func(g int) {
		out[g].res, out[g].err = s.Append(context.Background(), stream, expected, out[g].events)
	})
	return out
}

// checkOneWinner checks that exactly one racer won and the others got a wrong revision error saying
// the stream is at the winner's revision, and returns the winner.
func checkOneWinner(t *testing.T, outcomes []raceOutcome, stream string, expected eventstore.ExpectedRevision, wantRev uint64) raceOutcome {
	t.Helper()
	var winners []int
	for g, o := range outcomes {
		if o.err == nil {
			winners = append(winners, g)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d goroutines appended to %s with expected %v: want exactly 1 winner, got %d (%v)", racers, stream, expected, len(winners), winners)
	}
	win := outcomes[winners[0]]
	if win.res.Revision != wantRev {
		t.Fatalf("winner's AppendResult.Revision: want %d, got %d", wantRev, win.res.Revision)
	}
	for g, o := range outcomes {
		if g != winners[0] {
			checkWrongRevision(t, o.err, stream, expected, wantRev, true)
		}
	}
	return win
}

// checkAdjacentInAll fails t unless the events with the given IDs appear in $all one after the other,
// in this order.
func checkAdjacentInAll(t *testing.T, all []eventstore.RecordedEvent, want []uuid.UUID) {
	t.Helper()
	for i, e := range all {
		if e.ID != want[0] {
			continue
		}
		if i+len(want) > len(all) || !slices.Equal(ids(all[i:i+len(want)]), want) {
			t.Fatalf("events of one append: want them adjacent in $all from position %v, got %v", e.Position, ids(all[i:min(i+len(want), len(all))]))
		}
		return
	}
	t.Fatalf("event %s: want it in $all, not found", want[0])
}

func (su suite) testConcurrentExact(t *testing.T) {
	s := su.newStore(t)
	const stream = "contended"
	mustAppend(t, s, stream, eventstore.NoStream(), events("Seed", 1))
	current := uint64(0)
	for round := range 4 {
		expected := eventstore.Exact(current)
		outcomes := runRace(s, stream, expected)
		win := checkOneWinner(t, outcomes, stream, expected, current+3)
		got := readStream(t, s, stream, 0)
		if uint64(len(got)) != current+4 {
			t.Fatalf("round %d: want %d events in %s (nothing half-written), got %d", round, current+4, stream, len(got))
		}
		for i, e := range got {
			if e.Revision != uint64(i) {
				t.Fatalf("round %d: event %d of %s: want revision %d, got %d", round, i, stream, i, e.Revision)
			}
		}
		if tail := ids(got[current+1:]); !slices.Equal(tail, dataIDs(win.events)) {
			t.Fatalf("round %d: want the winner's events %v at revisions %d..%d, got %v", round, dataIDs(win.events), current+1, current+3, tail)
		}
		all := readAll(t, s, eventstore.Position{})
		if len(all) != len(got) {
			t.Fatalf("round %d: want %d events in $all, got %d", round, len(got), len(all))
		}
		checkAdjacentInAll(t, all, dataIDs(win.events))
		current += 3
	}
}

func (su suite) testConcurrentNoStream(t *testing.T) {
	s := su.newStore(t)
	const stream = "created-once"
	outcomes := runRace(s, stream, eventstore.NoStream())
	win := checkOneWinner(t, outcomes, stream, eventstore.NoStream(), 2)
	got := readStream(t, s, stream, 0)
	if !slices.Equal(ids(got), dataIDs(win.events)) {
		t.Fatalf("stream %s: want exactly the winner's events %v, got %v", stream, dataIDs(win.events), ids(got))
	}
	if all := readAll(t, s, eventstore.Position{}); len(all) != 3 {
		t.Fatalf("$all: want the winner's 3 events, got %d events", len(all))
	}
}

func (su suite) testConcurrentAny(t *testing.T) {
	s := su.newStore(t)
	const stream = "shared"
	outcomes := runRace(s, stream, eventstore.Any())
	owner := make(map[uuid.UUID]int)
	for g, o := range outcomes {
		if o.err != nil {
			t.Fatalf("goroutine %d: Append(any): want success, got %v", g, o.err)
		}
		for _, e := range o.events {
			owner[e.ID] = g
		}
	}
	got := readStream(t, s, stream, 0)
	if len(got) != 3*racers {
		t.Fatalf("stream %s: want %d events, got %d", stream, 3*racers, len(got))
	}
	for i := 0; i < len(got); i += 3 {
		g, ok := owner[got[i].ID]
		if !ok {
			t.Fatalf("event at revision %d: unknown ID %s", i, got[i].ID)
		}
		o := outcomes[g]
		if !slices.Equal(ids(got[i:i+3]), dataIDs(o.events)) {
			t.Fatalf("revisions %d..%d: want goroutine %d's 3 events together (an append is atomic), got %v", i, i+2, g, ids(got[i:i+3]))
		}
		if o.res.Revision != uint64(i+2) || o.res.Position != got[i+2].Position {
			t.Fatalf("goroutine %d: want AppendResult{Revision %d, Position %v}, got %+v", g, i+2, got[i+2].Position, o.res)
		}
		for j := range 3 {
			if got[i+j].Revision != uint64(i+j) {
				t.Fatalf("event %d: want revision %d, got %d", i+j, i+j, got[i+j].Revision)
			}
		}
	}
}

func (su suite) testIdempotent(t *testing.T) {
	cases := []struct {
		name     string
		seed     int // events in the stream before the first append
		first    eventstore.ExpectedRevision
		between  int // events appended by someone else between the first append and the retry
		retry    eventstore.ExpectedRevision
		wantLast uint64 // revision of the first append's last event
	}{
		{name: "no stream", first: eventstore.NoStream(), retry: eventstore.NoStream(), wantLast: 1},
		{name: "exact", seed: 1, first: eventstore.Exact(0), retry: eventstore.Exact(0), wantLast: 2},
		{name: "any on new stream", first: eventstore.Any(), retry: eventstore.Any(), wantLast: 1},
		{name: "any on existing stream", seed: 2, first: eventstore.Any(), retry: eventstore.Any(), wantLast: 3},
		{name: "no stream, retried after the stream moved on", first: eventstore.NoStream(), between: 2, retry: eventstore.NoStream(), wantLast: 1},
		{name: "exact, retried after the stream moved on", seed: 1, first: eventstore.Exact(0), between: 1, retry: eventstore.Exact(0), wantLast: 2},
		{name: "any, retried after the stream moved on", seed: 1, first: eventstore.Any(), between: 3, retry: eventstore.Any(), wantLast: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := su.newStore(t)
			const stream = "retried"
			if tc.seed > 0 {
				mustAppend(t, s, stream, eventstore.NoStream(), events("Seed", tc.seed))
			}
			evs := events("Once", 2)
			first := mustAppend(t, s, stream, tc.first, evs)
			if first.Revision != tc.wantLast {
				t.Fatalf("first append: want revision %d, got %d", tc.wantLast, first.Revision)
			}
			if tc.between > 0 {
				mustAppend(t, s, stream, eventstore.Any(), events("Between", tc.between))
			}
			headBefore := head(t, s)
			before := readStream(t, s, stream, 0)

			// The retry carries the same IDs; the payload need not be compared by the store.
			again, err := s.Append(context.Background(), stream, tc.retry, evs)
			if err != nil {
				t.Fatalf("retried append (expected %v): want the first result %+v, got error %v", tc.retry, first, err)
			}
			if again != first {
				t.Fatalf("retried append (expected %v): want the first result %+v, got %+v", tc.retry, first, again)
			}
			after := readStream(t, s, stream, 0)
			if !slices.Equal(ids(after), ids(before)) {
				t.Fatalf("retried append: want the stream unchanged (%d events), got %d events", len(before), len(after))
			}
			if h := head(t, s); h != headBefore {
				t.Fatalf("retried append: want Head unchanged at %v, got %v", headBefore, h)
			}
		})
	}
}

// testIdempotentRun re-appends a consecutive run of an earlier append's events where the expected
// revision puts it: idempotent, answered with the position of the run's last event, as EventStoreDB
// answers it. (Not tested: a run of one event from the middle of an append. EventStoreDB answers it
// with the position of the append's commit, which sorts before the event's own, and the esdb adapter
// takes a one-event append's position from the server's answer without reading it back.)
func (su suite) testIdempotentRun(t *testing.T) {
	cases := []struct {
		name     string
		expected eventstore.ExpectedRevision
		from, to int // the run: evs[from:to]
	}{
		{name: "first events, no stream", expected: eventstore.NoStream(), from: 0, to: 2},
		{name: "first event, no stream", expected: eventstore.NoStream(), from: 0, to: 1},
		{name: "last events, exact", expected: eventstore.Exact(0), from: 1, to: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := su.newStore(t)
			const stream = "run"
			evs := events("Once", 3)
			mustAppend(t, s, stream, eventstore.NoStream(), evs)
			before := readAll(t, s, eventstore.Position{})
			res, err := s.Append(context.Background(), stream, tc.expected, evs[tc.from:tc.to])
			if err != nil {
				t.Fatalf("re-append of events %d..%d (expected %v): want success, got %v", tc.from, tc.to-1, tc.expected, err)
			}
			last := before[tc.to-1]
			if res.Revision != uint64(tc.to-1) || res.Position != last.Position {
				t.Fatalf("re-append of events %d..%d: want revision %d at %v (the run's last event), got %+v", tc.from, tc.to-1, tc.to-1, last.Position, res)
			}
			if after := readAll(t, s, eventstore.Position{}); !slices.Equal(ids(after), ids(before)) {
				t.Fatalf("re-append: want $all unchanged (%d events), got %d events", len(before), len(after))
			}
		})
	}
}

func (su suite) testIDReuse(t *testing.T) {
	if su.opts.EventIDsPerStream {
		t.Skip("the store checks event IDs per stream only (Options.EventIDsPerStream): an ID reused elsewhere is not refused")
	}
	a, b := event("A", `{"a":1}`), event("B", `{"b":1}`)
	fresh := func() eventstore.EventData { return event("Fresh", `{}`) }
	cases := []struct {
		name     string
		stream   string
		expected eventstore.ExpectedRevision
		events   []eventstore.EventData
	}{
		{name: "same ID in another stream, no stream", stream: "other", expected: eventstore.NoStream(), events: []eventstore.EventData{a}},
		{name: "same ID in another stream, any", stream: "other", expected: eventstore.Any(), events: []eventstore.EventData{a, b}},
		{name: "same IDs at the current revision", stream: "owner", expected: eventstore.Exact(1), events: []eventstore.EventData{a, b}},
		{name: "same IDs in another order", stream: "owner", expected: eventstore.NoStream(), events: []eventstore.EventData{b, a}},
		{name: "known ID after a new one", stream: "owner", expected: eventstore.Exact(1), events: []eventstore.EventData{fresh(), a}},
		{name: "known ID after a new one, another stream", stream: "other", expected: eventstore.Any(), events: []eventstore.EventData{fresh(), b}},
		{name: "known IDs followed by a new one", stream: "owner", expected: eventstore.NoStream(), events: []eventstore.EventData{a, b, fresh()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := su.newStore(t)
			mustAppend(t, s, "owner", eventstore.NoStream(), []eventstore.EventData{a, b})
			before := readAll(t, s, eventstore.Position{})
			res, err := s.Append(context.Background(), tc.stream, tc.expected, tc.events)
			if err == nil {
				t.Fatalf("Append(%s, expected %v) reusing recorded IDs elsewhere: want an error, got success %+v", tc.stream, tc.expected, res)
			}
			after := readAll(t, s, eventstore.Position{})
			if !slices.Equal(ids(after), ids(before)) {
				t.Fatalf("after a refused append: want $all unchanged (%v), got %v", ids(before), ids(after))
			}
		})
	}
}
