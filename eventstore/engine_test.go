package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/memstore"
)

// The test aggregate: a counter with a limit. Its events are a small sealed family, like the domain's.

type counter struct {
	Value  int
	Resets int
}

type counterEvent interface{ counterEvent() }

type incremented struct {
	By int `json:"by"`
}

type wasReset struct{}

// unreadable encodes, but the codec cannot decode it back: the engine must refuse to append it.
type unreadable struct{}

// unencodable fails to encode.
type unencodable struct{}

func (incremented) counterEvent() {}
func (wasReset) counterEvent()    {}
func (unreadable) counterEvent()  {}
func (unencodable) counterEvent() {}

func evolveCounter(s counter, e counterEvent) counter {
	switch ev := e.(type) {
	case incremented:
		s.Value += ev.By
	case wasReset:
		s.Value = 0
		s.Resets++
	}
	return s
}

type counterCodec struct{}

func (counterCodec) Encode(e counterEvent) (string, []byte, int, error) {
	switch ev := e.(type) {
	case incremented:
		data, err := json.Marshal(ev)
		return "counter.incremented", data, 2, err
	case wasReset:
		return "counter.reset", []byte(`{}`), 1, nil
	case unreadable:
		return "counter.unreadable", []byte(`{}`), 1, nil
	}
	return "", nil, 0, fmt.Errorf("encode %T: not a counter event", e)
}

func (counterCodec) Decode(typ string, version int, data []byte) (counterEvent, error) {
	switch typ {
	case "counter.incremented":
		var ev incremented
		if version == 1 { // version 1 wrote {"n": 3}
			var v1 struct{ N int }
			err := json.Unmarshal(data, &v1)
			return incremented{By: v1.N}, err
		}
		err := json.Unmarshal(data, &ev)
		return ev, err
	case "counter.reset":
		return wasReset{}, nil
	}
	return nil, fmt.Errorf("decode %s: unknown event type", typ)
}

// limitError is the test domain's refusal.
type limitError struct{ Limit, Value, By int }

func (e *limitError) Error() string {
	return fmt.Sprintf("counter at %d cannot grow by %d beyond %d", e.Value, e.By, e.Limit)
}

// increment decides an increment of by, refused beyond limit.
func increment(by, limit int) func(counter, bool) ([]counterEvent, error) {
	return func(s counter, _ bool) ([]counterEvent, error) {
		if s.Value+by > limit {
			return nil, &limitError{Limit: limit, Value: s.Value, By: by}
		}
		return []counterEvent{incremented{By: by}}, nil
	}
}

// steps decides n increments of one, as n events.
func steps(n int) func(counter, bool) ([]counterEvent, error) {
	return func(counter, bool) ([]counterEvent, error) {
		evs := make([]counterEvent, n)
		for i := range evs {
			evs[i] = incremented{By: 1}
		}
		return evs, nil
	}
}

// resetIfNonZero emits nothing for a counter at zero.
func resetIfNonZero(s counter, _ bool) ([]counterEvent, error) {
	if s.Value == 0 {
		return nil, nil
	}
	return []counterEvent{wasReset{}}, nil
}

func emit(evs ...counterEvent) func(counter, bool) ([]counterEvent, error) {
	return func(counter, bool) ([]counterEvent, error) { return evs, nil }
}

type counterEngine = eventstore.Engine[counter, counterEvent]

func newEngine(t testing.TB, store eventstore.Store, opts eventstore.EngineOptions) *counterEngine {
	t.Helper()
	e, err := eventstore.NewEngine(store, eventstore.Codec[counterEvent](counterCodec{}), counter{}, evolveCounter, opts)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return e
}

func newStore(t testing.TB) *memstore.Store {
	s := memstore.New(memstore.Options{})
	t.Cleanup(func() { s.Close() })
	return s
}

// id returns a fixed command ID per n, so failures are reproducible.
func id(n int) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "command-%d", n))
}

func command(n int, name string) eventstore.Command {
	return eventstore.Command{ID: id(n), Name: name, Actor: "user-1", Role: "member", City: "berlin", Hash: "input-" + name}
}

func readAll(t testing.TB, s eventstore.Store) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for ev, err := range s.ReadAll(context.Background(), eventstore.Position{}) {
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		out = append(out, ev)
	}
	return out
}

func metadataOf(t testing.TB, ev eventstore.RecordedEvent) eventstore.Metadata {
	t.Helper()
	var md eventstore.Metadata
	if err := json.Unmarshal(ev.Metadata, &md); err != nil {
		t.Fatalf("metadata of %s@%d: %v", ev.Stream, ev.Revision, err)
	}
	return md
}

func mustExecute(t testing.TB, e *counterEngine, stream string, cmd eventstore.Command, decide func(counter, bool) ([]counterEvent, error)) eventstore.Result {
	t.Helper()
	res, err := e.Execute(context.Background(), stream, cmd, decide)
	if err != nil {
		t.Fatalf("Execute %s on %s: %v", cmd.Name, stream, err)
	}
	return res
}

