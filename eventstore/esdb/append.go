package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
)

// Append implements eventstore.Store. An empty events slice, an empty stream name, the nil event ID
// and an ID used twice in one append are refused before anything is sent.
//
// The server acknowledges an append with the position of its commit, which is the $all position of
// the append's first event; for an append of several events the adapter reads the last one back (one
// more call) to return its position, as the port promises.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	if err := validate(stream, events); err != nil {
		s.metrics.rejected()
		return eventstore.AppendResult{}, err
	}
	start := time.Now()
	res, err := s.append(ctx, stream, expected, events)
	s.metrics.observeAppend(time.Since(start), err)
	return res, err
}

func (s *Store) append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	ctx, done := s.opContext(ctx)
	defer done()

	proposed := make([]esdbclient.EventData, len(events))
	for i, e := range events {
		proposed[i] = esdbclient.EventData{
			EventID:     e.ID,
			EventType:   e.Type,
			ContentType: esdbclient.ContentTypeJson,
			Data:        e.Data,
			Metadata:    e.Metadata,
		}
	}
	limit := appendDeadline
	if d, ok := ctx.Deadline(); ok {
		limit = time.Until(d)
	}
	opts := esdbclient.AppendToStreamOptions{ExpectedRevision: toExpected(expected), Deadline: &limit}
	var wr *esdbclient.WriteResult
	err := s.withClient(ctx, func(c *esdbclient.Client) error {
		var err error
		wr, err = c.AppendToStream(ctx, stream, opts, proposed...)
		return err
	})
	if err != nil {
		if isCode(err, esdbclient.ErrorCodeWrongExpectedVersion) {
			return eventstore.AppendResult{}, s.wrongRevision(ctx, stream, expected, err)
		}
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, s.opError(ctx, err))
	}
	res := eventstore.AppendResult{
		Revision: wr.NextExpectedVersion,
		Position: eventstore.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition},
	}
	pos, err := s.lastEventPosition(ctx, stream, res, events)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: written at revision %d, but its position: %w", stream, res.Revision, s.opError(ctx, err))
	}
	res.Position = pos
	return res, nil
}

// appendDeadline bounds an append whose ctx has no deadline. (The client's own default, 10 s, is short
// for an append of thousands of events to a busy server.)
const appendDeadline = time.Minute

// toExpected maps the port's expected revision to the client's.
func toExpected(e eventstore.ExpectedRevision) esdbclient.ExpectedRevision {
	if rev, ok := e.ExactRevision(); ok {
		return esdbclient.Revision(rev)
	}
	if e.IsNoStream() {
		return esdbclient.NoStream{}
	}
	return esdbclient.Any{}
}

