package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// Paging of the raw log.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
	// maxEventScan bounds the events one filtered page of /v1/events looks at: a page may hold fewer
	// than limit events and still not be the end (follow next).
	maxEventScan = 10_000
)

// EventRecord is an event of the raw log as recorded: its data and metadata (actor, role, city,
// command, correlation and causation IDs, schema version, prevHash and hash) are the stored JSON.
type EventRecord struct {
	Position string          `json:"position"`
	Stream   string          `json:"stream"`
	Revision uint64          `json:"revision"`
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Recorded time.Time       `json:"recorded"`
	Data     json.RawMessage `json:"data"`
	Metadata json.RawMessage `json:"metadata"`
}

func eventRecord(ev eventstore.RecordedEvent) EventRecord {
	return EventRecord{
		Position: ev.Position.String(), Stream: ev.Stream, Revision: ev.Revision, ID: ev.ID.String(),
		Type: ev.Type, Recorded: ev.Recorded.UTC(), Data: jsonOrNull(ev.Data), Metadata: jsonOrNull(ev.Metadata),
	}
}

// jsonOrNull keeps stored JSON as it is; an empty payload is null.
func jsonOrNull(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return json.RawMessage("null")
	}
	return b
}

// EventPage is the body of GET /v1/events.
type EventPage struct {
	Events []EventRecord `json:"events"`
	// Next is the position to pass as ?after= for the next page: that of the last event looked at.
	Next string `json:"next"`
	// End is true when the page reached the end of the log (as it was then).
	End bool `json:"end"`
}

// handleEvents pages the raw log: ?after=<position>&limit=<1..1000>&stream=<name>&type=<event type>.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := eventstore.ParsePosition(q.Get("after"))
	if err != nil {
		s.problem(w, r, errBadRequest("after must be a position", domain.FieldError{Field: "after", Code: domain.FieldFormat, Message: "after: not a position"}))
		return
	}
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		s.problem(w, r, err)
		return
	}
	end, bounded, err := s.logView(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	stream, typ := q.Get("stream"), q.Get("type")
	page := EventPage{Events: []EventRecord{}, Next: after.String(), End: true}
	scanned := 0
	for ev, err := range s.store.ReadAll(r.Context(), after) {
		if err != nil {
			s.problem(w, r, fmt.Errorf("read $all after %s: %w", after, err))
			return
		}
		if bounded && end.Before(ev.Position) {
			break // past the as-of prefix
		}
		if len(page.Events) == limit || scanned == maxEventScan {
			page.End = false
			break
		}
		scanned++
		page.Next = ev.Position.String()
		if (stream == "" || ev.Stream == stream) && (typ == "" || ev.Type == typ) {
			page.Events = append(page.Events, eventRecord(ev))
		}
	}
	writeJSON(w, http.StatusOK, page)
}

func parseLimit(v string) (int, error) {
	if v == "" {
		return DefaultEventLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxEventLimit {
		return 0, errBadRequest(fmt.Sprintf("limit must be 1..%d", MaxEventLimit),
			domain.FieldError{Field: "limit", Code: domain.FieldRange, Message: fmt.Sprintf("limit: must be 1..%d", MaxEventLimit)})
	}
	return n, nil
}

// StreamPage is the body of GET /v1/streams/{stream}.
type StreamPage struct {
	Stream string        `json:"stream"`
	Events []EventRecord `json:"events"`
	// Next is the revision to pass as ?from= for the next page.
	Next uint64 `json:"next"`
	End  bool   `json:"end"`
}

// handleStream pages one stream: ?from=<revision>&limit=<1..1000>. An unknown stream is 404.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	stream := pathVar(r, "stream")
	q := r.URL.Query()
	var from uint64
	if v := q.Get("from"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.problem(w, r, errBadRequest("from must be a revision (0, 1, ...)",
				domain.FieldError{Field: "from", Code: domain.FieldFormat, Message: "from: not a revision"}))
			return
		}
		from = n
	}
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		s.problem(w, r, err)
		return
	}
	end, bounded, err := s.logView(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	page := StreamPage{Stream: stream, Events: []EventRecord{}, Next: from, End: true}
	for ev, err := range s.store.ReadStream(r.Context(), stream, from) {
		if err != nil {
			s.problem(w, r, fmt.Errorf("read %s from %d: %w", stream, from, err))
			return
		}
		if bounded && end.Before(ev.Position) {
			break // past the as-of prefix
		}
		if len(page.Events) == limit {
			page.End = false
			break
		}
		page.Events = append(page.Events, eventRecord(ev))
		page.Next = ev.Revision + 1
	}
	if len(page.Events) == 0 {
		exists, err := s.streamExists(r.Context(), stream)
		if err != nil {
			s.problem(w, r, err)
			return
		}
		if !exists {
			s.problem(w, r, errNotFound("no stream "+stream))
			return
		}
	}
	writeJSON(w, http.StatusOK, page)
}

