// Package storetest is the contract suite every eventstore.Store adapter passes. An adapter's test calls
//
//	storetest.Run(t, func(t *testing.T) eventstore.Store { ... a fresh, empty store ... })
//
// and gets subtests for expected revisions, atomic and idempotent appends, concurrent writers, $all
// ordering and positions, byte-exact round trips, catch-up-to-live subscriptions under concurrent load,
// cancellation, Close, goroutine leaks and bounded memory when reading a large log.
//
// The suite only uses the eventstore.Store port. Beyond what the port's comments say, it pins these
// rules down for every adapter:
//   - Append with no events is refused with an error and writes nothing; so are an empty stream name,
//     the nil event ID and an ID that appears twice in one append.
//   - An event ID identifies one event in the whole store: appending it again is idempotent only when
//     the same IDs sit, in the same order, in the same stream, at the revision the expectation allows
//     (for Any: wherever they are); it then returns the first append's result. Any other reuse is an
//     error and writes nothing.
//   - A *WrongRevisionError has Actual 0 when the stream does not exist (Exists false).
//   - Once ctx is cancelled (or the store closed), the very next pair of ReadAll/ReadStream carries the
//     error and the iteration ends; SubscribeAll yields nothing more and no error on ctx end, and
//     ErrClosed as its last pair on Close. On a closed store every operation fails with ErrClosed, and a
//     second Close does not panic (it returns nil or ErrClosed).
//   - Data and Metadata come back byte for byte, and the store keeps its own copy: changing the slices
//     given to Append, or those a read yielded, changes nothing recorded. Recorded is non-zero, in UTC.
//   - The events of one append are adjacent in $all.
//
// Subtests run one after another, never in parallel: the leak checks count goroutines.
//
// Sizes: the subscription test writes Options.SubscriptionEvents events (default 100,000; 10,000 under
// -short) and the memory test reads a log of Options.LogEvents events (default 1,000,000; skipped under
// -short). With the environment variable CI=true both run at least at their full size, -short or not.
package storetest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
)

// Full sizes, forced in CI.
const (
	fullSubscriptionEvents = 100_000
	fullLogEvents          = 1_000_000
)

// defaultWait bounds every wait for a condition (a goroutine to end, the goroutine count to settle). It is
// a guard against hangs, not a performance assertion: the conditions normally hold within milliseconds.
const defaultWait = 60 * time.Second

// Options scale the heavy tests. The zero value runs the full suite.
type Options struct {
	// SubscriptionEvents is the number of events written in the concurrent subscription test.
	// 0 means 100,000, or 10,000 under -short. With CI=true it is raised to at least 100,000.
	SubscriptionEvents int
	// LogEvents is the size of the log read in the memory test. 0 means 1,000,000. The test is skipped
	// under -short unless CI=true; with CI=true it is raised to at least 1,000,000. The default bound
	// only tells a streaming store from one that loads the log when the log is that large.
	LogEvents int
	// MaxHeapGrowth bounds the live heap growth while reading that log. 0 means 64 MiB.
	MaxHeapGrowth uint64
	// EventIDsPerStream declares a store that checks event IDs within one stream only, as the
	// EventStoreDB server does (for idempotent appends), rather than in the whole store as the port
	// asks. The IDReuse cases, which reuse an ID in another stream or out of place, are then skipped;
	// the engine never reuses an event ID (they derive from command IDs), so this only matters for
	// callers that append by hand.
	EventIDsPerStream bool

	// wait replaces defaultWait in this package's own tests of the suite.
	wait time.Duration
}

// Run runs the whole contract against stores made by newStore, with default sizes. newStore is called
// once per subtest, must return a fresh empty store, and registers its own cleanup (closing the store
// again after a subtest closed it must be harmless).
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store) {
	RunWith(t, newStore, Options{})
}

