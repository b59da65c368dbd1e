package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
)

// readConns bounds the pool of read-only connections.
const readConns = 4

// eventColumns are the columns every read selects, in the order decodeRow expects.
const eventColumns = "position, stream, revision, event_id, type, data, metadata, recorded"

// reader is the pool of read-only connections and its prepared statements.
type reader struct {
	db                *sql.DB
	all, stream, head *sql.Stmt
}

// readerSetup are the PRAGMAs of every read connection. The connections are opened with mode=ro;
// query_only is a second guard.
func readerSetup(busy time.Duration) []string {
	return []string{
		fmt.Sprintf("PRAGMA busy_timeout = %d", busy.Milliseconds()),
		"PRAGMA query_only = 1",
		"PRAGMA cache_size = -16384",
	}
}

// openReader opens the read pool. For a read-only store it also checks the schema, which the writer
// checks (and migrates) otherwise.
func openReader(ctx context.Context, s *Store) (*reader, error) {
	db := s.openDB(true, readerSetup(s.busy))
	db.SetMaxOpenConns(readConns)
	db.SetMaxIdleConns(readConns)
	r := &reader{db: db}
	fail := func(err error) (*reader, error) {
		r.close()
		return nil, s.fail("open event store", err)
	}
	if s.readOnly {
		conn, err := db.Conn(ctx)
		if err != nil {
			return fail(err)
		}
		version, err := checkHeader(ctx, conn)
		conn.Close()
		switch {
		case err != nil:
			return fail(err)
		case version > schemaVersion():
			return fail(fmt.Errorf("%w: file is at version %d, this program knows up to %d: use a newer csc", ErrSchemaTooNew, version, schemaVersion()))
		case version < schemaVersion():
			return fail(fmt.Errorf("%w: file is at version %d, this program needs %d: open it read-write once to migrate it", ErrSchemaTooOld, version, schemaVersion()))
		}
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&r.all, "SELECT " + eventColumns + " FROM events WHERE position > ? ORDER BY position LIMIT ?"},
		{&r.stream, "SELECT " + eventColumns + " FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?"},
		{&r.head, "SELECT max(position) FROM events"},
	} {
		var err error
		if *p.stmt, err = db.PrepareContext(ctx, p.sql); err != nil {
			return fail(fmt.Errorf("prepare %q: %w", p.sql, err))
		}
	}
	return r, nil
}

func (r *reader) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{r.all, r.stream, r.head} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	errs = append(errs, r.db.Close())
	return errors.Join(errs...)
}

// Head returns the position of the last event, or the zero Position for an empty log.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if s.isClosed() {
		return eventstore.Position{}, fmt.Errorf("head in %s: %w", s.path, eventstore.ErrClosed)
	}
	var head sql.NullInt64
	if err := s.reads.head.QueryRowContext(ctx).Scan(&head); err != nil {
		return eventstore.Position{}, s.readFailed(ctx, "head", err)
	}
	return eventstore.Position{Commit: uint64(head.Int64), Prepare: uint64(head.Int64)}, nil
}

// ReadStream yields the events of stream from revision from on, fetching readBatch rows per query.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if from > math.MaxInt64 {
			return
		}
		next := int64(from)
		for {
			op := fmt.Sprintf("read stream %s from revision %d", stream, next)
			batch, err := s.fetch(ctx, op, s.reads.stream, stream, next, readBatch)
			if !s.yieldBatch(ctx, op, batch, err, true, yield) || len(batch) < readBatch {
				return
			}
			next = int64(batch[len(batch)-1].Revision) + 1
		}
	}
}

// ReadAll yields the events of $all after position after, fetching readBatch rows per query.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		next := keyAfter(after)
		for {
			op := fmt.Sprintf("read all after position %d", next)
			batch, err := s.fetch(ctx, op, s.reads.all, next, readBatch)
			if !s.yieldBatch(ctx, op, batch, err, true, yield) || len(batch) < readBatch {
				return
			}
			next = int64(batch[len(batch)-1].Position.Commit)
		}
	}
}

// SubscribeAll yields the events of $all after position after: it catches up in batches, then waits
// for the writer's commit notification and reads what the commit added. The notification channel is
// taken before each query, so a commit that lands after the query wakes the wait: nothing is missed,
// and the keyset (position > last yielded) yields nothing twice.
//
// A read-only store has no writer: its subscriptions catch up, then wait until ctx ends or the store
// is closed (commits by another process are not signalled).
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		next := keyAfter(after)
		for {
			committed := s.commitSignal()
			op := fmt.Sprintf("subscribe to all after position %d", next)
			batch, err := s.fetch(ctx, op, s.reads.all, next, readBatch)
			if ctx.Err() != nil {
				return
			}
			if !s.yieldBatch(ctx, op, batch, err, false, yield) {
				return
			}
			if len(batch) > 0 {
				next = int64(batch[len(batch)-1].Position.Commit)
			}
			if len(batch) == readBatch {
				continue
			}
			select {
			case <-committed:
			case <-ctx.Done():
				return
			case <-s.closing:
				yield(eventstore.RecordedEvent{}, fmt.Errorf("subscribe to all in %s: %w", s.path, eventstore.ErrClosed))
				return
			}
		}
	}
}

// keyAfter is the position key after which reading resumes: the events strictly after p. Positions
// of this store have Commit == Prepare; a foreign position whose Prepare is below its Commit is
// before the event at Commit.
func keyAfter(p eventstore.Position) int64 {
	k := p.Commit
	if k > 0 && p.Prepare < p.Commit {
		k--
	}
	return int64(min(k, math.MaxInt64))
}

