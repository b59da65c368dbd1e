package storetest

import (
	"context"
	"errors"
	"iter"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/memstore"
)

// These tests check the suite itself: that its checks fail on stores that break the contract. The
// broken stores are memstore with one method deliberately wrong; each is named for its fault.

// greedyReadAll loads the whole log before yielding the first event.
type greedyReadAll struct{ *memstore.Store }

func (s greedyReadAll) ReadAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		var all []eventstore.RecordedEvent
		for ev, err := range s.Store.ReadAll(ctx, after) {
			if err != nil {
				yield(ev, err)
				return
			}
			all = append(all, ev)
		}
		for _, ev := range all {
			if !yield(ev, nil) {
				return
			}
		}
	}
}

func TestMeasureReadAllTellsStreamingFromLoading(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: appends 200,000 events")
	}
	const n = 200_000
	s := memstore.New(memstore.Options{})
	defer s.Close()
	ctx := t.Context()
	if err := fillLog(ctx, s, n, 5000); err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	count, streaming, err := measureReadAll(ctx, s, n/20)
	if err != nil || count != n {
		t.Fatalf("measure memstore: want %d events and no error, got %d and %v", n, count, err)
	}
	count, loading, err := measureReadAll(ctx, greedyReadAll{s}, n/20)
	if err != nil || count != n {
		t.Fatalf("measure greedy store: want %d events and no error, got %d and %v", n, count, err)
	}
	// A loaded RecordedEvent takes well over 100 bytes, so 200,000 of them over 19 MiB: 1,000,000
	// (the suite's size) are far over its 64 MiB bound.
	if streaming >= 4*mib || loading <= 19*mib {
		t.Fatalf("live heap growth: want under 4 MiB for a streaming read and over 19 MiB for a loading one, got %.1f MiB and %.1f MiB",
			float64(streaming)/mib, float64(loading)/mib)
	}
	t.Logf("reading %d events: streaming %.1f MiB, loading %.1f MiB", n, float64(streaming)/mib, float64(loading)/mib)
}

func TestCheckDelivery(t *testing.T) {
	e := func(n int) entry {
		return entry{ID: uuid.UUID{byte(n)}, Position: eventstore.Position{Commit: uint64(n), Prepare: uint64(n)}}
	}
	want := []entry{e(1), e(2), e(3), e(4)}
	cases := []struct {
		name    string
		got     []entry
		wantErr string // "" for no error
	}{
		{"everything once, in order", []entry{e(1), e(2), e(3), e(4)}, ""},
		{"one missing", []entry{e(1), e(3), e(4)}, "event 1: want"},
		{"one twice", []entry{e(1), e(2), e(2), e(3), e(4)}, "delivered twice"},
		{"out of order", []entry{e(1), e(3), e(2), e(4)}, "out of order"},
		{"the last missing", []entry{e(1), e(2), e(3)}, "want 4 events, got 3"},
		{"one too many", []entry{e(1), e(2), e(3), e(4), e(5)}, "want 4 events, got 5"},
		{"nothing", nil, "want 4 events, got 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkDelivery(tc.got, want)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("want no error, got %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("want an error containing %q, got %v", tc.wantErr, err)
			}
		})
	}
}

// laxRevisions ignores the expected revision.
type laxRevisions struct{ *memstore.Store }

func (s laxRevisions) Append(ctx context.Context, stream string, _ eventstore.ExpectedRevision, evs []eventstore.EventData) (eventstore.AppendResult, error) {
	return s.Store.Append(ctx, stream, eventstore.Any(), evs)
}

// emptyIsNoop accepts an empty append.
type emptyIsNoop struct{ *memstore.Store }

func (s emptyIsNoop) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, evs []eventstore.EventData) (eventstore.AppendResult, error) {
	if len(evs) == 0 {
		return eventstore.AppendResult{}, nil
	}
	return s.Store.Append(ctx, stream, expected, evs)
}

// freshIDs replaces the caller's event IDs, as a client that makes random IDs would.
type freshIDs struct{ *memstore.Store }

func (s freshIDs) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, evs []eventstore.EventData) (eventstore.AppendResult, error) {
	evs = slices.Clone(evs)
	for i := range evs {
		evs[i].ID = uuid.New()
	}
	return s.Store.Append(ctx, stream, expected, evs)
}

// inclusiveReadAll reads $all from its after position inclusively.
type inclusiveReadAll struct{ *memstore.Store }

func (s inclusiveReadAll) ReadAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	if !after.IsZero() {
		after = eventstore.Position{Commit: after.Commit - 1, Prepare: after.Prepare - 1}
	}
	return s.Store.ReadAll(ctx, after)
}

// localTimes reports Recorded in a zone other than UTC.
type localTimes struct{ *memstore.Store }

func (s localTimes) ReadStream(ctx context.Context, stream string, from uint64) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for ev, err := range s.Store.ReadStream(ctx, stream, from) {
			ev.Recorded = ev.Recorded.In(time.FixedZone("CET", 3600))
			if !yield(ev, err) {
				return
			}
		}
	}
}

// repeatAtSwitch catches up with ReadAll and then goes live from one event too early, so the last
// event of the catch-up comes twice.
type repeatAtSwitch struct{ *memstore.Store }

