package storetest

import (
	"context"
	"errors"
	"iter"
	"runtime"
	"strconv"
	"testing"

	"github.com/metropolis/csc/eventstore"
)

// pairs records what an iterator yields: the number of events, the errors, and whether anything came
// after the first error.
type pairs struct {
	events     int
	errs       []error
	afterError bool
}

// drain runs seq to its end in another goroutine, calling each(pairIndex) after every event, and fails
// t if it does not end within the wait limit.
func (su suite) drain(t testing.TB, what string, seq iter.Seq2[eventstore.RecordedEvent, error], each func(n int)) pairs {
	t.Helper()
	var p pairs
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, err := range seq {
			if len(p.errs) > 0 {
				p.afterError = true
			}
			if err != nil {
				p.errs = append(p.errs, err)
				continue
			}
			p.events++
			if each != nil {
				each(p.events)
			}
		}
	}()
	su.waitDone(t, done, what)
	return p
}

// endsWith fails t unless p holds wantEvents events and then exactly one error matching target.
func (p pairs) endsWith(t testing.TB, what string, wantEvents int, target error) {
	t.Helper()
	if p.events != wantEvents || len(p.errs) != 1 || p.afterError || !errors.Is(p.errs[0], target) {
		t.Fatalf("%s: want %d events then one last pair with an error matching %q, got %d events, errors %v (anything after the first error: %v)",
			what, wantEvents, target, p.events, p.errs, p.afterError)
	}
}

func (su suite) testCancel(t *testing.T) {
	s := su.newStore(t)
	mustAppend(t, s, "cancel", eventstore.NoStream(), events("Cancel", 50))

	cancelAfterFirst := func(name string, seq func(ctx context.Context) iter.Seq2[eventstore.RecordedEvent, error]) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := su.drain(t, name, seq(ctx), func(n int) {
			if n == 1 {
				cancel()
			}
		})
		p.endsWith(t, name+" cancelled after the first event", 1, context.Canceled)

		cancelled, cancel2 := context.WithCancel(context.Background())
		cancel2()
		su.drain(t, name, seq(cancelled), nil).endsWith(t, name+" with a cancelled ctx", 0, context.Canceled)
	}
	cancelAfterFirst("ReadAll", func(ctx context.Context) iter.Seq2[eventstore.RecordedEvent, error] {
		return s.ReadAll(ctx, eventstore.Position{})
	})
	cancelAfterFirst("ReadStream", func(ctx context.Context) iter.Seq2[eventstore.RecordedEvent, error] {
		return s.ReadStream(ctx, "cancel", 0)
	})

	// SubscribeAll: no error pair and nothing more once ctx ends, whether catching up or live.
	ctx, cancel := context.WithCancel(context.Background())
	p := su.drain(t, "SubscribeAll cancelled while catching up", s.SubscribeAll(ctx, eventstore.Position{}), func(n int) {
		if n == 1 {
			cancel()
		}
	})
	if p.events != 1 || len(p.errs) != 0 {
		t.Fatalf("SubscribeAll cancelled after the first event: want 1 event and no error, got %d events, errors %v", p.events, p.errs)
	}
	p = su.drain(t, "SubscribeAll with a cancelled ctx", s.SubscribeAll(ctx, eventstore.Position{}), nil)
	if p.events != 0 || len(p.errs) != 0 {
		t.Fatalf("SubscribeAll with a cancelled ctx: want nothing, got %d events, errors %v", p.events, p.errs)
	}

	liveCtx, liveCancel := context.WithCancel(context.Background())
	defer liveCancel()
	live := su.subscribe(liveCtx, s, head(t, s))
	extra := events("Extra", 1)
	mustAppend(t, s, "cancel", eventstore.Exact(49), extra)
	if got := live.receive(t, 1, "live subscription"); got[0].ID != extra[0].ID {
		t.Fatalf("live subscription: want %s, got %s", extra[0].ID, got[0].ID)
	}
	liveCancel()
	su.waitDone(t, live.done, "live SubscribeAll after ctx was cancelled")
	if live.err != nil {
		t.Fatalf("live SubscribeAll: want no error when ctx ends, got %v", live.err)
	}
}