func validate(stream string, events []eventstore.EventData) error {
	if stream == "" {
		return errors.New("append: empty stream name")
	}
	if len(events) == 0 {
		return fmt.Errorf("append %s: no events", stream)
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, e := range events {
		if e.ID == uuid.Nil {
			// The client would replace it by a random ID: a retry would then be doubled.
			return fmt.Errorf("append %s: event %d has the nil ID", stream, i)
		}
		if _, dup := seen[e.ID]; dup {
			return fmt.Errorf("append %s: event ID %s appears twice", stream, e.ID)
		}
		seen[e.ID] = struct{}{}
	}
	return nil
}

// validPosition reports whether p is a real $all position: the server answers "no position" (the
// client makes it 0/0) or -1 (2^64-1 unsigned) where it has none.
func validPosition(p eventstore.Position) bool {
	return !p.IsZero() && p.Commit != unknownPosition && p.Prepare != unknownPosition
}

// unknownPosition is what the server sends (-1 as an unsigned number) for a position it does not know,
// e.g. for events read from a stream on servers that read them from the index only.
const unknownPosition = ^uint64(0)

// lastEventPosition returns the $all position of the last event of a successful append, given the
// server's answer res. A one-event append's commit position is its event's position. Otherwise the
// last event is read back from its stream (servers that know its $all position send it), and else
// found in $all, where the events of one append follow each other from the commit position on.
func (s *Store) lastEventPosition(ctx context.Context, stream string, res eventstore.AppendResult, events []eventstore.EventData) (eventstore.Position, error) {
	if validPosition(res.Position) && len(events) == 1 {
		return res.Position, nil
	}
	last := events[len(events)-1].ID
	pos, err := s.streamEventPosition(ctx, stream, res.Revision, last)
	if err != nil || validPosition(pos) {
		return pos, err
	}
	if validPosition(res.Position) {
		pos, found, err := s.findInAll(ctx, res.Position, len(events), stream, last)
		if err != nil || found {
			return pos, err
		}
	}
	s.log.Warn("esdb append: no position found for the last event", "stream", stream, "revision", res.Revision)
	if validPosition(res.Position) {
		return res.Position, nil
	}
	return eventstore.Position{}, nil
}

// streamEventPosition returns the position that a read of stream sends for the event id at revision
// rev (not a valid position if the server sends none, or the event is not there).
func (s *Store) streamEventPosition(ctx context.Context, stream string, rev uint64, id uuid.UUID) (eventstore.Position, error) {
	var pos eventstore.Position
	err := s.withClient(ctx, func(c *esdbclient.Client) error {
		rs, err := c.ReadStream(ctx, stream, esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.Revision(rev)}, 1)
		if err != nil {
			return err
		}
		defer rs.Close()
		ev, err := rs.Recv()
		switch {
		case errors.Is(err, io.EOF), isCode(err, esdbclient.ErrorCodeResourceNotFound):
			return nil
		case err != nil:
			return err
		}
		if rec := ev.OriginalEvent(); rec != nil && rec.EventID == id && rec.EventNumber == rev {
			pos = toPosition(rec.Position)
		}
		return nil
	})
	return pos, err
}

// findInAll reads up to count events of $all from position from (inclusive) and returns the position
// of the event id of stream among them.
func (s *Store) findInAll(ctx context.Context, from eventstore.Position, count int, stream string, id uuid.UUID) (eventstore.Position, bool, error) {
	var pos eventstore.Position
	var found bool
	err := s.withClient(ctx, func(c *esdbclient.Client) error {
		opts := esdbclient.ReadAllOptions{Direction: esdbclient.Forwards, From: toClientPosition(from)}
		rs, err := c.ReadAll(ctx, opts, uint64(count))
		if err != nil {
			return err
		}
		defer rs.Close()
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if rec := ev.OriginalEvent(); rec != nil && rec.EventID == id && rec.StreamID == stream {
				pos, found = toPosition(rec.Position), true
				return nil
			}
		}
	})
	return pos, found, err
}

// wrongVersionActual matches the current revision in the client's wrong-expected-version message
// ("... expecting '3' but got 'no_stream'").
var wrongVersionActual = regexp.MustCompile(`but got '(no_stream|[0-9]+)'`)

// wrongRevision builds the *eventstore.WrongRevisionError of a refused append: the stream's actual
// revision comes from the server's reply, which the client only passes on as text; when the text
// does not carry it, the stream's last event is read.
func (s *Store) wrongRevision(ctx context.Context, stream string, expected eventstore.ExpectedRevision, err error) error {
	werr := &eventstore.WrongRevisionError{Stream: stream, Expected: expected}
	if m := wrongVersionActual.FindStringSubmatch(err.Error()); m != nil {
		if m[1] == "no_stream" {
			return werr
		}
		if n, perr := strconv.ParseUint(m[1], 10, 64); perr == nil {
			werr.Actual, werr.Exists = n, true
			return werr
		}
	}
	rerr := s.withClient(ctx, func(c *esdbclient.Client) error {
		rs, err := c.ReadStream(ctx, stream, esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 1)
		if err != nil {
			return err
		}
		defer rs.Close()
		ev, err := rs.Recv()
		switch {
		case isCode(err, esdbclient.ErrorCodeResourceNotFound), errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		if rec := ev.OriginalEvent(); rec != nil {
			werr.Actual, werr.Exists = rec.EventNumber, true
		}
		return nil
	})
	if rerr != nil {
		return fmt.Errorf("append %s: %w (reading the actual revision: %w)", stream, eventstore.ErrWrongRevision, s.opError(ctx, rerr))
	}
	return werr
}