// countingStore wraps a real store and counts stream reads; beforeAppend, when set, runs before
// every append (to write behind the engine's back).
type countingStore struct {
	eventstore.Store
	streamReads  atomic.Int64
	eventsRead   atomic.Int64
	appends      atomic.Int64
	beforeAppend func()
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, from uint64) iter.Seq2[eventstore.RecordedEvent, error] {
	c.streamReads.Add(1)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for ev, err := range c.Store.ReadStream(ctx, stream, from) {
			if err == nil {
				c.eventsRead.Add(1)
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

func (c *countingStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	c.appends.Add(1)
	if c.beforeAppend != nil {
		c.beforeAppend()
	}
	return c.Store.Append(ctx, stream, expected, events)
}

func TestExecute(t *testing.T) {
	type step struct {
		decide func(counter, bool) ([]counterEvent, error)
		want   eventstore.Result
	}
	tests := []struct {
		name      string
		steps     []step
		wantState counter
		wantRev   uint64
		exists    bool
	}{
		{
			name:      "new stream",
			steps:     []step{{increment(3, 10), eventstore.Result{Revision: 0, Position: pos(1), Appended: 1}}},
			wantState: counter{Value: 3}, wantRev: 0, exists: true,
		},
		{
			name: "several events in one command",
			steps: []step{
				{increment(3, 10), eventstore.Result{Revision: 0, Position: pos(1), Appended: 1}},
				{steps(3), eventstore.Result{Revision: 3, Position: pos(4), Appended: 3}},
			},
			wantState: counter{Value: 6}, wantRev: 3, exists: true,
		},
		{
			name:      "no events on a new stream",
			steps:     []step{{resetIfNonZero, eventstore.Result{}}},
			wantState: counter{}, wantRev: 0, exists: false,
		},
		{
			name: "no events on an existing stream returns its current revision",
			steps: []step{
				{steps(2), eventstore.Result{Revision: 1, Position: pos(2), Appended: 2}},
				{emit(wasReset{}), eventstore.Result{Revision: 2, Position: pos(3), Appended: 1}},
				{resetIfNonZero, eventstore.Result{Revision: 2, Position: pos(3)}},
			},
			wantState: counter{Resets: 1}, wantRev: 2, exists: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore(t)
			e := newEngine(t, store, eventstore.EngineOptions{})
			for i, st := range tt.steps {
				got := mustExecute(t, e, "counter-1", command(i, "step"), st.decide)
				if diff := cmp.Diff(st.want, got); diff != "" {
					t.Fatalf("step %d result (-want +got):\n%s", i, diff)
				}
			}
			for _, fresh := range []*counterEngine{e, newEngine(t, store, eventstore.EngineOptions{})} {
				state, rev, exists, err := fresh.Load(context.Background(), "counter-1")
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if state != tt.wantState || rev != tt.wantRev || exists != tt.exists {
					t.Fatalf("Load = %+v, %d, %v; want %+v, %d, %v", state, rev, exists, tt.wantState, tt.wantRev, tt.exists)
				}
			}
		})
	}
}

func pos(n uint64) eventstore.Position { return eventstore.Position{Commit: n, Prepare: n} }

func TestExecuteRefusals(t *testing.T) {
	tests := []struct {
		name   string
		cmd    eventstore.Command
		decide func(counter, bool) ([]counterEvent, error)
		check  func(t *testing.T, err error)
	}{
		{
			name:   "decide error passes through",
			cmd:    command(1, "increment"),
			decide: increment(20, 10),
			check: func(t *testing.T, err error) {
				var le *limitError
				if !errors.As(err, &le) || le.Value != 5 || le.By != 20 {
					t.Fatalf("error %v: want a *limitError at value 5 by 20", err)
				}
				if !strings.Contains(err.Error(), "counter-1") || !strings.Contains(err.Error(), "increment") {
					t.Fatalf("error %q does not name the stream and command", err)
				}
			},
		},
		{
			name:   "encode error",
			cmd:    command(2, "bad"),
			decide: emit(incremented{By: 1}, unencodable{}),
			check:  wantErrorContaining("encode event 1"),
		},
		{
			name:   "event that does not decode back is not appended",
			cmd:    command(3, "bad"),
			decide: emit(unreadable{}),
			check:  wantErrorContaining("does not decode back"),
		},
		{
			name:   "command without an ID",
			cmd:    eventstore.Command{Name: "anonymous"},
			decide: increment(1, 10),
			check:  wantErrorContaining("without an ID"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore(t)
			e := newEngine(t, store, eventstore.EngineOptions{})
			mustExecute(t, e, "counter-1", command(0, "increment"), increment(5, 10))
			_, err := e.Execute(context.Background(), "counter-1", tt.cmd, tt.decide)
			if err == nil {
				t.Fatal("Execute succeeded, want an error")
			}
			tt.check(t, err)
			if n := len(readAll(t, store)); n != 1 {
				t.Fatalf("store holds %d events, want only the first command's 1", n)
			}
			state, rev, _, err := e.Load(context.Background(), "counter-1")
			if err != nil || state.Value != 5 || rev != 0 {
				t.Fatalf("Load after refusal = %+v at %d, %v; want value 5 at 0", state, rev, err)
			}
		})
	}
}

func wantErrorContaining(s string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not contain %q", err, s)
		}
	}
}