// yieldBatch yields the events of a batch and then err, if any. It reports whether to go on. A
// context that ends between events ends the read, with the context's error when ctxErr is set; a
// Close between events ends it with ErrClosed.
func (s *Store) yieldBatch(ctx context.Context, op string, batch []eventstore.RecordedEvent, err error, ctxErr bool, yield func(eventstore.RecordedEvent, error) bool) bool {
	for _, e := range batch {
		if cerr := ctx.Err(); cerr != nil {
			if ctxErr {
				yield(eventstore.RecordedEvent{}, fmt.Errorf("%s: %w", op, cerr))
			}
			return false
		}
		if s.isClosed() {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("%s in %s: %w", op, s.path, eventstore.ErrClosed))
			return false
		}
		if !yield(e, nil) {
			return false
		}
	}
	if err != nil {
		yield(eventstore.RecordedEvent{}, err)
		return false
	}
	return true
}

// fetch runs a read query and decodes its rows. The rows are read to the end and closed before any
// event is yielded, so a consumer holds no connection (and no read snapshot) while it works. When a
// row does not decode, fetch returns the rows before it with the error.
func (s *Store) fetch(ctx context.Context, op string, stmt *sql.Stmt, args ...any) ([]eventstore.RecordedEvent, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("%s in %s: %w", op, s.path, eventstore.ErrClosed)
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, s.readFailed(ctx, op, err)
	}
	defer rows.Close()
	var (
		out  []eventstore.RecordedEvent
		vals [8]any
		dest = [8]any{&vals[0], &vals[1], &vals[2], &vals[3], &vals[4], &vals[5], &vals[6], &vals[7]}
	)
	for rows.Next() {
		if err := rows.Scan(dest[:]...); err != nil {
			return out, s.readFailed(ctx, op, fmt.Errorf("%w after %s: %w", ErrBadRow, lastPlace(out), err))
		}
		e, err := decodeRow(vals)
		if err != nil {
			return out, s.readFailed(ctx, op, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return out, s.readFailed(ctx, op, fmt.Errorf("after %s: %w", lastPlace(out), err))
	}
	return out, nil
}

// readFailed wraps a read error: the context's error when ctx has ended, ErrClosed when the store
// was closed under the read.
func (s *Store) readFailed(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", op, cerr)
	}
	if s.isClosed() {
		return fmt.Errorf("%s in %s: %w", op, s.path, eventstore.ErrClosed)
	}
	return s.fail(op, err)
}

func lastPlace(read []eventstore.RecordedEvent) string {
	if len(read) == 0 {
		return "the start of the query"
	}
	e := read[len(read)-1]
	return fmt.Sprintf("position %d (stream %s revision %d)", e.Position.Commit, e.Stream, e.Revision)
}

// decodeRow turns the columns of an events row (eventColumns) into a RecordedEvent, checking each.
func decodeRow(v [8]any) (eventstore.RecordedEvent, error) {
	pos, ok := v[0].(int64)
	if !ok || pos <= 0 {
		return eventstore.RecordedEvent{}, fmt.Errorf("%w: position %v is not a positive integer", ErrBadRow, v[0])
	}
	bad := func(format string, args ...any) (eventstore.RecordedEvent, error) {
		return eventstore.RecordedEvent{}, fmt.Errorf("%w at position %d: %s", ErrBadRow, pos, fmt.Sprintf(format, args...))
	}
	stream, ok := text(v[1])
	if !ok || stream == "" {
		return bad("stream %v is not a name", v[1])
	}
	rev, ok := v[2].(int64)
	if !ok || rev < 0 {
		return bad("stream %s: revision %v is not a non-negative integer", stream, v[2])
	}
	bad = func(format string, args ...any) (eventstore.RecordedEvent, error) {
		return eventstore.RecordedEvent{}, fmt.Errorf("%w at position %d (stream %s revision %d): %s", ErrBadRow, pos, stream, rev, fmt.Sprintf(format, args...))
	}
	idText, _ := text(v[3])
	id, err := uuid.Parse(idText)
	if err != nil {
		return bad("event_id %v: %v", v[3], err)
	}
	typ, ok := text(v[4])
	if !ok || typ == "" {
		return bad("type %v is not a name", v[4])
	}
	data, ok := payload(v[5])
	if !ok {
		return bad("data is a %T, not JSON text", v[5])
	}
	meta, ok := payload(v[6])
	if !ok {
		return bad("metadata is a %T, not JSON text", v[6])
	}
	recText, _ := text(v[7])
	recorded, err := time.Parse(time.RFC3339Nano, recText)
	if err != nil {
		return bad("recorded %v is not an RFC 3339 time: %v", v[7], err)
	}
	return eventstore.RecordedEvent{
		ID:       id,
		Stream:   stream,
		Revision: uint64(rev),
		Position: eventstore.Position{Commit: uint64(pos), Prepare: uint64(pos)},
		Type:     typ,
		Data:     data,
		Metadata: meta,
		Recorded: recorded.UTC(),
	}, nil
}

// text accepts a TEXT value as a driver returns it (string or bytes).
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

// payload accepts a JSON column: TEXT (or BLOB) bytes, or NULL for an empty payload.
func payload(v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case string:
		return []byte(x), true
	case []byte:
		return x, true
	}
	return nil, false
}
