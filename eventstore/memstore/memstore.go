// Package memstore is an in-memory eventstore.Store for tests and demos. It is NOT durable: everything
// is lost when the process ends, and "an acknowledged append is durable" holds only for the life of the
// Store value. It exists so that the command engine, the projections and the HTTP layer can be tested
// quickly against a real, correct store; it passes the contract suite in eventstore/storetest.
//
// Positions have Commit == Prepare and start at 1 (the n-th event of $all is at position n). Live
// subscribers are woken by a notify channel that every commit closes and replaces; nothing polls.
package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
)

// chunkSize is the number of events per chunk of the log. The log grows by whole chunks, so appending
// never copies recorded events, and readers index the chunks without copying them.
const chunkSize = 4096

// Options configure a Store.
type Options struct {
	// Now is the clock that stamps RecordedEvent.Recorded (converted to UTC). Default time.Now.
	Now func() time.Time
}

// Store is the in-memory store. The zero value is not usable; call New.
type Store struct {
	now func() time.Time

	mu      sync.RWMutex
	chunks  [][]record // chunks of chunkSize records; the first n are the log and never change
	n       int        // number of events in the log
	streams map[string]*stream
	ids     map[uuid.UUID]int // event ID -> index in the log
	notify  chan struct{}     // closed and replaced on every commit
	closed  bool
	done    chan struct{} // closed by Close
}

// stream holds the log indexes of a stream's events, in revision order (append-only, like the log).
type stream struct {
	name    string
	indexes []int
}

// record is an event as kept in the log. Its position is its index + 1.
type record struct {
	id       uuid.UUID
	stream   *stream
	revision uint64
	typ      string
	data     []byte
	metadata []byte
	recorded time.Time
}

// New returns an empty Store.
func New(opts Options) *Store {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:     now,
		streams: make(map[string]*stream),
		ids:     make(map[uuid.UUID]int),
		notify:  make(chan struct{}),
		done:    make(chan struct{}),
	}
}

var _ eventstore.Store = (*Store)(nil)

// Append implements eventstore.Store. An empty events slice is refused with an error, as are an empty
// stream name, the nil event ID and an ID used twice in one append. Re-appending events whose IDs are
// already recorded is idempotent only when they sit, in the same order, in the same stream at the
// revision expected allows (any revision for Any); otherwise it is an error and nothing is written.
func (m *Store) Append(ctx context.Context, streamName string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", streamName, err)
	}
	if err := validate(streamName, events); err != nil {
		return eventstore.AppendResult{}, err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", streamName, eventstore.ErrClosed)
	}
	if first, ok := m.ids[events[0].ID]; ok {
		return m.retried(streamName, expected, events, first)
	}
	for _, e := range events[1:] {
		if index, ok := m.ids[e.ID]; ok {
			r := at(m.chunks, index)
			return eventstore.AppendResult{}, fmt.Errorf("append %s: event %s is already recorded in stream %s at revision %d", streamName, e.ID, r.stream.name, r.revision)
		}
	}

	s := m.streams[streamName]
	var current uint64
	exists := s != nil && len(s.indexes) > 0
	if exists {
		current = uint64(len(s.indexes) - 1)
	}
	if !expected.Matches(current, exists) {
		return eventstore.AppendResult{}, &eventstore.WrongRevisionError{Stream: streamName, Expected: expected, Actual: current, Exists: exists}
	}
	if s == nil {
		s = &stream{name: streamName}
		m.streams[streamName] = s
	}

	// One buffer holds the copies of every payload of this append; each event gets a capped sub-slice.
	size := 0
	for _, e := range events {
		size += len(e.Data) + len(e.Metadata)
	}
	buf := make([]byte, 0, size)
	recorded := m.now().UTC()
	for _, e := range events {
		var data, meta []byte
		buf, data = appendCopy(buf, e.Data)
		buf, meta = appendCopy(buf, e.Metadata)
		rec := record{
			id:       e.ID,
			stream:   s,
			revision: uint64(len(s.indexes)),
			typ:      e.Type,
			data:     data,
			metadata: meta,
			recorded: recorded,
		}
		index := m.n
		if index%chunkSize == 0 {
			m.chunks = append(m.chunks, make([]record, chunkSize))
		}
		// Only the record is written: the chunk headers that readers share never change.
		m.chunks[index/chunkSize][index%chunkSize] = rec
		m.n++
		m.ids[e.ID] = index
		s.indexes = append(s.indexes, index)
	}
	close(m.notify)
	m.notify = make(chan struct{})
	return eventstore.AppendResult{Revision: uint64(len(s.indexes) - 1), Position: position(m.n - 1)}, nil
}

// retried handles an append whose first event ID is already recorded (at log index first): it is a
// retry of that earlier append, or an error.
func (m *Store) retried(streamName string, expected eventstore.ExpectedRevision, events []eventstore.EventData, first int) (eventstore.AppendResult, error) {
	r := at(m.chunks, first)
	if r.stream.name != streamName {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: event %s is already recorded in stream %s", streamName, events[0].ID, r.stream.name)
	}
	start := r.revision
	var placed bool
	if rev, ok := expected.ExactRevision(); ok {
		placed = rev < math.MaxUint64 && start == rev+1
	} else {
		placed = expected.IsAny() || start == 0
	}
	if !placed {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: event %s is already recorded at revision %d, not where %s expects", streamName, events[0].ID, start, expected)
	}
	s := r.stream
	for i, e := range events {
		rev := start + uint64(i)
		if rev >= uint64(len(s.indexes)) || at(m.chunks, s.indexes[rev]).id != e.ID {
			return eventstore.AppendResult{}, fmt.Errorf("append %s: events differ from the recorded append that holds event %s", streamName, events[0].ID)
		}
	}
	lastRev := start + uint64(len(events)) - 1
	return eventstore.AppendResult{Revision: lastRev, Position: position(s.indexes[lastRev])}, nil
}