func TestExecuteUnreadableStream(t *testing.T) {
	tests := []struct {
		name     string
		typ      string
		metadata string
		want     string
	}{
		{"metadata not JSON", "counter.reset", `not json`, "decode metadata"},
		{"unknown event type", "counter.exploded", `{"schemaVersion":1,"prevHash":"","hash":""}`, "decode counter.exploded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore(t)
			_, err := store.Append(context.Background(), "counter-1", eventstore.NoStream(), []eventstore.EventData{
				{ID: uuid.New(), Type: tt.typ, Data: []byte(`{}`), Metadata: []byte(tt.metadata)},
			})
			if err != nil {
				t.Fatal(err)
			}
			e := newEngine(t, store, eventstore.EngineOptions{})
			_, err = e.Execute(context.Background(), "counter-1", command(1, "increment"), increment(1, 10))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "counter-1") {
				t.Fatalf("Execute error %v, want one naming the stream and %q", err, tt.want)
			}
		})
	}
}

func TestIdempotentReplay(t *testing.T) {
	tests := []struct {
		name string
		// retrier returns the engine that retries, given the store and the engine that ran first.
		retrier func(t *testing.T, store eventstore.Store, first *counterEngine) *counterEngine
	}{
		{"same engine, warm cache", func(t *testing.T, _ eventstore.Store, first *counterEngine) *counterEngine {
			return first
		}},
		{"same engine after its cache dropped the stream", func(t *testing.T, _ eventstore.Store, first *counterEngine) *counterEngine {
			// The first engine has a cache of one stream: touching another evicts counter-1.
			mustExecute(t, first, "counter-other", command(100, "increment"), increment(1, 10))
			return first
		}},
		{"engine without cache", func(t *testing.T, store eventstore.Store, _ *counterEngine) *counterEngine {
			return newEngine(t, store, eventstore.EngineOptions{CacheSize: -1})
		}},
		{"second engine on the same store", func(t *testing.T, store eventstore.Store, _ *counterEngine) *counterEngine {
			return newEngine(t, store, eventstore.EngineOptions{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore(t)
			first := newEngine(t, store, eventstore.EngineOptions{CacheSize: 1})
			mustExecute(t, first, "counter-1", command(1, "increment"), increment(1, 100))
			cmd := command(2, "steps")
			cmd.IfRevision = new(uint64(0))
			want := mustExecute(t, first, "counter-1", cmd, steps(3))
			mustExecute(t, first, "counter-1", command(3, "increment"), increment(1, 100)) // the stream moves on
			e := tt.retrier(t, store, first)
			before := len(readAll(t, store))
			var decided atomic.Int64
			got, err := e.Execute(context.Background(), "counter-1", cmd, func(s counter, ok bool) ([]counterEvent, error) {
				decided.Add(1)
				return steps(3)(s, ok)
			})
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			want.Replayed = true
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("retry result (-want +got):\n%s", diff)
			}
			if decided.Load() != 0 {
				t.Fatalf("the retry was decided %d times, want 0", decided.Load())
			}
			if after := len(readAll(t, store)); after != before {
				t.Fatalf("the retry appended: %d events before, %d after", before, after)
			}

			other := cmd
			other.Hash = "another input"
			_, err = e.Execute(context.Background(), "counter-1", other, steps(3))
			if !errors.Is(err, eventstore.ErrIdempotencyMismatch) {
				t.Fatalf("same ID, other hash: error %v, want ErrIdempotencyMismatch", err)
			}
			if after := len(readAll(t, store)); after != before {
				t.Fatalf("the mismatched retry appended: %d events before, %d after", before, after)
			}
		})
	}
}

// TestRacingRetry runs one command twice, each time by an engine whose cache predates the other's
// append, so the second execution decides on the same state as the first.
func TestRacingRetry(t *testing.T) {
	tests := []struct {
		name         string
		secondDecide func(counter, bool) ([]counterEvent, error)
		wantReplayed bool
	}{
		// The same decision: the same event IDs, the store's idempotent re-append keeps one copy.
		{"same decision", increment(1, 100), false},
		// Another decision (say, another clock reading): other IDs, the append fails on the revision,
		// the engine reloads and replays the first result.
		{"other decision", increment(2, 100), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore(t)
			a := newEngine(t, store, eventstore.EngineOptions{})
			b := newEngine(t, store, eventstore.EngineOptions{})
			mustExecute(t, a, "counter-1", command(1, "increment"), increment(1, 100))
			if _, _, _, err := b.Load(context.Background(), "counter-1"); err != nil { // warm b's cache
				t.Fatal(err)
			}
			cmd := command(2, "increment")
			first := mustExecute(t, a, "counter-1", cmd, increment(1, 100))
			second := mustExecute(t, b, "counter-1", cmd, tt.secondDecide)
			first.Replayed = tt.wantReplayed
			if diff := cmp.Diff(first, second); diff != "" {
				t.Fatalf("second execution (-want +got):\n%s", diff)
			}
			// b's cache holds what the store holds: its next event chains onto the stored one.
			mustExecute(t, b, "counter-1", command(3, "increment"), increment(1, 100))
			events := readAll(t, store)
			if len(events) != 3 {
				t.Fatalf("store holds %d events, want 3", len(events))
			}
			verifyAll(t, events)
			state, _, _, err := b.Load(context.Background(), "counter-1")
			if err != nil || state.Value != 3 {
				t.Fatalf("b.Load = %+v, %v; want value 3", state, err)
			}
		})
	}
}