// logView reads the ?asOf= and ?minPosition= of a raw-log read. With minPosition it waits, bounded by
// ReadWait, until the log's head reaches it (504 when it does not in time): the store is the source.
// With asOf it returns the end of the as-of prefix (the longest prefix of $all whose effective times
// are at or before asOf, as the as-of read models have it) and bounded true: only events up to it are
// answered.
func (s *Server) logView(r *http.Request) (end eventstore.Position, bounded bool, err error) {
	params, err := parseReadParams(r)
	if err != nil {
		return end, false, err
	}
	if !params.minPosition.IsZero() {
		ctx, cancel := context.WithTimeout(r.Context(), s.readWait)
		err := s.waitForHead(ctx, params.minPosition)
		cancel()
		if err != nil {
			if r.Context().Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return end, false, fmt.Errorf("wait for position %s in the log: %w (within %v)", params.minPosition, errReadTimeout, s.readWait)
			}
			return end, false, fmt.Errorf("wait for position %s in the log: %w", params.minPosition, err)
		}
	}
	if params.asOf.IsZero() {
		return end, false, nil
	}
	head, err := s.store.Head(r.Context())
	if err != nil {
		return end, false, fmt.Errorf("read head: %w", err)
	}
	m, err := s.asOf.get(r.Context(), params.asOf, head)
	if err != nil {
		return end, false, fmt.Errorf("find the log as of %s: %w", params.asOf.Format(time.RFC3339Nano), err)
	}
	return m.Position(), true, nil
}

// waitForHead returns once the head of the log is at or after p, or ctx ends.
func (s *Server) waitForHead(ctx context.Context, p eventstore.Position) error {
	head, err := s.store.Head(ctx)
	if err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	if !head.Before(p) {
		return nil
	}
	for ev, err := range s.store.SubscribeAll(ctx, head) {
		if err != nil {
			return err
		}
		if !ev.Position.Before(p) {
			return nil
		}
	}
	return ctx.Err()
}

func (s *Server) streamExists(ctx context.Context, stream string) (bool, error) {
	for _, err := range s.store.ReadStream(ctx, stream, 0) {
		if err != nil {
			return false, fmt.Errorf("read %s: %w", stream, err)
		}
		return true, nil
	}
	return false, nil
}

// handleLive streams new events as Server-Sent Events: each event's SSE id is its position, its SSE
// event name its type, its data an EventRecord. It starts after Last-Event-ID (a reconnecting client
// resumes where it stopped), else after ?after=, else at the end of the log (new events only). A
// comment line is sent every Heartbeat so that proxies and clients see a live connection.
//
// A resume point past the head of the log (one the log has not reached) is a 400 naming it: the
// stream would otherwise wait silently for events it then skips.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	field, start := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if start == "" {
		field, start = "after", r.URL.Query().Get("after")
	}
	head, err := s.store.Head(r.Context())
	if err != nil {
		s.problem(w, r, fmt.Errorf("read head: %w", err))
		return
	}
	after := head
	if start != "" {
		p, err := eventstore.ParsePosition(start)
		if err != nil {
			s.problem(w, r, errBadRequest(field+" must be a position",
				domain.FieldError{Field: field, Code: domain.FieldFormat, Message: field + ": not a position"}))
			return
		}
		if head.Before(p) {
			s.problem(w, r, errBadRequest(fmt.Sprintf("%s %s is past the head of the log (%s): resume from a position the log has reached", field, p, head),
				domain.FieldError{Field: field, Code: domain.FieldRange, Message: field + ": past the head of the log"}))
			return
		}
		after = p
	}

	if r.Method == http.MethodHead {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}

	// End the stream when the client goes or the server shuts down (Shutdown waits for idle
	// connections, and an SSE connection is never idle).
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.streams, cancel)
	defer stop()

	rc := http.NewResponseController(w)
	// The server's ReadTimeout would otherwise end the connection (and cancel ctx) mid-stream.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if s.metrics != nil {
		s.metrics.sse.Inc()
		defer s.metrics.sse.Dec()
	}

	events := make(chan eventstore.RecordedEvent, 64)
	failed := make(chan error, 1)
	go func() {
		defer close(events)
		for ev, err := range s.store.SubscribeAll(ctx, after) {
			if err != nil {
				failed <- err
				return
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()

	send := func(chunk []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
		if _, err := w.Write(chunk); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send([]byte("retry: 2000\n: connected after " + after.String() + "\n\n")) {
		return
	}
	ticker := time.NewTicker(s.heartbeat)
	defer ticker.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				select {
				case err := <-failed:
					s.log.Warn("live events ended", "requestId", requestID(r.Context()), "err", err)
				default:
				}
				return
			}
			data, err := json.Marshal(eventRecord(ev))
			if err != nil {
				s.log.Error("encode live event", "position", ev.Position.String(), "err", err)
				return
			}
			msg := make([]byte, 0, len(data)+len(ev.Type)+64)
			msg = append(msg, "id: "+ev.Position.String()+"\nevent: "+ev.Type+"\ndata: "...)
			msg = append(msg, data...)
			msg = append(msg, "\n\n"...)
			if !send(msg) {
				return
			}
		case <-ticker.C:
			if !send([]byte(": heartbeat\n\n")) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}