func validate(streamName string, events []eventstore.EventData) error {
	if streamName == "" {
		return errors.New("append: empty stream name")
	}
	if len(events) == 0 {
		return fmt.Errorf("append %s: no events", streamName)
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, e := range events {
		if e.ID == uuid.Nil {
			return fmt.Errorf("append %s: event %d has the nil ID", streamName, i)
		}
		if _, dup := seen[e.ID]; dup {
			return fmt.Errorf("append %s: event ID %s appears twice", streamName, e.ID)
		}
		seen[e.ID] = struct{}{}
	}
	return nil
}

// appendCopy copies p to the end of buf and returns buf and the copy (nil for an empty p).
func appendCopy(buf, p []byte) ([]byte, []byte) {
	if len(p) == 0 {
		return buf, nil
	}
	start := len(buf)
	buf = append(buf, p...)
	return buf, buf[start:len(buf):len(buf)]
}

// position is the $all position of the event at log index i.
func position(i int) eventstore.Position {
	return eventstore.Position{Commit: uint64(i) + 1, Prepare: uint64(i) + 1}
}

// indexAfter is the log index of the first event strictly after p (the events sit at positions i+1/i+1).
func indexAfter(p eventstore.Position) int {
	if p.Commit > math.MaxInt {
		return math.MaxInt
	}
	if p.Commit > 0 && p.Prepare < p.Commit {
		return int(p.Commit - 1) // the event at Commit/Commit is after p
	}
	return int(p.Commit)
}

func at(chunks [][]record, i int) *record {
	return &chunks[i/chunkSize][i%chunkSize]
}

// event builds the RecordedEvent at log index i of a snapshot of the chunks. The payloads are copies:
// a consumer that modifies them cannot change the store.
func (m *Store) event(chunks [][]record, i int) eventstore.RecordedEvent {
	r := at(chunks, i)
	return eventstore.RecordedEvent{
		ID:       r.id,
		Stream:   r.stream.name,
		Revision: r.revision,
		Position: position(i),
		Type:     r.typ,
		Data:     bytes.Clone(r.data),
		Metadata: bytes.Clone(r.metadata),
		Recorded: r.recorded,
	}
}

// snapshot is a consistent view of the log: records below n are complete and never change, so they can
// be read without the lock.
type snapshot struct {
	chunks [][]record
	n      int
	notify chan struct{}
	closed bool
}

func (m *Store) snapshot() snapshot {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return snapshot{chunks: m.chunks, n: m.n, notify: m.notify, closed: m.closed}
}

// stopped returns the error that ends an iteration now (ctx ended or store closed), or nil.
func (m *Store) stopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-m.done:
		return eventstore.ErrClosed
	default:
		return nil
	}
}

// ReadStream implements eventstore.Store.
func (m *Store) ReadStream(ctx context.Context, streamName string, from uint64) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		m.mu.RLock()
		var indexes []int
		if s := m.streams[streamName]; s != nil {
			indexes = s.indexes
		}
		chunks := m.chunks
		m.mu.RUnlock()
		for rev := from; ; rev++ {
			if err := m.stopped(ctx); err != nil {
				yield(eventstore.RecordedEvent{}, fmt.Errorf("read stream %s: %w", streamName, err))
				return
			}
			if rev >= uint64(len(indexes)) {
				return
			}
			if !yield(m.event(chunks, indexes[rev]), nil) {
				return
			}
		}
	}
}

// ReadAll implements eventstore.Store. It ends at the end of the log as it was when the read started.
func (m *Store) ReadAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		snap := m.snapshot()
		for i := indexAfter(after); ; i++ {
			if err := m.stopped(ctx); err != nil {
				yield(eventstore.RecordedEvent{}, fmt.Errorf("read $all: %w", err))
				return
			}
			if i >= snap.n {
				return
			}
			if !yield(m.event(snap.chunks, i), nil) {
				return
			}
		}
	}
}

// SubscribeAll implements eventstore.Store.
func (m *Store) SubscribeAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		closedErr := fmt.Errorf("subscribe $all: %w", eventstore.ErrClosed)
		next := indexAfter(after)
		for {
			snap := m.snapshot()
			if snap.closed {
				yield(eventstore.RecordedEvent{}, closedErr)
				return
			}
			for ; next < snap.n; next++ {
				if err := m.stopped(ctx); err != nil {
					if errors.Is(err, eventstore.ErrClosed) {
						yield(eventstore.RecordedEvent{}, closedErr)
					}
					return
				}
				if !yield(m.event(snap.chunks, next), nil) {
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-m.done:
				yield(eventstore.RecordedEvent{}, closedErr)
				return
			case <-snap.notify:
			}
		}
	}
}

// Head implements eventstore.Store.
func (m *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, fmt.Errorf("head: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return eventstore.Position{}, fmt.Errorf("head: %w", eventstore.ErrClosed)
	}
	if m.n == 0 {
		return eventstore.Position{}, nil
	}
	return position(m.n - 1), nil
}

// Close implements eventstore.Store. Reads and subscriptions in progress end with ErrClosed; closing
// twice is harmless.
func (m *Store) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.done)
	}
	return nil
}
