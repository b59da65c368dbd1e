// Package eventstore is the CSC event store port: what every store adapter offers (append with an
// expected revision, read a stream, read and subscribe to $all), the command engine that runs deciders
// against it (load, fold, decide, append, retry on conflict, idempotency by command ID, hash chain), and
// the shared vocabulary (positions, revisions, metadata, errors).
//
// The package is generic over event types: it never imports the domain. Adapters live in sub-packages
// (eventstore/sqlite, eventstore/esdb) and all pass the contract suite in eventstore/storetest.
package eventstore

import (
	"context"
	"iter"
	"time"

	"github.com/google/uuid"
)

// Store is the port every adapter implements. All methods are safe for concurrent use.
//
// Reads are streaming: the iterators fetch in bounded batches and never hold a whole stream or the whole
// log in memory. An iterator stops early when the consumer breaks out of the loop, when ctx ends (the
// last pair then carries ctx's error), or on the first error (yielded as the last pair).
type Store interface {
	// Append writes events to the end of stream, atomically, if the stream's current revision
	// matches expected. It returns ErrWrongRevision (as a *WrongRevisionError) when it does not.
	//
	// Appending events whose IDs were already appended to the same stream, at the same revision and in
	// the same order, is idempotent: nothing is written and the first append's result is returned
	// (even if the stream has moved on since; with Any, wherever the events are). A consecutive run of
	// an earlier append's events, placed where the expected revision puts it (its first events, say),
	// is taken the same way, as EventStoreDB takes it: the result is the revision and position of the
	// run's last event. Any other reuse of an event ID (another stream, another revision or order, mixed
	// with new events) is an error that writes nothing: an event ID names one event in the whole store.
	//
	// An empty events slice, an empty stream name, the nil UUID as an event ID and one ID twice in one
	// append are refused with an error. The events of one append are adjacent in $all.
	// An acknowledged append is durable.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events []EventData) (AppendResult, error)

	// ReadStream yields the events of stream in revision order, starting at revision from (inclusive).
	// A stream that does not exist yields nothing.
	ReadStream(ctx context.Context, stream string, from uint64) iter.Seq2[RecordedEvent, error]

	// ReadAll yields the events of $all in position order, strictly after position after
	// (exclusive; the zero Position reads from the very start). It ends at the end of the log as it was
	// when the read reached it.
	ReadAll(ctx context.Context, after Position) iter.Seq2[RecordedEvent, error]

	// SubscribeAll yields every event of $all strictly after position after, first catching up with the
	// events already recorded, then following new ones as they are committed, in position order, each
	// exactly once. It ends only when ctx ends (no error is yielded then), when the store is closed
	// (ErrClosed is yielded), or on an error.
	SubscribeAll(ctx context.Context, after Position) iter.Seq2[RecordedEvent, error]

	// Head returns the position of the last event in $all, or the zero Position for an empty log.
	Head(ctx context.Context) (Position, error)

	// Close releases the store. Reads and subscriptions in progress end with ErrClosed.
	Close() error
}

// EventData is an event to append.
type EventData struct {
	// ID identifies the event across the whole store. Callers set it deterministically (the engine
	// derives it from the command ID), so that a retried append is recognised and not doubled.
	ID       uuid.UUID
	Type     string
	Data     []byte // JSON
	Metadata []byte // JSON, usually an encoded Metadata
}

// StreamAppend is one append of a batch, for adapters that can queue several appends at once (see
// sqlite.Store.AppendBatch): the arguments of one Append call.
type StreamAppend struct {
	Stream   string
	Expected ExpectedRevision
	Events   []EventData
}

// RecordedEvent is an event as the store recorded it.
type RecordedEvent struct {
	ID       uuid.UUID
	Stream   string
	Revision uint64   // 0 for the first event of a stream
	Position Position // place in $all
	Type     string
	Data     []byte
	Metadata []byte
	Recorded time.Time // when the store committed it (UTC)
}

// AppendResult says where an append landed.
type AppendResult struct {
	// Revision is the stream revision of the last event written (the stream's new current revision).
	Revision uint64
	// Position is the $all position of the last event written.
	Position Position
}
