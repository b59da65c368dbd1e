package esdb

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metropolis/csc/eventstore"
)

// Resubscription backoff: the first retry waits minBackoff, each further one twice as long, up to
// maxBackoff; a subscription that delivered anything resets it.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// SubscribeAll implements eventstore.Store with a catch-up subscription to $all that excludes system
// events on the server ($-prefixed event types) and, defensively, in the adapter ($-prefixed streams).
// A subscription start is exclusive, as the port's after is. When the subscription is dropped (or the
// client is closed under it) it subscribes again, with backoff, from the last event it delivered, so
// that no event is missed or delivered twice.
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		ctx, done := s.opContext(ctx)
		defer done()
		last := after
		delay := minBackoff
		for {
			progressed, stopped, err := s.subscribeOnce(ctx, &last, yield)
			if stopped || ended(ctx, yield) {
				return
			}
			if errors.Is(err, eventstore.ErrClosed) { // Close began before ctx learnt of it (see live)
				yield(eventstore.RecordedEvent{}, fmt.Errorf("subscribe $all: %w", eventstore.ErrClosed))
				return
			}
			if permanent(err) {
				yield(eventstore.RecordedEvent{}, fmt.Errorf("subscribe $all after %s: %w", last, err))
				return
			}
			if progressed {
				delay = minBackoff
			}
			s.metrics.resubscribed()
			s.log.Warn("esdb subscription to $all dropped, subscribing again", "after", last.String(), "in", delay, "err", err)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				ended(ctx, yield)
				return
			case <-t.C:
			}
			delay = min(2*delay, maxBackoff)
		}
	}
}

// ended reports whether the subscription's ctx has ended; if it ended because the store was closed,
// it yields ErrClosed as the last pair (the caller's ctx ending yields nothing).
func ended(ctx context.Context, yield func(eventstore.RecordedEvent, error) bool) bool {
	cause := context.Cause(ctx)
	if cause == nil {
		return false
	}
	if errors.Is(cause, eventstore.ErrClosed) {
		yield(eventstore.RecordedEvent{}, fmt.Errorf("subscribe $all: %w", eventstore.ErrClosed))
	}
	return true
}

// subscribeOnce runs one subscription from *last until it is dropped or the consumer stops (stopped),
// advancing *last to each delivered event. progressed says whether the server sent anything after
// confirming the subscription. err is never nil unless stopped.
func (s *Store) subscribeOnce(ctx context.Context, last *eventstore.Position, yield func(eventstore.RecordedEvent, error) bool) (progressed, stopped bool, err error) {
	err = s.withClient(ctx, func(c *esdbclient.Client) error {
		var from esdbclient.AllPosition = esdbclient.Start{}
		if !last.IsZero() {
			from = toClientPosition(*last)
		}
		sub, err := c.SubscribeToAll(ctx, esdbclient.SubscribeToAllOptions{
			From:   from,
			Filter: esdbclient.ExcludeSystemEventsFilter(),
		})
		if err != nil {
			return err
		}
		defer sub.Close()
		for {
			msg := sub.Recv()
			switch {
			case msg.SubscriptionDropped != nil:
				if msg.SubscriptionDropped.Error != nil {
					return msg.SubscriptionDropped.Error
				}
				return errors.New("subscription dropped")
			case msg.EventAppeared != nil:
				progressed = true
				rec := msg.EventAppeared.OriginalEvent()
				if rec == nil || isSystem(rec) {
					continue
				}
				pos := toPosition(rec.Position)
				if !last.IsZero() && pos.Compare(*last) <= 0 {
					continue // already delivered (defensive: the start is exclusive)
				}
				if err := s.live(ctx); err != nil {
					return err // nothing more once ctx has ended
				}
				*last = pos
				if !yield(toRecorded(rec), nil) {
					stopped = true
					return nil
				}
			default: // checkpoint, caught up, fell behind
				progressed = true
			}
		}
	})
	if err == nil && !stopped {
		err = errors.New("subscription ended")
	}
	return progressed, stopped, err
}

// permanent reports whether a subscription error is one that subscribing again cannot cure.
func permanent(err error) bool {
	if e, ok := clientError(err); ok {
		switch e.Code() {
		case esdbclient.ErrorCodeUnauthenticated, esdbclient.ErrorCodeAccessDenied, esdbclient.ErrorCodeUnsupportedFeature:
			return true
		}
	}
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied, codes.Unimplemented, codes.InvalidArgument:
		return true
	}
	return false
}