func verifyAll(t testing.TB, events []eventstore.RecordedEvent) eventstore.VerifySummary {
	t.Helper()
	v := eventstore.NewVerifier()
	for _, ev := range events {
		if err := v.Check(ev); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	return v.Summary()
}

func TestIfRevision(t *testing.T) {
	tests := []struct {
		name string
		// behind appends (through another engine) after the engine under test cached revision 1.
		behind     int
		ifRevision uint64
		wantErr    *eventstore.StaleRevisionError // nil: success
		wantRev    uint64
	}{
		{name: "current revision", ifRevision: 1, wantRev: 2},
		{name: "older revision", ifRevision: 0, wantErr: &eventstore.StaleRevisionError{Stream: "counter-1", Expected: 0, Actual: 1, Exists: true}},
		{name: "future revision", ifRevision: 5, wantErr: &eventstore.StaleRevisionError{Stream: "counter-1", Expected: 5, Actual: 1, Exists: true}},
		{name: "stale cache, current revision", behind: 1, ifRevision: 2, wantRev: 3},
		{name: "stale cache, cached revision", behind: 1, ifRevision: 1, wantErr: &eventstore.StaleRevisionError{Stream: "counter-1", Expected: 1, Actual: 2, Exists: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore(t)
			e := newEngine(t, store, eventstore.EngineOptions{})
			mustExecute(t, e, "counter-1", command(1, "increment"), steps(2))
			other := newEngine(t, store, eventstore.EngineOptions{})
			for i := range tt.behind {
				mustExecute(t, other, "counter-1", command(10+i, "increment"), increment(1, 100))
			}
			cmd := command(2, "increment")
			cmd.IfRevision = &tt.ifRevision
			res, err := e.Execute(context.Background(), "counter-1", cmd, increment(1, 100))
			if tt.wantErr == nil {
				if err != nil || res.Revision != tt.wantRev {
					t.Fatalf("Execute = %+v, %v; want revision %d", res, err, tt.wantRev)
				}
				return
			}
			var stale *eventstore.StaleRevisionError
			if !errors.As(err, &stale) || !errors.Is(err, eventstore.ErrStaleRevision) {
				t.Fatalf("Execute error %v, want a *StaleRevisionError", err)
			}
			if diff := cmp.Diff(tt.wantErr, stale); diff != "" {
				t.Fatalf("stale revision error (-want +got):\n%s", diff)
			}
			if errors.Is(err, eventstore.ErrConflict) {
				t.Fatalf("a stale If-Match must not read as a conflict: %v", err)
			}
		})
	}

	t.Run("stream does not exist", func(t *testing.T) {
		e := newEngine(t, newStore(t), eventstore.EngineOptions{})
		cmd := command(1, "increment")
		cmd.IfRevision = new(uint64(0))
		_, err := e.Execute(context.Background(), "counter-1", cmd, increment(1, 100))
		var stale *eventstore.StaleRevisionError
		if !errors.As(err, &stale) || stale.Exists {
			t.Fatalf("Execute error %v, want a *StaleRevisionError for a missing stream", err)
		}
	})
}

// TestConcurrentCommands starts 32 commands on one stream, each through an engine of its own (as
// processes would: one engine runs the commands on a stream one at a time), that all decide on the
// same revision before any appends (a barrier in decide), so 31 must conflict.
func TestConcurrentCommands(t *testing.T) {
	const n = 32
	tests := []struct {
		name       string
		maxRetries int
		wantOK     int // exactly; -1: all
	}{
		{"enough retries: all succeed", n, n},
		{"no retries: one wins, the rest conflict", -1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore(t)
			regs := make([]*prometheus.Registry, n)
			engines := make([]*counterEngine, n)
			for i := range n {
				regs[i] = prometheus.NewRegistry()
				engines[i] = newEngine(t, store, eventstore.EngineOptions{Name: "counter", MaxRetries: tt.maxRetries, Registerer: regs[i]})
			}
			e := engines[0]
			mustExecute(t, e, "counter-1", command(0, "increment"), increment(1, 1<<30))

			var barrier sync.WaitGroup
			barrier.Add(n)
			var wg sync.WaitGroup
			results := make([]error, n)
			for i := range n {
				wg.Go(func() {
					first := true
					_, results[i] = engines[i].Execute(context.Background(), "counter-1", command(1+i, "increment"),
						func(s counter, ok bool) ([]counterEvent, error) {
							if first {
								first = false
								barrier.Done()
								barrier.Wait()
							}
							return increment(i+1, 1<<30)(s, ok)
						})
				})
			}
			wg.Wait()

			ok, want := 0, 1 // the initial value
			for i, err := range results {
				switch {
				case err == nil:
					ok++
					want += i + 1
				case errors.Is(err, eventstore.ErrConflict):
				default:
					t.Fatalf("command %d: %v", i, err)
				}
			}
			if ok != tt.wantOK {
				t.Fatalf("%d commands succeeded, want %d", ok, tt.wantOK)
			}
			// A fresh engine reads the stream from the store (the others' caches hold their own appends).
			state, rev, _, err := newEngine(t, store, eventstore.EngineOptions{}).Load(context.Background(), "counter-1")
			if err != nil || state.Value != want || rev != uint64(ok) {
				t.Fatalf("Load = %+v at %d, %v; want value %d at %d", state, rev, err, want, ok)
			}
			verifyAll(t, readAll(t, store))
			var retries, conflicts float64
			for _, reg := range regs {
				retries += metricSum(t, reg, "csc_engine_retries_total", nil)
				conflicts += metricSum(t, reg, "csc_engine_commands_total", map[string]string{"outcome": "conflict"})
			}
			if tt.maxRetries > 0 && retries < n-1 {
				t.Fatalf("%v retries counted, want at least %d (every loser of the first round)", retries, n-1)
			}
			if conflicts != float64(n-ok) {
				t.Fatalf("%v conflicts counted, want %d", conflicts, n-ok)
			}
		})
	}
}

