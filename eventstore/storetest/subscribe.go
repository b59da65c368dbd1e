package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
)

// subscribeLimit bounds how long the load test waits for its subscribers to reach the last event once
// the writers are done: a guard against a subscription that stalls, generous enough for a slow store
// under the race detector.
const subscribeLimit = 10 * time.Minute

// subscriber collects what one SubscribeAll yields until ctx ends.
type subscriber struct {
	wait time.Duration
	got  chan eventstore.RecordedEvent
	err  error // the error pair, if any; read after done
	done chan struct{}
}

func (su suite) subscribe(ctx context.Context, s eventstore.Store, after eventstore.Position) *subscriber {
	sb := &subscriber{wait: su.opts.wait, got: make(chan eventstore.RecordedEvent, 1024), done: make(chan struct{})}
	go func() {
		defer close(sb.done)
		for ev, err := range s.SubscribeAll(ctx, after) {
			if err != nil {
				sb.err = err
				return
			}
			select {
			case sb.got <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return sb
}

// receive waits for n events from sb.
func (sb *subscriber) receive(t testing.TB, n int, what string) []eventstore.RecordedEvent {
	t.Helper()
	out := make([]eventstore.RecordedEvent, 0, n)
	for len(out) < n {
		select {
		case ev := <-sb.got:
			out = append(out, ev)
		case <-sb.done:
			t.Fatalf("%s: want %d events, the subscription ended after %d (error %v)", what, n, len(out), sb.err)
		case <-time.After(sb.wait):
			t.Fatalf("%s: want %d events, got %d within %v", what, n, len(out), sb.wait)
		}
	}
	return out
}

func (su suite) testSubscribeLive(t *testing.T) {
	s := su.newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	early := su.subscribe(ctx, s, eventstore.Position{}) // on the empty store
	old := events("Old", 3)
	mustAppend(t, s, "live", eventstore.NoStream(), old)
	h := head(t, s)
	fromHead := su.subscribe(ctx, s, h)
	fromZero := su.subscribe(ctx, s, eventstore.Position{})
	newer := events("New", 2)
	newest := events("Newer", 3)
	mustAppend(t, s, "live", eventstore.Exact(2), newer)
	mustAppend(t, s, "live-too", eventstore.NoStream(), newest)

	live := append(dataIDs(newer), dataIDs(newest)...)
	everything := append(dataIDs(old), live...)
	checks := []struct {
		name string
		sb   *subscriber
		want []uuid.UUID
	}{
		{"subscribed to the empty store from the start", early, everything},
		{"subscribed from Head", fromHead, live},
		{"subscribed from the start after the first append", fromZero, everything},
	}
	for _, c := range checks {
		got := c.sb.receive(t, len(c.want), c.name)
		if err := checkDelivery(idEntries(ids(got)), idEntries(c.want)); err != nil {
			t.Fatalf("%s: want %v, got %v: %v", c.name, c.want, ids(got), err)
		}
		checkIncreasing(t, got)
	}
	cancel()
	for _, c := range checks {
		su.waitDone(t, c.sb.done, c.name+": subscription after ctx was cancelled")
		if c.sb.err != nil {
			t.Fatalf("%s: want no error when ctx ends, got %v", c.name, c.sb.err)
		}
		if n := len(c.sb.got); n != 0 {
			t.Fatalf("%s: want each event exactly once, got %d more events", c.name, n)
		}
	}
}

// entry is what the load test keeps of an event.
type entry struct {
	ID       uuid.UUID
	Position eventstore.Position
}

// idEntries makes entries that only carry IDs.
func idEntries(ids []uuid.UUID) []entry {
	out := make([]entry, len(ids))
	for i, id := range ids {
		out[i].ID = id
	}
	return out
}

// checkDelivery compares what a subscription delivered with want, the events of $all after its start.
func checkDelivery(got, want []entry) error {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			if i > 0 && got[i] == got[i-1] {
				return fmt.Errorf("event %d: want %s at %v, got %s at %v again (delivered twice)", i, want[i].ID, want[i].Position, got[i].ID, got[i].Position)
			}
			return fmt.Errorf("event %d: want %s at %v, got %s at %v (missing, duplicated or out of order)", i, want[i].ID, want[i].Position, got[i].ID, got[i].Position)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("want %d events, got %d", len(want), len(got))
	}
	return nil
}

func (su suite) testSubscribeUnderLoad(t *testing.T) {
	total := su.opts.SubscriptionEvents
	s := su.newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	// Half the events are there before the subscriptions start.
	prefill := max(total/2, 2)
	known := make(map[uuid.UUID]int, total+1) // ID -> times seen in $all
	for i := 0; i < prefill; {
		n := min(1+i%7, prefill-i)
		evs := events("Prefilled", n)
		mustAppend(t, s, fmt.Sprintf("pre-%d", (i/7)%64), eventstore.Any(), evs)
		for _, e := range evs {
			known[e.ID] = 0
		}
		i += n
	}
	pre := readAll(t, s, eventstore.Position{})
	if len(pre) != prefill {
		t.Fatalf("after the prefill: want %d events in $all, got %d", prefill, len(pre))
	}
	mid := pre[prefill/2-1].Position
	pre = nil

	// Four writers append the other half to many streams (exact revisions, batches of 1 to 5)
	// while four subscribers (three from the middle, one from the start) catch up and go live.
	const writers, streamsPerWriter = 4, 16
	quota := (total - prefill + writers - 1) / writers
	written := make([][]uuid.UUID, writers)
	sentinel := event("Last", `{}`)
	starts := []eventstore.Position{mid, mid, mid, {}}
	skipped := []int{prefill / 2, prefill / 2, prefill / 2, 0} // events at or before each start
	got := make([][]entry, len(starts))
	delivered := make([]atomic.Int64, len(starts)) // len(got[k]), for the main goroutine
	subErr := make([]error, len(starts))
	ended := make([]atomic.Bool, len(starts)) // set after subErr[k] is final

	start := make(chan struct{})
	var subs, ws sync.WaitGroup
	for k, after := range starts {
		subs.Go(func() {
			defer ended[k].Store(true)
			<-start
			for ev, err := range s.SubscribeAll(ctx, after) {
				if err != nil {
					subErr[k] = fmt.Errorf("after %d events: %w", len(got[k]), err)
					return
				}
				got[k] = append(got[k], entry{ev.ID, ev.Position})
				delivered[k].Add(1)
				if ev.ID == sentinel.ID {
					return
				}
			}
			subErr[k] = fmt.Errorf("the subscription ended after %d events without an error, before the last event", len(got[k]))
		})
	}
	for w := range writers {
		ws.Go(func() {
			<-start
			revs := make([]int, streamsPerWriter) // number of events in each stream
			for k, done := 0, 0; done < quota; k++ {
				j := k % streamsPerWriter
				expected := eventstore.NoStream()
				if revs[j] > 0 {
					expected = eventstore.Exact(uint64(revs[j] - 1))
				}
				evs := events("Live", min(1+k%5, quota-done))
				stream := fmt.Sprintf("w%d-s%d", w, j)
				if _, err := s.Append(ctx, stream, expected, evs); err != nil {
					t.Errorf("writer %d: Append(%s, expected %v): want success, got %v", w, stream, expected, err)
					return
				}
				revs[j] += len(evs)
				done += len(evs)
				written[w] = append(written[w], dataIDs(evs)...)
			}
		})
	}
	close(start)
	ws.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Once every subscriber has caught up with all that was written, the last event can only reach
	// them live.
	writtenN := 0
	for _, w := range written {
		writtenN += len(w)
	}
	subsDone := make(chan struct{})
	go func() { subs.Wait(); close(subsDone) }()
	caughtUp := func() bool {
		for k := range starts {
			if delivered[k].Load() < int64(prefill-skipped[k]+writtenN) {
				return false
			}
		}
		return true
	}
	counts := func() []int64 {
		out := make([]int64, len(starts))
		for k := range starts {
			out[k] = delivered[k].Load()
		}
		return out
	}
	deadline := time.After(subscribeLimit)
	for !caughtUp() {
		for k := range starts {
			if ended[k].Load() {
				t.Fatalf("subscriber %d: want it to follow until the last event, it ended early, after %d events: %v", k, delivered[k].Load(), subErr[k])
			}
		}
		select {
		case <-deadline:
			cancel()
			t.Fatalf("subscribers: want each to catch up with the %d events after its start, got %v after %v", prefill-skipped[0]+writtenN, counts(), subscribeLimit)
		case <-time.After(5 * time.Millisecond):
		}
	}
	mustAppend(t, s, "last", eventstore.NoStream(), []eventstore.EventData{sentinel})
	select {
	case <-subsDone:
	case <-deadline:
		cancel()
		<-subsDone
		t.Fatalf("subscribers: want each to receive the last event live, still waiting after %v with %v events", subscribeLimit, counts())
	}

	for _, w := range written {
		for _, id := range w {
			known[id] = 0
		}
	}
	known[sentinel.ID] = 0
	var all []entry
	for ev, err := range s.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			t.Fatalf("ReadAll after the load: error after %d events: %v", len(all), err)
		}
		n, ok := known[ev.ID]
		if !ok {
			t.Fatalf("ReadAll after the load: event %d: unknown ID %s", len(all), ev.ID)
		}
		if n > 0 {
			t.Fatalf("ReadAll after the load: event %d: ID %s twice in $all", len(all), ev.ID)
		}
		known[ev.ID] = 1
		if len(all) > 0 && !all[len(all)-1].Position.Before(ev.Position) {
			t.Fatalf("ReadAll after the load: want strictly increasing positions, got %v then %v", all[len(all)-1].Position, ev.Position)
		}
		all = append(all, entry{ev.ID, ev.Position})
	}
	if len(all) != len(known) {
		t.Fatalf("$all after the load: want every one of the %d appended events, got %d", len(known), len(all))
	}
	if len(all) < total {
		t.Fatalf("load test: want at least %d events, wrote %d", total, len(all))
	}

	for k, after := range starts {
		if subErr[k] != nil {
			t.Fatalf("subscriber %d (after %v): %v", k, after, subErr[k])
		}
		first := 0
		for first < len(all) && !after.Before(all[first].Position) {
			first++
		}
		if err := checkDelivery(got[k], all[first:]); err != nil {
			t.Fatalf("subscriber %d (after %v, %d events in $all after it): %v", k, after, len(all)-first, err)
		}
	}
	t.Logf("%d events in $all; subscribers from %v and from the start each got every event after their start exactly once, in order", len(all), mid)
}