func (su suite) testClose(t *testing.T) {
	before := runtime.NumGoroutine()
	s := su.newStore(t)
	mustAppend(t, s, "closing", eventstore.NoStream(), events("Closing", 10))
	ctx := t.Context()

	live := su.subscribe(ctx, s, eventstore.Position{})
	live.receive(t, 10, "subscription before Close")

	// Reads in progress when the store closes.
	nextAll, stopAll := iter.Pull2(s.ReadAll(ctx, eventstore.Position{}))
	defer stopAll()
	nextStream, stopStream := iter.Pull2(s.ReadStream(ctx, "closing", 0))
	defer stopStream()
	for name, next := range map[string]func() (eventstore.RecordedEvent, error, bool){"ReadAll": nextAll, "ReadStream": nextStream} {
		if _, err, ok := next(); !ok || err != nil {
			t.Fatalf("%s before Close: want a first event, got ok=%v err=%v", name, ok, err)
		}
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: want nil, got %v", err)
	}

	for name, next := range map[string]func() (eventstore.RecordedEvent, error, bool){"ReadAll": nextAll, "ReadStream": nextStream} {
		if _, err, ok := next(); !ok || !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("%s in progress at Close: want the next pair to carry ErrClosed, got ok=%v err=%v", name, ok, err)
		}
		if _, err, ok := next(); ok {
			t.Fatalf("%s in progress at Close: want the iteration to end after ErrClosed, got another pair (err %v)", name, err)
		}
	}
	stopAll()
	stopStream()

	su.waitDone(t, live.done, "live subscription after Close")
	if !errors.Is(live.err, eventstore.ErrClosed) {
		t.Fatalf("live subscription at Close: want ErrClosed as its last pair, got %v", live.err)
	}
	if n := len(live.got); n != 0 {
		t.Fatalf("live subscription at Close: want no event after the first 10, got %d", n)
	}

	// Everything fails with ErrClosed afterwards.
	if _, err := s.Append(ctx, "closing", eventstore.Any(), events("Late", 1)); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Append after Close: want ErrClosed, got %v", err)
	}
	if _, err := s.Head(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Head after Close: want ErrClosed, got %v", err)
	}
	su.drain(t, "ReadAll after Close", s.ReadAll(ctx, eventstore.Position{}), nil).endsWith(t, "ReadAll after Close", 0, eventstore.ErrClosed)
	su.drain(t, "ReadStream after Close", s.ReadStream(ctx, "closing", 0), nil).endsWith(t, "ReadStream after Close", 0, eventstore.ErrClosed)
	su.drain(t, "SubscribeAll after Close", s.SubscribeAll(ctx, eventstore.Position{}), nil).endsWith(t, "SubscribeAll after Close", 0, eventstore.ErrClosed)

	if err := s.Close(); err != nil && !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("second Close: want nil or ErrClosed, got %v", err)
	}
	su.settleGoroutines(t, before, "after Close")
}

func (su suite) testEarlyBreak(t *testing.T) {
	before := runtime.NumGoroutine()
	s := su.newStore(t)
	mustAppend(t, s, "early", eventstore.NoStream(), events("Early", 20))
	ctx := t.Context()

	first := func(what string, seq iter.Seq2[eventstore.RecordedEvent, error]) {
		t.Helper()
		for _, err := range seq {
			if err != nil {
				t.Fatalf("%s: want an event, got error %v", what, err)
			}
			break
		}
	}
	round := func() {
		t.Helper()
		first("ReadAll", s.ReadAll(ctx, eventstore.Position{}))
		first("ReadStream", s.ReadStream(ctx, "early", 0))
		first("SubscribeAll catching up", s.SubscribeAll(ctx, eventstore.Position{}))
		// A subscription waiting for a live event when it comes.
		after := head(t, s)
		done := make(chan struct{})
		var liveErr error
		go func() {
			defer close(done)
			for _, err := range s.SubscribeAll(ctx, after) {
				liveErr = err
				break
			}
		}()
		mustAppend(t, s, "early-live", eventstore.Any(), events("Live", 1))
		su.waitDone(t, done, "live subscription broken out of at its first event")
		if liveErr != nil {
			t.Fatalf("live subscription: want an event, got error %v", liveErr)
		}
	}

	round() // lets the store start whatever it starts lazily
	baseline := runtime.NumGoroutine()
	const rounds = 100
	for range rounds {
		round()
	}
	// Nothing an abandoned iterator held (a lock, a connection) blocks the store.
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		_, err = s.Append(ctx, "early", eventstore.Exact(19), events("AfterBreaks", 1))
		if err == nil {
			for _, e := range s.ReadAll(ctx, eventstore.Position{}) {
				if e != nil {
					err = e
				}
			}
		}
	}()
	su.waitDone(t, done, "Append and ReadAll after the early breaks")
	if err != nil {
		t.Fatalf("Append and ReadAll after the early breaks: want success, got %v", err)
	}
	// A few goroutines of slack for pools that come and go; a leak would add one per round.
	su.settleGoroutines(t, baseline+5, "after "+strconv.Itoa(rounds)+" rounds of breaking out of iterators")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	su.settleGoroutines(t, before, "after Close")
}