func TestCache(t *testing.T) {
	t.Run("hot stream is not read again", func(t *testing.T) {
		for _, tt := range []struct {
			name            string
			cacheSize       int
			wantReads       int64
			wantEventsReads int64
		}{
			{"cache on", 0, 1, 0},              // one read finds the new stream empty
			{"cache off", -1, 50, 49 * 50 / 2}, // every command reads the whole stream
		} {
			t.Run(tt.name, func(t *testing.T) {
				store := &countingStore{Store: newStore(t)}
				e := newEngine(t, store, eventstore.EngineOptions{CacheSize: tt.cacheSize})
				for i := range 50 {
					mustExecute(t, e, "counter-1", command(i, "increment"), increment(1, 100))
				}
				if r, ev := store.streamReads.Load(), store.eventsRead.Load(); r != tt.wantReads || ev != tt.wantEventsReads {
					t.Fatalf("%d stream reads of %d events, want %d of %d", r, ev, tt.wantReads, tt.wantEventsReads)
				}
			})
		}
	})

	t.Run("least recently used stream is evicted", func(t *testing.T) {
		store := &countingStore{Store: newStore(t)}
		e := newEngine(t, store, eventstore.EngineOptions{CacheSize: 2})
		for i, s := range []string{"counter-a", "counter-b", "counter-a", "counter-c"} {
			mustExecute(t, e, s, command(i, "increment"), increment(1, 100)) // evicts counter-b
		}
		reads := store.streamReads.Load()
		mustExecute(t, e, "counter-a", command(10, "increment"), increment(1, 100))
		mustExecute(t, e, "counter-c", command(11, "increment"), increment(1, 100))
		if got := store.streamReads.Load(); got != reads {
			t.Fatalf("recently used streams were read again: %d reads, want %d", got, reads)
		}
		mustExecute(t, e, "counter-b", command(12, "increment"), increment(1, 100))
		if got := store.streamReads.Load(); got != reads+1 {
			t.Fatalf("the evicted stream: %d reads, want %d", got, reads+1)
		}
	})

	t.Run("dropped on conflict", func(t *testing.T) {
		store := &countingStore{Store: newStore(t)}
		first := newEngine(t, store, eventstore.EngineOptions{})
		second := newEngine(t, store, eventstore.EngineOptions{})
		mustExecute(t, first, "counter-1", command(1, "increment"), increment(5, 10))
		mustExecute(t, second, "counter-1", command(2, "increment"), increment(4, 10)) // behind first's back

		var seen []int
		reads := store.streamReads.Load()
		_, err := first.Execute(context.Background(), "counter-1", command(3, "increment"), func(s counter, ok bool) ([]counterEvent, error) {
			seen = append(seen, s.Value)
			return increment(3, 10)(s, ok)
		})
		var le *limitError
		if !errors.As(err, &le) || le.Value != 9 {
			t.Fatalf("Execute error %v, want a *limitError decided on the fresh value 9", err)
		}
		if diff := cmp.Diff([]int{5, 9}, seen); diff != "" {
			t.Fatalf("states decided on (-want +got):\n%s", diff)
		}
		if got := store.streamReads.Load(); got != reads+1 {
			t.Fatalf("%d stream reads after the conflict, want 1", got-reads)
		}
		// The reload refreshed the cache: the next command decides on 9 without reading.
		res := mustExecute(t, first, "counter-1", command(4, "increment"), increment(1, 10))
		if res.Revision != 2 || store.streamReads.Load() != reads+1 {
			t.Fatalf("next command at revision %d after %d more reads; want revision 2 and no read", res.Revision, store.streamReads.Load()-reads-1)
		}
	})
}

