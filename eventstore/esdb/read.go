package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/metropolis/csc/eventstore"
)

// readBatch is the number of events asked for by one read call: an iteration holds at most one batch
// in flight, whatever the length of the stream or of $all.
const readBatch = 1000

// headBatch is the number of events read backwards at a time by Head while it skips system events.
const headBatch = 256

// ReadStream implements eventstore.Store. A stream that does not exist yields nothing. For servers
// that do not send the $all position of events read from a stream, RecordedEvent.Position is zero.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		ctx, done := s.opContext(ctx)
		defer done()
		next := from
		for {
			n, stopped := 0, false
			err := s.withClient(ctx, func(c *esdbclient.Client) error {
				opts := esdbclient.ReadStreamOptions{Direction: esdbclient.Forwards, From: esdbclient.Revision(next)}
				rs, err := c.ReadStream(ctx, stream, opts, readBatch)
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
					n++
					rec := ev.OriginalEvent()
					if rec == nil {
						continue
					}
					next = rec.EventNumber + 1
					if err := s.live(ctx); err != nil {
						return err // the events the client still holds are not wanted any more
					}
					if !yield(toRecorded(rec), nil) {
						stopped = true
						return nil
					}
				}
			})
			switch {
			case stopped:
				return
			case isCode(err, esdbclient.ErrorCodeResourceNotFound):
				return
			case err != nil:
				yield(eventstore.RecordedEvent{}, fmt.Errorf("read stream %s: %w", stream, s.opError(ctx, err)))
				return
			case n < readBatch:
				return
			}
		}
	}
}

// ReadAll implements eventstore.Store: the events of $all strictly after after, without system events.
// The client reads $all from a position inclusively, so the event at after (and at the end of each
// batch, where the next one starts) is skipped.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		ctx, done := s.opContext(ctx)
		defer done()
		floor := after // every event at or before floor has been seen or is not wanted
		for {
			n, stopped := 0, false
			err := s.withClient(ctx, func(c *esdbclient.Client) error {
				var from esdbclient.AllPosition = esdbclient.Start{}
				if !floor.IsZero() {
					from = toClientPosition(floor)
				}
				rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Forwards, From: from}, readBatch)
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
					n++
					rec := ev.OriginalEvent()
					if rec == nil {
						continue
					}
					pos := toPosition(rec.Position)
					if !floor.IsZero() && pos.Compare(floor) <= 0 {
						continue
					}
					floor = pos
					if isSystem(rec) {
						continue
					}
					if err := s.live(ctx); err != nil {
						return err
					}
					if !yield(toRecorded(rec), nil) {
						stopped = true
						return nil
					}
				}
			})
			switch {
			case stopped:
				return
			case err != nil:
				yield(eventstore.RecordedEvent{}, fmt.Errorf("read $all after %s: %w", after, s.opError(ctx, err)))
				return
			case n < readBatch:
				return
			}
		}
	}
}

// Head implements eventstore.Store: the position of the last event of $all that is not a system event.
// The client cannot send a server-side filter with a read of $all, so Head reads backwards from the
// end in batches and skips system events itself.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	ctx, done := s.opContext(ctx)
	defer done()
	var (
		head    eventstore.Position
		floor   eventstore.Position // events at or after floor have been seen
		hasSeen bool
	)
	for {
		n, found := 0, false
		err := s.withClient(ctx, func(c *esdbclient.Client) error {
			var from esdbclient.AllPosition = esdbclient.End{}
			if hasSeen {
				from = toClientPosition(floor)
			}
			rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Backwards, From: from}, headBatch)
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
				n++
				rec := ev.OriginalEvent()
				if rec == nil {
					continue
				}
				pos := toPosition(rec.Position)
				if hasSeen && pos.Compare(floor) >= 0 {
					continue
				}
				floor, hasSeen = pos, true
				if !isSystem(rec) {
					head, found = pos, true
					return nil
				}
			}
		})
		switch {
		case err != nil:
			return eventstore.Position{}, fmt.Errorf("head of $all: %w", s.opError(ctx, err))
		case found:
			return head, nil
		case n < headBatch:
			return eventstore.Position{}, nil
		}
	}
}

// isSystem reports whether rec is a system event: a "$"-prefixed event type (the server-side filter
// excludes those from subscriptions) or, defensively, an event of a "$"-prefixed stream.
func isSystem(rec *esdbclient.RecordedEvent) bool {
	return strings.HasPrefix(rec.EventType, "$") || strings.HasPrefix(rec.StreamID, "$")
}

func toPosition(p esdbclient.Position) eventstore.Position {
	return eventstore.Position{Commit: p.Commit, Prepare: p.Prepare}
}

func toClientPosition(p eventstore.Position) esdbclient.Position {
	return esdbclient.Position{Commit: p.Commit, Prepare: p.Prepare}
}

// toRecorded converts a client event. Empty payloads become nil; a position the server does not know
// becomes the zero Position.
func toRecorded(rec *esdbclient.RecordedEvent) eventstore.RecordedEvent {
	pos := toPosition(rec.Position)
	if pos.Commit == unknownPosition || pos.Prepare == unknownPosition {
		pos = eventstore.Position{}
	}
	return eventstore.RecordedEvent{
		ID:       rec.EventID,
		Stream:   rec.StreamID,
		Revision: rec.EventNumber,
		Position: pos,
		Type:     rec.EventType,
		Data:     nilIfEmpty(rec.Data),
		Metadata: nilIfEmpty(rec.UserMetadata),
		Recorded: rec.CreatedDate.UTC(),
	}
}

func nilIfEmpty(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	return p
}