func (s repeatAtSwitch) SubscribeAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		last := after
		for ev, err := range s.Store.ReadAll(ctx, after) {
			if err != nil {
				return
			}
			if !yield(ev, nil) {
				return
			}
			last = ev.Position
		}
		if !last.IsZero() {
			last = eventstore.Position{Commit: last.Commit - 1, Prepare: last.Prepare - 1}
		}
		for ev, err := range s.Store.SubscribeAll(ctx, last) {
			if !yield(ev, err) {
				return
			}
		}
	}
}

// ignoresCtx reads $all without looking at ctx.
type ignoresCtx struct{ *memstore.Store }

func (s ignoresCtx) ReadAll(_ context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return s.Store.ReadAll(context.Background(), after)
}

// swallowsClose ends a subscription quietly when the store closes.
type swallowsClose struct{ *memstore.Store }

func (s swallowsClose) SubscribeAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for ev, err := range s.Store.SubscribeAll(ctx, after) {
			if errors.Is(err, eventstore.ErrClosed) {
				return
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

// leakyReads reads $all in a producer goroutine that stays blocked when the consumer stops early.
type leakyReads struct{ *memstore.Store }

func (s leakyReads) ReadAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	type pair struct {
		ev  eventstore.RecordedEvent
		err error
	}
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		ch := make(chan pair)
		go func() {
			defer close(ch)
			for ev, err := range s.Store.ReadAll(ctx, after) {
				ch <- pair{ev, err}
			}
		}()
		for p := range ch {
			if !yield(p.ev, p.err) {
				return
			}
		}
	}
}

// brokenStore wraps s in the store named name ("none": s itself).
func brokenStore(name string, s *memstore.Store) (eventstore.Store, bool) {
	switch name {
	case "none":
		return s, true
	case "laxRevisions":
		return laxRevisions{s}, true
	case "emptyIsNoop":
		return emptyIsNoop{s}, true
	case "freshIDs":
		return freshIDs{s}, true
	case "inclusiveReadAll":
		return inclusiveReadAll{s}, true
	case "localTimes":
		return localTimes{s}, true
	case "repeatAtSwitch":
		return repeatAtSwitch{s}, true
	case "ignoresCtx":
		return ignoresCtx{s}, true
	case "swallowsClose":
		return swallowsClose{s}, true
	case "leakyReads":
		return leakyReads{s}, true
	}
	return nil, false
}

const brokenEnv = "STORETEST_BROKEN_STORE"

// TestBrokenStoreChild runs the suite against the store named by STORETEST_BROKEN_STORE. It only runs
// as a child process of TestSuiteCatchesBrokenStores, which expects it to fail.
func TestBrokenStoreChild(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("runs only as a child process of TestSuiteCatchesBrokenStores")
	}
	if _, ok := brokenStore(name, nil); !ok {
		t.Fatalf("unknown store %q", name)
	}
	RunWith(t, func(t *testing.T) eventstore.Store {
		s := memstore.New(memstore.Options{})
		t.Cleanup(func() { s.Close() })
		wrapped, _ := brokenStore(name, s)
		return wrapped
	}, Options{SubscriptionEvents: 4000, LogEvents: 1000, wait: 2 * time.Second})
}

func TestSuiteCatchesBrokenStores(t *testing.T) {
	cases := []struct {
		store   string
		subtest string
		wantMsg string // "" when the subtest must pass; else alternatives separated by |
	}{
		{"none", "", ""},
		{"laxRevisions", "ExpectedRevision", "want a wrong revision error, got success"},
		{"laxRevisions", "ConcurrentExact", "want exactly 1 winner"},
		{"emptyIsNoop", "AppendNoEvents", "want an error (an empty append is refused)"},
		{"freshIDs", "Idempotent", "retried append"},
		{"freshIDs", "IDReuse", "reusing recorded IDs elsewhere: want an error"},
		{"inclusiveReadAll", "AllOrderAndPositions", "ReadAll(after"},
		{"localTimes", "RoundTrip", "want Recorded in UTC"},
		{"repeatAtSwitch", "SubscribeLiveFromHead", "delivered twice|missing, duplicated or out of order|want each event exactly once"},
		{"repeatAtSwitch", "SubscribeUnderLoad", "delivered twice"},
		{"ignoresCtx", "Cancel", "cancelled after the first event"},
		{"swallowsClose", "Close", "want ErrClosed as its last pair"},
		{"leakyReads", "EarlyBreak", "goroutines"},
	}
	for _, tc := range cases {
		t.Run(tc.store+"/"+tc.subtest, func(t *testing.T) {
			run := "^TestBrokenStoreChild$"
			if tc.subtest != "" {
				run += "/^" + tc.subtest + "$"
			}
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run="+run, "-test.count=1", "-test.short")
			cmd.Env = append(os.Environ(), brokenEnv+"="+tc.store, "CI=false")
			out, err := cmd.CombinedOutput()
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("suite against %s: want it to pass, got %v:\n%s", tc.store, err, out)
				}
				return
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("suite against %s, subtest %s: want the child to fail, got %v:\n%s", tc.store, tc.subtest, err, out)
			}
			matched := slices.ContainsFunc(strings.Split(tc.wantMsg, "|"), func(msg string) bool { return strings.Contains(string(out), msg) })
			if !strings.Contains(string(out), "--- FAIL: TestBrokenStoreChild/"+tc.subtest) || !matched {
				t.Fatalf("suite against %s: want subtest %s to fail with %q, got:\n%s", tc.store, tc.subtest, tc.wantMsg, out)
			}
		})
	}
}