func TestMetadataAndChain(t *testing.T) {
	store := newStore(t)
	e := newEngine(t, store, eventstore.EngineOptions{})
	cmds := []struct {
		stream string
		cmd    eventstore.Command
		decide func(counter, bool) ([]counterEvent, error)
	}{
		{"counter-a", command(1, "increment"), increment(1, 100)},
		{"counter-b", eventstore.Command{ID: id(2), Name: "steps", Actor: "coordinator-7", Role: "coordinator", CorrelationID: "corr-1", CausationID: "cause-1", Hash: "h2"}, steps(2)},
		{"counter-a", command(3, "reset"), emit(wasReset{}, incremented{By: 4})},
	}
	for _, c := range cmds {
		mustExecute(t, e, c.stream, c.cmd, c.decide)
	}
	events := readAll(t, store)
	if len(events) != 5 {
		t.Fatalf("%d events, want 5", len(events))
	}
	// Which command wrote each event, and the schema version the codec gave it.
	writer := []struct {
		cmd     int
		index   int
		version int
	}{{0, 0, 2}, {1, 0, 2}, {1, 1, 2}, {2, 0, 1}, {2, 1, 2}}
	prev := map[string]string{}
	for i, ev := range events {
		c := cmds[writer[i].cmd].cmd
		md := metadataOf(t, ev)
		wantCorr, wantCause := c.CorrelationID, c.CausationID
		if wantCorr == "" {
			wantCorr = c.ID.String()
		}
		if wantCause == "" {
			wantCause = c.ID.String()
		}
		want := eventstore.Metadata{
			Actor: c.Actor, Role: c.Role, City: c.City, CommandID: c.ID.String(),
			CorrelationID: wantCorr, CausationID: wantCause, CommandHash: c.Hash,
			SchemaVersion: writer[i].version, PrevHash: prev[ev.Stream], Hash: md.Hash,
		}
		if diff := cmp.Diff(want, md); diff != "" {
			t.Fatalf("event %d metadata (-want +got):\n%s", i, diff)
		}
		hash, err := eventstore.HashEvent(ev.Stream, ev.Revision, ev.Type, ev.Data, md)
		if err != nil || hash != md.Hash || len(hash) != 64 {
			t.Fatalf("event %d: recorded hash %q, recomputed %q (%v)", i, md.Hash, hash, err)
		}
		if wantID := eventstore.EventID(c.ID, writer[i].index, md.Hash); ev.ID != wantID {
			t.Fatalf("event %d ID %s, want %s", i, ev.ID, wantID)
		}
		prev[ev.Stream] = md.Hash
	}
	sum := verifyAll(t, events)
	if sum.Streams != 2 || sum.Events != 5 || sum.Errors != 0 {
		t.Fatalf("Summary = %+v, want 2 streams, 5 events, no errors", sum)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	store := newStore(t)
	e := newEngine(t, store, eventstore.EngineOptions{Name: "counter", Registerer: reg})
	ctx := context.Background()
	mustExecute(t, e, "counter-1", command(1, "increment"), steps(2))                              // ok, 2 events
	mustExecute(t, e, "counter-1", command(1, "increment"), steps(2))                              // replayed
	_, _ = e.Execute(ctx, "counter-1", command(2, "increment"), increment(100, 10))                // rejected
	_, _ = e.Execute(ctx, "counter-1", eventstore.Command{ID: id(1), Name: "increment"}, steps(2)) // rejected: mismatch
	stale := command(3, "increment")
	stale.IfRevision = new(uint64(0))
	_, _ = e.Execute(ctx, "counter-1", stale, increment(1, 10))                  // stale
	_, _ = e.Execute(ctx, "counter-1", command(4, "reset"), emit(unencodable{})) // error
	mustExecute(t, e, "counter-1", command(5, "reset"), emit(wasReset{}))        // ok, 1 event

	tests := []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"csc_engine_commands_total", map[string]string{"aggregate": "counter", "command": "increment", "outcome": "ok"}, 1},
		{"csc_engine_commands_total", map[string]string{"command": "increment", "outcome": "replayed"}, 1},
		{"csc_engine_commands_total", map[string]string{"command": "increment", "outcome": "rejected"}, 2},
		{"csc_engine_commands_total", map[string]string{"command": "increment", "outcome": "stale"}, 1},
		{"csc_engine_commands_total", map[string]string{"command": "reset", "outcome": "error"}, 1},
		{"csc_engine_commands_total", map[string]string{"command": "reset", "outcome": "ok"}, 1},
		{"csc_engine_events_appended_total", map[string]string{"type": "counter.incremented"}, 2},
		{"csc_engine_events_appended_total", map[string]string{"type": "counter.reset"}, 1},
		{"csc_engine_command_duration_seconds", map[string]string{"command": "increment"}, 5}, // sample count
		{"csc_engine_retries_total", nil, 0},
	}
	for _, tt := range tests {
		if got := metricSum(t, reg, tt.metric, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
		}
	}

	if _, err := eventstore.NewEngine(store, eventstore.Codec[counterEvent](counterCodec{}), counter{}, evolveCounter,
		eventstore.EngineOptions{Name: "counter", Registerer: reg}); err == nil {
		t.Error("a second engine with the same name registered on the same registry")
	}
	if _, err := eventstore.NewEngine(store, eventstore.Codec[counterEvent](counterCodec{}), counter{}, evolveCounter,
		eventstore.EngineOptions{Name: "other", Registerer: reg}); err != nil {
		t.Errorf("an engine with another name: %v", err)
	}
	if _, err := eventstore.NewEngine(store, eventstore.Codec[counterEvent](counterCodec{}), counter{}, evolveCounter,
		eventstore.EngineOptions{Registerer: prometheus.NewRegistry()}); err == nil {
		t.Error("an engine with metrics but no name was accepted")
	}
}

