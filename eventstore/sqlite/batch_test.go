package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
)

// interleaved returns n appends of one event each over streams streams, round robin, each with its
// exact expected revision: the shape of a log being copied.
func interleaved(n, streams int) []eventstore.StreamAppend {
	out := make([]eventstore.StreamAppend, n)
	for i := range out {
		rev := i / streams
		expected := eventstore.NoStream()
		if rev > 0 {
			expected = eventstore.Exact(uint64(rev - 1))
		}
		out[i] = eventstore.StreamAppend{Stream: fmt.Sprintf("s-%d", i%streams), Expected: expected, Events: events("Copied", 1)}
	}
	return out
}

// TestAppendBatchKeepsOrder checks that the appends of a batch land in $all in the batch's order, with
// the results in that order, and far fewer transactions than appends.
func TestAppendBatchKeepsOrder(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			s := openTemp(t, Options{Driver: drv, Registerer: reg})
			mustAppend(t, s, "before", eventstore.NoStream(), events("First", 1))
			batch := interleaved(300, 7)
			res, err := s.AppendBatch(context.Background(), batch)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != len(batch) {
				t.Fatalf("results: want %d, got %d", len(batch), len(res))
			}
			all := readAll(t, s)
			if len(all) != 1+len(batch) {
				t.Fatalf("$all: want %d events, got %d", 1+len(batch), len(all))
			}
			for i, a := range batch {
				got := all[1+i]
				if got.Stream != a.Stream || got.ID != a.Events[0].ID {
					t.Fatalf("$all[%d]: want %s %s (batch order), got %s %s", 1+i, a.Stream, a.Events[0].ID, got.Stream, got.ID)
				}
				if res[i].Position != got.Position || res[i].Revision != got.Revision {
					t.Fatalf("result %d: want position %v revision %d, got %v %d", i, got.Position, got.Revision, res[i].Position, res[i].Revision)
				}
			}
			if txs, _ := histogram(t, reg, "csc_eventstore_sqlite_batch_appends"); txs > 2 {
				t.Fatalf("transactions: want the batch in one (after the first append's), got %d in all", txs)
			}
		})
	}
}

// TestAppendBatchStopsAtFailure checks that an append that fails stops the batch: the appends before it
// are committed, it and the ones after it are not, and the error names it.
func TestAppendBatchStopsAtFailure(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			s := openTemp(t, Options{Driver: drv})
			mustAppend(t, s, "taken", eventstore.NoStream(), events("First", 1))
			batch := interleaved(10, 3)
			bad := eventstore.StreamAppend{Stream: "taken", Expected: eventstore.NoStream(), Events: events("Clash", 1)}
			batch = slices.Insert(batch, 4, bad)
			res, err := s.AppendBatch(context.Background(), batch)
			var wrong *eventstore.WrongRevisionError
			if !errors.As(err, &wrong) || wrong.Stream != "taken" {
				t.Fatalf("want the wrong-revision error of stream taken, got %v", err)
			}
			mentions(t, err, "append 5 of 11")
			if len(res) != 4 {
				t.Fatalf("results: want the 4 appends before the failure, got %d", len(res))
			}
			all := readAll(t, s)
			var got []string
			for _, e := range all[1:] {
				got = append(got, e.ID.String())
			}
			var want []string
			for _, a := range batch[:4] {
				want = append(want, a.Events[0].ID.String())
			}
			if !slices.Equal(got, want) {
				t.Fatalf("$all after the first event: want the 4 appends before the failure, got %d events", len(got))
			}
		})
	}
}

// TestAppendBatchRefusesInvalidWhole checks that an invalid append refuses the whole batch before
// anything is queued, and that a repeated batch is idempotent.
func TestAppendBatchRefusesInvalidWhole(t *testing.T) {
	s := openTemp(t, Options{})
	batch := interleaved(5, 2)
	invalid := append(slices.Clone(batch), eventstore.StreamAppend{Stream: "", Expected: eventstore.Any(), Events: events("X", 1)})
	if _, err := s.AppendBatch(context.Background(), invalid); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("want ErrInvalidEvent, got %v", err)
	}
	if n := len(readAll(t, s)); n != 0 {
		t.Fatalf("$all after a refused batch: want 0 events, got %d", n)
	}
	first, err := s.AppendBatch(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.AppendBatch(context.Background(), batch)
	if err != nil {
		t.Fatalf("repeated batch: %v", err)
	}
	if !slices.Equal(first, again) {
		t.Fatalf("repeated batch: want the first results %v, got %v", first, again)
	}
	if n := len(readAll(t, s)); n != len(batch) {
		t.Fatalf("$all after a repeated batch: want %d events, got %d", len(batch), n)
	}
	ro := openAt(t, s.Path(), Options{ReadOnly: true})
	if _, err := ro.AppendBatch(context.Background(), batch); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only store: want ErrReadOnly, got %v", err)
	}
}
