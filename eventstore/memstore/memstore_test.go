package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/memstore"
	"github.com/metropolis/csc/eventstore/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		s := memstore.New(memstore.Options{})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestRecordedComesFromTheClock(t *testing.T) {
	zurich := time.FixedZone("CET", 3600)
	ticks := []time.Time{
		time.Date(2030, 1, 1, 9, 0, 0, 0, zurich),
		time.Date(2030, 1, 1, 9, 0, 5, 500, zurich),
	}
	calls := 0
	s := memstore.New(memstore.Options{Now: func() time.Time {
		now := ticks[calls]
		calls++
		return now
	}})
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Append(ctx, "clock", eventstore.NoStream(), []eventstore.EventData{
		{ID: newID(1), Type: "A", Data: []byte(`{}`)}, {ID: newID(2), Type: "B", Data: []byte(`{}`)},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "clock", eventstore.Exact(1), []eventstore.EventData{{ID: newID(3), Type: "C", Data: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	want := []time.Time{ticks[0].UTC(), ticks[0].UTC(), ticks[1].UTC()}
	i := 0
	for ev, err := range s.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Recorded != want[i] {
			t.Fatalf("event %d: want Recorded %v (the clock's time of its append, in UTC), got %v", i, want[i], ev.Recorded)
		}
		i++
	}
	if i != 3 || calls != 2 {
		t.Fatalf("want 3 events and one clock reading per append (2), got %d events and %d readings", i, calls)
	}
}

func TestPositions(t *testing.T) {
	s := memstore.New(memstore.Options{})
	defer s.Close()
	ctx := context.Background()
	for i := range 3 {
		res, err := s.Append(ctx, "p", eventstore.Any(), []eventstore.EventData{
			{ID: newID(2*i + 1), Type: "A", Data: []byte(`{}`)}, {ID: newID(2*i + 2), Type: "A", Data: []byte(`{}`)},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := eventstore.Position{Commit: uint64(2*i + 2), Prepare: uint64(2*i + 2)}
		if res.Position != want {
			t.Fatalf("append %d: want position %v (Commit == Prepare, counting from 1), got %v", i, want, res.Position)
		}
	}
	cases := []struct {
		after eventstore.Position
		want  uint64 // first position read, 0 for none
	}{
		{eventstore.Position{}, 1},
		{eventstore.Position{Commit: 3, Prepare: 3}, 4},
		{eventstore.Position{Commit: 3, Prepare: 2}, 3}, // a foreign position between 2 and 3
		{eventstore.Position{Commit: 3, Prepare: 9}, 4},
		{eventstore.Position{Commit: 6, Prepare: 6}, 0},
		{eventstore.Position{Commit: 1 << 63, Prepare: 1 << 63}, 0},
	}
	for _, tc := range cases {
		var first uint64
		for ev, err := range s.ReadAll(ctx, tc.after) {
			if err != nil {
				t.Fatal(err)
			}
			first = ev.Position.Commit
			break
		}
		if first != tc.want {
			t.Fatalf("ReadAll(after %v): want the first event at %d, got %d", tc.after, tc.want, first)
		}
	}
}

// newID returns a fixed, non-nil event ID numbered n.
func newID(n int) uuid.UUID {
	return uuid.UUID{0x42, 15: byte(n)}
}