// metricSum adds up the samples (counter values, histogram sample counts) of metric whose labels
// include labels. A metric that was never touched (not gathered) sums to 0.
func metricSum(t testing.TB, reg *prometheus.Registry, metric string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func TestLoadCancelled(t *testing.T) {
	store := newStore(t)
	e := newEngine(t, store, eventstore.EngineOptions{CacheSize: -1})
	mustExecute(t, e, "counter-1", command(1, "increment"), increment(1, 10))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, _, err := e.Load(ctx, "counter-1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := e.Execute(ctx, "counter-1", command(2, "increment"), increment(1, 10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Execute with a cancelled context: %v, want context.Canceled", err)
	}
}

// BenchmarkEngine measures commands per second on the in-memory store: one hot stream (every command
// on the same stream, which grows) and many streams (round robin over 1,000), sequential and with
// concurrent callers (which conflict on the hot stream and retry).
func BenchmarkEngine(b *testing.B) {
	for _, bc := range []struct {
		name     string
		streams  int
		parallel bool
	}{
		{"hot-stream", 1, false},
		{"many-streams", 1000, false},
		{"hot-stream-parallel", 1, true},
		{"many-streams-parallel", 1000, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			store := newStore(b)
			e := newEngine(b, store, eventstore.EngineOptions{MaxRetries: 1000})
			names := make([]string, bc.streams)
			for i := range names {
				names[i] = fmt.Sprintf("counter-%d", i)
			}
			var seq atomic.Int64
			run := func() error {
				n := seq.Add(1)
				cmd := eventstore.Command{ID: uuid.New(), Name: "increment", Actor: "user-1", Role: "member", City: "berlin", Hash: "h"}
				_, err := e.Execute(context.Background(), names[int(n)%len(names)], cmd, increment(1, 1<<62))
				return err
			}
			b.ReportAllocs()
			if bc.parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := run(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if err := run(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
		})
	}
}

// TestEngineRecorded: Command.Recorded is stamped, in UTC, into the metadata of every event of the
// command and becomes the events' effective time; it changes neither the chain hash nor the event IDs
// (the same command without it, on another store, writes the same IDs and hashes), is not compared
// on a replay, and a zero time is refused.
func TestEngineRecorded(t *testing.T) {
	committed := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return committed }
	past := time.Date(2025, 11, 3, 9, 30, 0, 0, time.FixedZone("UTC+2", 2*3600)) // 07:30 UTC
	tests := []struct {
		name     string
		recorded *time.Time
		want     time.Time // the events' effective time
	}{
		{"without Recorded: the store's time", nil, committed},
		{"with Recorded: that time, in UTC", &past, time.Date(2025, 11, 3, 7, 30, 0, 0, time.UTC)},
	}
	// The reference: the same command without Recorded, on another store.
	refStore := memstore.New(memstore.Options{Now: clock})
	t.Cleanup(func() { refStore.Close() })
	mustExecute(t, newEngine(t, refStore, eventstore.EngineOptions{}), "counter-1", command(1, "steps"), steps(2))
	ref := readAll(t, refStore)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := memstore.New(memstore.Options{Now: clock})
			t.Cleanup(func() { store.Close() })
			e := newEngine(t, store, eventstore.EngineOptions{})
			cmd := command(1, "steps")
			cmd.Recorded = tt.recorded
			mustExecute(t, e, "counter-1", cmd, steps(2))
			events := readAll(t, store)
			if len(events) != 2 {
				t.Fatalf("%d events, want 2", len(events))
			}
			for i, ev := range events {
				md := metadataOf(t, ev)
				if got := eventstore.EffectiveTime(ev, md); !got.Equal(tt.want) || got.Location() != time.UTC {
					t.Errorf("event %d: effective time %v, want %v in UTC", i, got, tt.want)
				}
				if tt.recorded == nil && md.Recorded != nil {
					t.Errorf("event %d: metadata recorded %v without Command.Recorded", i, md.Recorded)
				}
				if tt.recorded != nil && (md.Recorded == nil || md.Recorded.Location() != time.UTC) {
					t.Errorf("event %d: metadata recorded %v, want %v in UTC", i, md.Recorded, tt.want)
				}
				refMD := metadataOf(t, ref[i])
				if ev.ID != ref[i].ID || md.Hash != refMD.Hash || md.PrevHash != refMD.PrevHash {
					t.Errorf("event %d: ID %s hash %s, without Recorded %s %s", i, ev.ID, md.Hash, ref[i].ID, refMD.Hash)
				}
			}
			if sum := verifyAll(t, events); sum.Errors != 0 || sum.Events != 2 {
				t.Errorf("Summary = %+v, want 2 events, no errors", sum)
			}

			// A replay with another recorded time is the recorded result: nothing is decided again.
			other := cmd
			later := committed.Add(-time.Hour)
			other.Recorded = &later
			res, err := e.Execute(context.Background(), "counter-1", other, steps(2))
			if err != nil || !res.Replayed || res.Revision != 1 {
				t.Fatalf("replay with another Recorded: %+v, %v; want the recorded result", res, err)
			}
			if n := len(readAll(t, store)); n != 2 {
				t.Fatalf("the replay appended: %d events", n)
			}

			var zero time.Time
			refused := command(2, "steps")
			refused.Recorded = &zero
			if _, err := e.Execute(context.Background(), "counter-1", refused, steps(1)); err == nil || !strings.Contains(err.Error(), "zero recorded time") {
				t.Fatalf("a zero Recorded: error %v, want a refusal", err)
			}
			if n := len(readAll(t, store)); n != 2 {
				t.Fatalf("the refused command appended: %d events", n)
			}
		})
	}
}