// RunWith is Run with explicit sizes.
func RunWith(t *testing.T, newStore func(t *testing.T) eventstore.Store, opts Options) {
	su := suite{newStore: newStore, opts: opts.resolve()}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"ExpectedRevision", su.testExpectedRevision},
		{"AppendNoEvents", su.testAppendNoEvents},
		{"AppendInvalid", su.testAppendInvalid},
		{"ConcurrentExact", su.testConcurrentExact},
		{"ConcurrentNoStream", su.testConcurrentNoStream},
		{"ConcurrentAnyIsAtomic", su.testConcurrentAny},
		{"Idempotent", su.testIdempotent},
		{"IdempotentRun", su.testIdempotentRun},
		{"IDReuse", su.testIDReuse},
		{"AllOrderAndPositions", su.testAllOrder},
		{"LongReads", su.testLongReads},
		{"RoundTrip", su.testRoundTrip},
		{"StoreOwnsItsBytes", su.testOwnsBytes},
		{"SubscribeLiveFromHead", su.testSubscribeLive},
		{"SubscribeUnderLoad", su.testSubscribeUnderLoad},
		{"Cancel", su.testCancel},
		{"Close", su.testClose},
		{"EarlyBreak", su.testEarlyBreak},
		{"ReadAllMemoryBounded", su.testMemory},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// suite is one run of the contract.
type suite struct {
	newStore func(t *testing.T) eventstore.Store
	opts     Options
}

func (o Options) resolve() Options {
	if o.SubscriptionEvents <= 0 {
		o.SubscriptionEvents = fullSubscriptionEvents
		if testing.Short() {
			o.SubscriptionEvents = fullSubscriptionEvents / 10
		}
	}
	if o.LogEvents <= 0 {
		o.LogEvents = fullLogEvents
	}
	if o.MaxHeapGrowth == 0 {
		o.MaxHeapGrowth = 64 << 20
	}
	if o.wait <= 0 {
		o.wait = defaultWait
	}
	if inCI() {
		o.SubscriptionEvents = max(o.SubscriptionEvents, fullSubscriptionEvents)
		o.LogEvents = max(o.LogEvents, fullLogEvents)
	}
	return o
}

func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// event returns an event with a fresh ID, the given type and JSON data, and small JSON metadata.
func event(typ, data string) eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.New(),
		Type:     typ,
		Data:     []byte(data),
		Metadata: []byte(`{"schemaVersion":1,"prevHash":"","hash":""}`),
	}
}

// events returns n events of type typ whose data numbers them.
func events(typ string, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = event(typ, fmt.Sprintf(`{"n":%d}`, i))
	}
	return out
}

func mustAppend(t testing.TB, s eventstore.Store, stream string, expected eventstore.ExpectedRevision, evs []eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), stream, expected, evs)
	if err != nil {
		t.Fatalf("Append(%s, expected %v, %d events): want success, got error %v", stream, expected, len(evs), err)
	}
	return res
}

func readStream(t testing.TB, s eventstore.Store, stream string, from uint64) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for ev, err := range s.ReadStream(context.Background(), stream, from) {
		if err != nil {
			t.Fatalf("ReadStream(%s, %d): error after %d events: %v", stream, from, len(out), err)
		}
		out = append(out, ev)
	}
	return out
}

func readAll(t testing.TB, s eventstore.Store, after eventstore.Position) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for ev, err := range s.ReadAll(context.Background(), after) {
		if err != nil {
			t.Fatalf("ReadAll(after %v): error after %d events: %v", after, len(out), err)
		}
		out = append(out, ev)
	}
	return out
}

func head(t testing.TB, s eventstore.Store) eventstore.Position {
	t.Helper()
	p, err := s.Head(context.Background())
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return p
}

func ids(evs []eventstore.RecordedEvent) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func dataIDs(evs []eventstore.EventData) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// waitFor polls cond until it holds or the wait limit passes, and reports whether it held.
func (su suite) waitFor(cond func() bool) bool {
	deadline := time.Now().Add(su.opts.wait)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitDone waits for done to be closed, up to the wait limit, and fails the test naming what did not end.
func (su suite) waitDone(t testing.TB, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(su.opts.wait):
		t.Fatalf("%s: want it to end, still running after %v", what, su.opts.wait)
	}
}

// settleGoroutines waits until at most limit goroutines run, and fails the test if they do not.
func (su suite) settleGoroutines(t testing.TB, limit int, what string) {
	t.Helper()
	if !su.waitFor(func() bool { return runtime.NumGoroutine() <= limit }) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%s: want at most %d goroutines, still %d after %v:\n%s", what, limit, runtime.NumGoroutine(), su.opts.wait, buf)
	}
}
