package storetest

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
)

// fillLog appends n small events in batches of up to batch events, one stream per batch.
func fillLog(ctx context.Context, s eventstore.Store, n, batch int) error {
	evs := make([]eventstore.EventData, 0, batch)
	for i, b := 0, 0; i < n; b++ {
		evs = evs[:0]
		for j := 0; j < batch && i < n; j, i = j+1, i+1 {
			evs = append(evs, eventstore.EventData{
				ID:       uuid.New(),
				Type:     "Tick",
				Data:     fmt.Appendf(nil, `{"n":%d}`, i),
				Metadata: []byte(`{"schemaVersion":1}`),
			})
		}
		stream := fmt.Sprintf("log-%d", b)
		if _, err := s.Append(ctx, stream, eventstore.NoStream(), evs); err != nil {
			return fmt.Errorf("fill log: append %s (%d events so far): %w", stream, i-len(evs), err)
		}
	}
	return nil
}

// measureReadAll reads $all from the start and counts its events. Every sampleEvery events it forces a
// garbage collection and reads the live heap; growth is the largest live heap seen minus the live heap
// before the read. A store that held the log (or a large part of it) in memory while reading shows it
// here; garbage a store makes and drops per event does not count.
func measureReadAll(ctx context.Context, s eventstore.Store, sampleEvery int) (count int, growth uint64, err error) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var last eventstore.Position
	for ev, err := range s.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			return count, growth, fmt.Errorf("read $all: after %d events: %w", count, err)
		}
		if !last.Before(ev.Position) {
			return count, growth, fmt.Errorf("read $all: event %d: want a position after %v, got %v", count, last, ev.Position)
		}
		last = ev.Position
		count++
		if count%sampleEvery == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base {
				growth = max(growth, ms.HeapAlloc-base)
			}
		}
	}
	return count, growth, nil
}

func (su suite) testMemory(t *testing.T) {
	n, bound := su.opts.LogEvents, su.opts.MaxHeapGrowth
	if testing.Short() && !inCI() {
		t.Skipf("skipped under -short: reads a %d-event log (set CI=true to force it)", n)
	}
	if raceEnabled {
		t.Skipf("skipped under -race: reads a %d-event log; `make test` runs this case without the race detector", n)
	}
	s := su.newStore(t)
	ctx := t.Context()
	if err := fillLog(ctx, s, n, 5000); err != nil {
		t.Fatal(err)
	}
	count, growth, err := measureReadAll(ctx, s, max(n/20, 1))
	if err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("ReadAll of a %d-event log: want %d events, got %d", n, n, count)
	}
	const mib = 1 << 20
	if growth >= bound {
		t.Fatalf("ReadAll of a %d-event log: want the live heap to grow by less than %d MiB while reading, it grew by %.1f MiB", n, bound/mib, float64(growth)/mib)
	}
	t.Logf("ReadAll of a %d-event log: live heap grew by at most %.1f MiB (bound %d MiB)", n, float64(growth)/mib, bound/mib)
}