// slowStore holds every append back a little, so that commands racing on one stream have all loaded
// it before the first of them appends.
type slowStore struct {
	eventstore.Store
}

func (s slowStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	time.Sleep(time.Millisecond)
	return s.Store.Append(ctx, stream, expected, events)
}

// TestConcurrentCommandsOnOneStream runs 32 commands at once on one stream through one engine that
// never retries: they take turns, so none of them conflicts and every increment counts.
func TestConcurrentCommandsOnOneStream(t *testing.T) {
	store := newStore(t)
	e := newEngine(t, slowStore{store}, eventstore.EngineOptions{MaxRetries: -1})
	const n = 32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.Execute(context.Background(), "counter-1", command(100+i, "increment"), increment(1, 1000))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%d commands on one stream: want every one to succeed, got %v", n, err)
	}
	state, rev, _, err := e.Load(context.Background(), "counter-1")
	if err != nil || state.Value != n || rev != n-1 {
		t.Fatalf("after %d increments: Load = %+v at revision %d, %v; want value %d at revision %d", n, state, rev, err, n, n-1)
	}
	verifyAll(t, readAll(t, store))
}

// gatedStore blocks appends until its gate is closed, telling entered about each one.
type gatedStore struct {
	eventstore.Store
	entered chan struct{}
	gate    chan struct{}
}

func (s gatedStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	s.entered <- struct{}{}
	select {
	case <-s.gate:
	case <-ctx.Done():
		return eventstore.AppendResult{}, ctx.Err()
	}
	return s.Store.Append(ctx, stream, expected, events)
}

// TestCommandWaitingForStreamEndsWithContext: a command waiting for the one before it on its stream
// gives up when its context ends, and the stream goes on afterwards.
func TestCommandWaitingForStreamEndsWithContext(t *testing.T) {
	store := gatedStore{Store: newStore(t), entered: make(chan struct{}, 4), gate: make(chan struct{})}
	e := newEngine(t, store, eventstore.EngineOptions{})
	first := make(chan error, 1)
	go func() {
		_, err := e.Execute(context.Background(), "counter-1", command(1, "increment"), increment(1, 100))
		first <- err
	}()
	<-store.entered // the first command holds the stream, blocked in its append
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := e.Execute(ctx, "counter-1", command(2, "increment"), increment(1, 100))
		second <- err
	}()
	// The second command must wait for the stream, not reach the store. (A short wait: on a slow
	// machine it may not catch a command that does not wait, but it never fails one that does.)
	select {
	case <-store.entered:
		t.Fatal("the second command reached the store while the first held the stream")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting command with its context canceled: want context.Canceled, got %v", err)
	}
	close(store.gate)
	if err := <-first; err != nil {
		t.Fatalf("first command: %v", err)
	}
	mustExecute(t, e, "counter-1", command(3, "increment"), increment(1, 100))
	if n := len(readAll(t, store)); n != 2 {
		t.Fatalf("store holds %d events, want 2", n)
	}
}
