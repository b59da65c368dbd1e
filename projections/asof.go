package projections

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// AsOf names a moment of the log. With Position set, the models include every event up to and
// including that position. With Time set, they include the longest prefix of the log whose events
// were all recorded at or before Time (an event's recorded time is its effective time,
// eventstore.EffectiveTime: the time its metadata keeps when it was copied from another store or
// written as back-dated history, else the store's). With both set, both bounds hold. With neither,
// the whole log.
type AsOf struct {
	Time     time.Time
	Position eventstore.Position
}

func (a AsOf) includes(f *fact) bool {
	if !a.Position.IsZero() && a.Position.Before(f.pos) {
		return false
	}
	if !a.Time.IsZero() && f.recorded.After(a.Time) {
		return false
	}
	return true
}

// BuildAsOf builds every read model from the start of the log up to the moment at, without
// touching any live models (for auditors: what was known on a given day). Query the result with
// the same time as now (Progress(at.Time), ...) to see health as it was then.
func BuildAsOf(ctx context.Context, store eventstore.Store, codec *domain.Codec, at AsOf) (*Models, error) {
	s, err := build(ctx, store, newDecoder(codec), at)
	if err != nil {
		return nil, fmt.Errorf("build read models as of %s: %w", describeAsOf(at), err)
	}
	return newModels(s), nil
}

func describeAsOf(a AsOf) string {
	switch {
	case !a.Time.IsZero() && !a.Position.IsZero():
		return a.Time.Format(time.RFC3339Nano) + " and position " + a.Position.String()
	case !a.Time.IsZero():
		return a.Time.Format(time.RFC3339Nano)
	case !a.Position.IsZero():
		return "position " + a.Position.String()
	}
	return "the end of the log"
}

// build reads the log from the start through the decoding pipeline and folds the events up to the
// moment at into a fresh, indexed state.
func build(ctx context.Context, store eventstore.Store, dec *decoder, at AsOf) (*state, error) {
	cctx, cancel := context.WithCancel(ctx)
	p := feed(cctx, readAll(cctx, store, eventstore.Position{}), dec, false, eventstore.Position{})
	defer func() {
		cancel()
		p.stop()
	}()
	s := newState()
	for out := range p.results {
		b := <-out
		for i := range b.facts {
			f := &b.facts[i]
			if !at.includes(f) {
				s.reindex()
				return s, nil
			}
			s.apply(f)
		}
		if b.err != nil {
			return nil, b.err
		}
		p.recycle(b)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.reindex()
	return s, nil
}

// RebuildStats are the figures of a measured rebuild.
type RebuildStats struct {
	Events          uint64        // events read (applied and skipped)
	Duration        time.Duration // from the first read to indexed models
	EventsPerSecond float64
	// PeakHeap is the highest live-and-unswept heap seen while building (sampled every few
	// milliseconds); ModelsHeap is the heap after a garbage collection once built, with only the
	// models left: the read models' own size, and the floor PeakHeap is compared with.
	PeakHeap   uint64
	ModelsHeap uint64
	// HeapBefore is the heap, after a garbage collection, before the rebuild started.
	HeapBefore uint64
}

// MeasureRebuild builds every read model from the whole log of store, exactly as Rebuild and
// BuildAsOf do (the same pipeline: scan, parallel decoding, fold), and measures the rate and the
// memory it took. The models are dropped afterwards.
func MeasureRebuild(ctx context.Context, store eventstore.Store, codec *domain.Codec) (RebuildStats, error) {
	dec := newDecoder(codec)
	var st RebuildStats
	var s *state
	var err error
	st.PeakHeap, st.HeapBefore = PeakHeap(func() {
		start := time.Now()
		s, err = build(ctx, store, dec, AsOf{})
		st.Duration = time.Since(start)
	})
	if err != nil {
		return st, fmt.Errorf("measure rebuild: %w", err)
	}
	st.Events = s.applied + s.skipped
	st.EventsPerSecond = float64(st.Events) / st.Duration.Seconds()
	runtime.GC()
	st.ModelsHeap = heapBytes()
	runtime.KeepAlive(s)
	return st, nil
}

// PeakHeap runs run and returns the highest heap (live and unswept objects) seen while it ran,
// sampled every 2 ms, and the heap after a garbage collection just before it.
func PeakHeap(run func()) (peak, before uint64) {
	runtime.GC()
	before = heapBytes()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, heapBytes())
			select {
			case <-tick.C:
			case <-done:
				return
			}
		}
	})
	run()
	close(done)
	wg.Wait()
	return max(peak, heapBytes()), before
}

// heapBytes is the memory occupied by heap objects, live or not yet swept.
func heapBytes() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}
