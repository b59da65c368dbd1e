package projections

import (
	"context"
	"iter"
	"runtime"
	"sync"

	"github.com/metropolis/csc/eventstore"
)

// scanBatch is the number of events the scanner hands to a decoder at once while catching up.
const scanBatch = 1024

// decodedBatch is a batch of facts in log order. err, when set, comes after the facts: the store
// failed, or the event after the last fact did not decode.
type decodedBatch struct {
	facts []fact
	err   error
}

// pipeline is the read pipeline: one goroutine scans a source of events, decoder goroutines decode
// batches in parallel, and the consumer receives the decoded batches in log order from results
// (each a channel that delivers one batch). Batches are recycled: the consumer hands every batch
// back with recycle once it has applied it (the state keeps nothing of a fact's memory).
type pipeline struct {
	results    <-chan chan decodedBatch
	wg         sync.WaitGroup
	freeFacts  chan []fact
	freeEvents chan []eventstore.RecordedEvent
}

// allViewer and subscriptionViewer are stores that can yield events whose Data and Metadata are
// read-only views rather than copies (sqlite.Store: ReadAllViews, SubscribeAllViews). The read
// models only read payloads, and the decoder never writes into them, so the pipeline takes the
// views when a store offers them: a rebuild then allocates a third less.
type (
	allViewer interface {
		ReadAllViews(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error]
	}
	subscriptionViewer interface {
		SubscribeAllViews(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error]
	}
)

// readAll is store.ReadAll, with read-only payloads when the store offers them.
func readAll(ctx context.Context, store eventstore.Store, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	if v, ok := store.(allViewer); ok {
		return v.ReadAllViews(ctx, after)
	}
	return store.ReadAll(ctx, after)
}

// subscribeAll is store.SubscribeAll, with read-only payloads when the store offers them.
func subscribeAll(ctx context.Context, store eventstore.Store, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	if v, ok := store.(subscriptionViewer); ok {
		return v.SubscribeAllViews(ctx, after)
	}
	return store.SubscribeAll(ctx, after)
}

// feed starts a pipeline over src. While catching up, events travel in batches of scanBatch. When
// follow is set (src is a subscription), from the first event at or after liveFrom on (the store's
// head when the read began; with a zero liveFrom, from the first event), each event is handed on at
// once, so a live event is never held back waiting for a batch to fill.
//
// The caller must cancel ctx and then call stop (which waits for the goroutines) when it is done,
// whether or not it read everything. src must end when ctx ends.
func feed(ctx context.Context, src iter.Seq2[eventstore.RecordedEvent, error], dec *decoder, follow bool, liveFrom eventstore.Position) *pipeline {
	workers := max(1, runtime.GOMAXPROCS(0)-1)
	type job struct {
		events []eventstore.RecordedEvent
		err    error
		out    chan decodedBatch
	}
	jobs := make(chan job, 2*workers)
	results := make(chan chan decodedBatch, 4*workers)
	p := &pipeline{
		results:    results,
		freeFacts:  make(chan []fact, 8*workers),
		freeEvents: make(chan []eventstore.RecordedEvent, 4*workers),
	}
	for range workers {
		p.wg.Go(func() {
			for j := range jobs {
				b := decodedBatch{facts: p.factSlice(len(j.events)), err: j.err}
				for _, e := range j.events {
					f, err := dec.decode(e)
					if err != nil {
						b.err = err
						break
					}
					b.facts = append(b.facts, f)
				}
				j.out <- b
				clear(j.events)
				select {
				case p.freeEvents <- j.events[:0]:
				default:
				}
			}
		})
	}
	p.wg.Go(func() {
		defer close(jobs)
		defer close(results)
		live := false
		batch := p.eventSlice()
		send := func(err error) bool {
			j := job{events: batch, err: err, out: make(chan decodedBatch, 1)}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return false
			}
			select {
			case results <- j.out:
			case <-ctx.Done():
				return false
			}
			batch = p.eventSlice()
			return true
		}
		for e, err := range src {
			if err != nil {
				send(err)
				return
			}
			batch = append(batch, e)
			if follow && !live && !e.Position.Before(liveFrom) {
				live = true
			}
			if (live || len(batch) == scanBatch) && !send(nil) {
				return
			}
		}
		if len(batch) > 0 {
			send(nil)
		}
	})
	return p
}

func (p *pipeline) eventSlice() []eventstore.RecordedEvent {
	select {
	case s := <-p.freeEvents:
		return s
	default:
		return make([]eventstore.RecordedEvent, 0, scanBatch)
	}
}

func (p *pipeline) factSlice(n int) []fact {
	select {
	case s := <-p.freeFacts:
		if cap(s) >= n {
			return s
		}
	default:
	}
	return make([]fact, 0, max(n, 1))
}

// recycle hands a batch's facts back for reuse.
func (p *pipeline) recycle(b decodedBatch) {
	clear(b.facts)
	select {
	case p.freeFacts <- b.facts[:0]:
	default:
	}
}

// stop waits for the pipeline's goroutines (after the caller cancelled its context).
func (p *pipeline) stop() { p.wg.Wait() }
