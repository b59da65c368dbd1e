package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/sqlite"
)

// csc copy --from STORE --to STORE [--quiet]
//
// copy moves a log from one store to another (the embedded SQLite store to EventStoreDB, or back):
// every event of $all, in $all order, with its stream, revision, event ID, type, data and metadata. The
// original recorded time goes into the metadata ("recorded", which the hash chain does not cover),
// unless the metadata already has one: a copy of a copy keeps the first original time.
//
// The source is opened read-only, the target read-write (a missing SQLite file is created). Consecutive
// events of one stream go into one append (at most copyBatchEvents events, copyBatchBytes bytes), with
// the expected revision NoStream or Exact(previous revision), so the target's streams end up with the
// source's revisions and a target written by anything else is noticed rather than merged into.
//
// A copy is resumable: run the same command again after an interruption (Ctrl-C, a crash, a lost
// connection) and it continues after the last event the target holds, adding nothing twice. See
// resume for how that event is found without reading the whole target. A target that is not empty and
// is not a (partial) copy of the source is refused before anything is written. Within one run, an
// append that fails in a way that may pass (a lost connection, a server restarting) is tried again a
// few times first (see appendRetrying).
//
// At the end the whole target and the source (up to the last event copied) are checked with
// eventstore.Verifier: every hash chain on the target must hold and both must have the same number of
// streams and events and the same digest.
//
// Exit status: 0 when the target holds a verified copy; 1 when the copy failed or was interrupted (run
// it again), or the target does not verify or does not match the source (also when the source itself
// does not verify and the copy is faithful to it); 2 for a usage error: a bad or
// missing flag, an unknown store, a missing source file, --from and --to naming the same store, and a
// target that already holds events that are not from the source (nothing is written then: pointing
// --to at the wrong store is the operator's mistake, and running it again cannot help).

// Bounds of one append of the copy. EventStoreDB refuses appends larger than its MaxAppendSize
// (1 MiB by default): half of it leaves room for the framing.
const (
	copyBatchEvents = 500
	copyBatchBytes  = 512 << 10
)

// Bounds of one group of appends handed to a store that takes several at once (batchAppender): they
// share its group commits, so that a log whose streams interleave is copied at far more than one
// fsync per append, in its order.
const (
	copyGroupAppends = 256
	copyGroupBytes   = 8 << 20
)

// A failed append is tried again copyRetries times, after copyRetryWait, then twice as long each time
// (about 30 s in all): long enough for a server restart or a leader election.
const (
	copyRetries   = 5
	copyRetryWait = time.Second
)

// errNotACopy is matched (errors.Is) by the error of a copy refused because the target already holds
// events that are not (in the same order) the source's.
var errNotACopy = errors.New("the target is not empty and not a copy of the source")

// copier runs csc copy.
type copier struct {
	stdout, stderr io.Writer
	// terminal reports whether progress bars can be drawn on w.
	terminal func(w io.Writer) bool
	// now is the clock of the copy rate.
	now func() time.Time
	// maxEvents and maxBytes bound one append; maxGroup bounds the appends handed to a batchAppender at once.
	maxEvents, maxBytes, maxGroup int
	// retries is how many times a failed append is tried again, the first time after retryWait.
	retries   int
	retryWait time.Duration
	// appended, when set, is called after every acknowledged append with the number of events this run
	// has copied so far (tests interrupt a copy with it).
	appended func(copied int)
}

func newCopier(stdout, stderr io.Writer) *copier {
	return &copier{stdout: stdout, stderr: stderr, terminal: isTerminal, now: time.Now,
		maxEvents: copyBatchEvents, maxBytes: copyBatchBytes, maxGroup: copyGroupAppends, retries: copyRetries, retryWait: copyRetryWait}
}

// runCopy is "csc copy" on m's streams.
func (m *Main) runCopy(ctx context.Context, args []string) error {
	c := newCopier(m.Stdout, m.Stderr)
	c.now = m.Now
	return c.run(ctx, args)
}

// run is "csc copy --from STORE --to STORE [--quiet]".
func (c *copier) run(ctx context.Context, args []string) error {
	var (
		from, to string
		quiet    bool
	)
	fs := flag.NewFlagSet("csc copy", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&from, "from", "", "the store to copy: a file path, sqlite:<path> or esdb://host:2113?tls=false (opened read-only)")
	fs.StringVar(&to, "to", "", "the store to copy into, empty or holding an interrupted copy of --from (a missing SQLite file is created)")
	fs.BoolVar(&quiet, "quiet", false, "no progress bar")
	if err := parse(fs, args, c.stdout); err != nil {
		return err
	}
	if from == "" || to == "" {
		return usagef("copy: give both --from and --to (e.g. --from ./csc-data/events.db --to esdb://localhost:2113?tls=false)")
	}
	srcRef, err := parseStoreRef(from, "")
	if err != nil {
		return err
	}
	dstRef, err := parseStoreRef(to, "")
	if err != nil {
		return err
	}
	if srcRef.sameStore(dstRef) {
		return usagef("copy: --from and --to name the same store (%s)", srcRef.name)
	}
	src, err := srcRef.open(ctx, false)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := dstRef.open(ctx, true)
	if err != nil {
		return err
	}
	err = c.copyLog(ctx, src, dst, !quiet && c.terminal(c.stderr))
	if cerr := dst.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("copy to %s: %w", dst.name, cerr)
	}
	return err
}

// copyLog copies src into dst from where an earlier copy stopped, then verifies dst against src.
func (c *copier) copyLog(ctx context.Context, src, dst *auditStore, bars bool) error {
	out := &errWriter{w: c.stdout}
	out.printf("from      %s\n", src.name)
	out.printf("to        %s\n", dst.name)

	start, err := c.resume(ctx, src, dst)
	if err != nil {
		return err
	}
	if start.last != nil {
		out.printf("resumed   after %s revision %d (event %s, source position %s), the last event the target holds\n",
			start.last.Stream, start.last.Revision, start.last.ID, start.after)
	}

	bar := newProgress(c.stderr, bars, "copy", src.total(ctx, start.after))
	began := c.now()
	stats, err := c.copyEvents(ctx, src, dst, start.after, bar)
	bar.done()
	elapsed := c.now().Sub(began)
	rate := ""
	if secs := elapsed.Seconds(); stats.events > 0 && secs > 0 {
		rate = fmt.Sprintf(", %.0f events/s", float64(stats.events)/secs)
	}
	out.printf("copied    %d events in %d appends (%s%s)\n", stats.events, stats.appends, elapsed.Round(time.Millisecond), rate)
	if err != nil {
		if out.err != nil {
			return fmt.Errorf("copy: %w", out.err)
		}
		return fmt.Errorf("copy %s to %s: stopped after %d events (run the same command again to continue): %w", src.name, dst.name, stats.events, err)
	}

	until := start.after
	if stats.events > 0 {
		until = stats.last
	}
	return c.check(ctx, out, src, dst, until, bars)
}

// resumeFrom is where a copy starts.
type resumeFrom struct {
	// after is the source position the copy goes on after (zero: from the start).
	after eventstore.Position
	// last is the source's event at after: the last event the target holds. Nil for an empty target.
	last *eventstore.RecordedEvent
}

// resume finds where to go on copying src into dst without reading the target whole. A copy appends the
// source's events in $all order, so the target holds a prefix of the source's $all, and the copy goes
// on after the source's event that is the target's last one (the target's head):
//
//   - on a target whose positions count its events (SQLite), the head event is read at the head
//     position, then found in the source by its stream and revision (and checked by its ID);
//   - on EventStoreDB, whose positions are log offsets that cannot be stepped back from (a server fails
//     a read of $all from a position that is not an event's), the head event cannot be read through
//     the store port, whose reads of $all start after a position; instead the source's events are
//     searched for the last one the target holds (the target has the event's stream at its revision,
//     with its ID), by bisection over the source's positions when they count its events (SQLite), else
//     in one pass over the source (EventStoreDB to EventStoreDB) that checks one event per run of a
//     stream. The event found must sit at the target's head.
//
// A target that holds events but not the source's first one, or whose events differ from the
// source's, is refused with errNotACopy.
func (c *copier) resume(ctx context.Context, src, dst *auditStore) (resumeFrom, error) {
	head, err := dst.Head(ctx)
	if err != nil {
		return resumeFrom{}, fmt.Errorf("copy to %s: %w", dst.name, err)
	}
	if head.IsZero() {
		return resumeFrom{}, nil
	}
	if dst.counted {
		return c.resumeAtHead(ctx, src, dst, head)
	}
	var (
		last  eventstore.RecordedEvent
		found bool
	)
	if src.counted {
		last, found, err = c.bisect(ctx, src, dst)
	} else {
		last, found, err = c.scan(ctx, src, dst)
	}
	if err != nil {
		return resumeFrom{}, err
	}
	if !found {
		return resumeFrom{}, c.notACopy(src, dst, "it holds events, but not the source's first one")
	}
	held, ok, err := eventAt(ctx, dst.Store, last.Stream, last.Revision)
	if err != nil {
		return resumeFrom{}, fmt.Errorf("copy to %s: %w", dst.name, err)
	}
	if ok && !held.Position.IsZero() && held.Position != head {
		return resumeFrom{}, c.notACopy(src, dst, fmt.Sprintf("its last event (position %s) is not the source's event it holds last, %s revision %d (position %s there)",
			head, last.Stream, last.Revision, held.Position))
	}
	return resumeFrom{after: last.Position, last: &last}, nil
}

// resumeAtHead resumes after the target's head event, read at the head position of a store whose
// positions count its events.
func (c *copier) resumeAtHead(ctx context.Context, src, dst *auditStore, head eventstore.Position) (resumeFrom, error) {
	var (
		held  eventstore.RecordedEvent
		found bool
	)
	before := eventstore.Position{Commit: head.Commit - 1, Prepare: head.Prepare - 1}
	for ev, err := range dst.ReadAll(ctx, before) {
		if err != nil {
			return resumeFrom{}, fmt.Errorf("copy to %s: read its last event: %w", dst.name, err)
		}
		held, found = ev, true
		break
	}
	if !found || held.Position != head {
		return resumeFrom{}, fmt.Errorf("copy to %s: its last event is not at its head position %s", dst.name, head)
	}
	ev, ok, err := eventAt(ctx, src.Store, held.Stream, held.Revision)
	if err != nil {
		return resumeFrom{}, fmt.Errorf("copy from %s: %w", src.name, err)
	}
	if !ok || ev.ID != held.ID {
		return resumeFrom{}, c.notACopy(src, dst, fmt.Sprintf("its last event, %s revision %d (event %s), is not in the source", held.Stream, held.Revision, held.ID))
	}
	if ev.Position.IsZero() {
		// The source does not say where a stream's event is in $all (EventStoreDB servers that read
		// streams from their index only): look for it in $all.
		if ev.Position, ok, err = findInAll(ctx, src, ev.ID); err != nil {
			return resumeFrom{}, err
		} else if !ok {
			return resumeFrom{}, fmt.Errorf("copy from %s: event %s (%s revision %d) is in its stream but not in $all", src.name, ev.ID, ev.Stream, ev.Revision)
		}
	}
	return resumeFrom{after: ev.Position, last: &ev}, nil
}

// findInAll returns the $all position of the event id in st, reading $all from the start.
func findInAll(ctx context.Context, st *auditStore, id uuid.UUID) (eventstore.Position, bool, error) {
	for ev, err := range st.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			return eventstore.Position{}, false, fmt.Errorf("copy from %s: %w", st.name, err)
		}
		if ev.ID == id {
			return ev.Position, true, nil
		}
	}
	return eventstore.Position{}, false, nil
}

// held reports whether dst holds the source event ev: its stream has an event at ev's revision, with
// ev's ID. Another event there means dst is not a copy of the source.
func (c *copier) held(ctx context.Context, src, dst *auditStore, ev eventstore.RecordedEvent) (bool, error) {
	got, ok, err := eventAt(ctx, dst.Store, ev.Stream, ev.Revision)
	switch {
	case err != nil:
		return false, fmt.Errorf("copy to %s: %w", dst.name, err)
	case !ok:
		return false, nil
	case got.ID != ev.ID:
		return false, c.notACopy(src, dst, fmt.Sprintf("its %s revision %d is event %s, the source's is %s", ev.Stream, ev.Revision, got.ID, ev.ID))
	}
	return true, nil
}

// bisect finds the last source event dst holds by bisection over the source's positions, which count
// its events: the event after position p is held for every p below some bound and for none above.
func (c *copier) bisect(ctx context.Context, src, dst *auditStore) (eventstore.RecordedEvent, bool, error) {
	srcHead, err := src.Head(ctx)
	if err != nil {
		return eventstore.RecordedEvent{}, false, fmt.Errorf("copy from %s: %w", src.name, err)
	}
	// probe returns the source event after p (ok false: none) and whether dst holds it.
	probe := func(p uint64) (eventstore.RecordedEvent, bool, bool, error) {
		for ev, err := range src.ReadAll(ctx, eventstore.Position{Commit: p, Prepare: p}) {
			if err != nil {
				return ev, false, false, fmt.Errorf("copy from %s: %w", src.name, err)
			}
			held, err := c.held(ctx, src, dst, ev)
			return ev, true, held, err
		}
		return eventstore.RecordedEvent{}, false, false, nil
	}
	if srcHead.IsZero() {
		return eventstore.RecordedEvent{}, false, nil
	}
	first, ok, held, err := probe(0)
	if err != nil || !ok || !held {
		return first, false, err
	}
	// Invariant: the event after lo is held; the event after hi is not (or there is none).
	lo, hi := uint64(0), srcHead.Commit
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		_, ok, held, err := probe(mid)
		if err != nil {
			return eventstore.RecordedEvent{}, false, err
		}
		if ok && held {
			lo = mid
		} else {
			hi = mid
		}
	}
	last, _, _, err := probe(lo)
	return last, err == nil, err
}

// scan finds the last source event dst holds in one pass over the source, checking the last event of
// each run of consecutive events of one stream (and, in the run where the target ends, each event).
func (c *copier) scan(ctx context.Context, src, dst *auditStore) (eventstore.RecordedEvent, bool, error) {
	var (
		run   []eventstore.RecordedEvent
		last  eventstore.RecordedEvent
		found bool
	)
	// settle checks the run gathered; ends: the target's last event is in it or before it.
	settle := func() (ends bool, err error) {
		if len(run) == 0 {
			return false, nil
		}
		if held, err := c.held(ctx, src, dst, run[len(run)-1]); err != nil || held {
			if held {
				last, found = run[len(run)-1], true
			}
			return false, err
		}
		for _, ev := range run[:len(run)-1] {
			if held, err := c.held(ctx, src, dst, ev); err != nil || !held {
				return true, err
			}
			last, found = ev, true
		}
		return true, nil
	}
	for ev, err := range src.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			return eventstore.RecordedEvent{}, false, fmt.Errorf("copy from %s: %w", src.name, err)
		}
		if len(run) > 0 && (ev.Stream != run[0].Stream || len(run) >= copyBatchEvents) {
			if ends, err := settle(); err != nil || ends {
				return last, found, err
			}
			run = run[:0]
		}
		run = append(run, ev)
	}
	_, err := settle()
	return last, found, err
}

// eventAt returns the event of stream at revision rev in st.
func eventAt(ctx context.Context, st eventstore.Store, stream string, rev uint64) (eventstore.RecordedEvent, bool, error) {
	for ev, err := range st.ReadStream(ctx, stream, rev) {
		if err != nil {
			return eventstore.RecordedEvent{}, false, err
		}
		return ev, ev.Revision == rev, nil
	}
	return eventstore.RecordedEvent{}, false, nil
}

// notACopy is the usage error refusing a target that is not a copy of the source.
func (c *copier) notACopy(src, dst *auditStore, why string) error {
	return usageError(fmt.Errorf("copy %s to %s: %w: %s (csc copy fills an empty store, or continues its own interrupted copy)", src.name, dst.name, errNotACopy, why))
}

// copyStats counts what one run of the copy wrote.
type copyStats struct {
	events, appends int
	// last is the source position of the last event copied.
	last eventstore.Position
}

// copyEvents appends the source's events after position after to dst, each run of one stream in
// appends of at most maxEvents events and maxBytes bytes.
func (c *copier) copyEvents(ctx context.Context, src, dst *auditStore, after eventstore.Position, bar *progress) (copyStats, error) {
	var (
		stats copyStats
		// The runs gathered for the next group, and the run being gathered (the last one): its next
		// revision and its size.
		group     []copyPart
		next      uint64
		runSize   int
		groupSize int
	)
	maxGroup := 1
	if _, ok := dst.Store.(batchAppender); ok {
		maxGroup = c.maxGroup
	}
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		done, err := c.appendGroup(ctx, dst, group)
		for _, run := range group[:done] {
			stats.events += len(run.append.Events)
			stats.appends++
			stats.last = run.sources[len(run.sources)-1]
			for _, pos := range run.sources {
				bar.event(eventstore.RecordedEvent{Position: pos})
			}
		}
		if done > 0 && c.appended != nil {
			c.appended(stats.events)
		}
		if err != nil {
			run := group[done]
			from := uint64(0)
			if rev, ok := run.append.Expected.ExactRevision(); ok {
				from = rev + 1
			}
			to := from + uint64(len(run.append.Events)) - 1
			if errors.Is(err, eventstore.ErrWrongRevision) {
				return fmt.Errorf("append %s revisions %d to %d: the target's stream is not where the copy left it (was the target written by something else?): %w",
					run.append.Stream, from, to, err)
			}
			return fmt.Errorf("append %s revisions %d to %d: %w", run.append.Stream, from, to, err)
		}
		group, groupSize = group[:0], 0
		return nil
	}
	for ev, err := range src.ReadAll(ctx, after) {
		if err != nil {
			return stats, fmt.Errorf("read %s: %w", src.name, err)
		}
		meta := withRecorded(ev.Metadata, ev.Recorded)
		evSize := len(ev.Data) + len(meta) + len(ev.Type)
		if len(group) > 0 {
			run := &group[len(group)-1]
			if ev.Stream == run.append.Stream && ev.Revision == next &&
				len(run.append.Events) < c.maxEvents && runSize+evSize <= c.maxBytes {
				run.append.Events = append(run.append.Events, eventstore.EventData{ID: ev.ID, Type: ev.Type, Data: ev.Data, Metadata: meta})
				run.sources = append(run.sources, ev.Position)
				next, runSize, groupSize = ev.Revision+1, runSize+evSize, groupSize+evSize
				continue
			}
			if len(group) >= maxGroup || groupSize+evSize > copyGroupBytes {
				if err := flush(); err != nil {
					return stats, err
				}
			}
		}
		expected := eventstore.NoStream()
		if ev.Revision > 0 {
			expected = eventstore.Exact(ev.Revision - 1)
		}
		group = append(group, copyPart{
			append: eventstore.StreamAppend{Stream: ev.Stream, Expected: expected,
				Events: []eventstore.EventData{{ID: ev.ID, Type: ev.Type, Data: ev.Data, Metadata: meta}}},
			sources: []eventstore.Position{ev.Position},
		})
		next, runSize, groupSize = ev.Revision+1, evSize, groupSize+evSize
	}
	if err := ctx.Err(); err != nil {
		// The read ended with ctx: what was gathered since the last append is not the source's end.
		return stats, err
	}
	return stats, flush()
}

// copyPart is one append of the copy: a run of adjacent events of one stream, with the source
// positions of its events.
type copyPart struct {
	append  eventstore.StreamAppend
	sources []eventstore.Position
}

// batchAppender is a store that takes several appends at once, committed in order
// (sqlite.Store.AppendBatch).
type batchAppender interface {
	AppendBatch(ctx context.Context, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, error)
}

// appendGroup appends the runs of group in order, all at once when dst is a batchAppender, else one
// by one, trying again after errors that may pass (see appendRetrying). It returns how many runs were
// appended, which is len(group) unless err is set: the runs before the failed one are committed, it
// and the ones after it are not.
func (c *copier) appendGroup(ctx context.Context, dst *auditStore, group []copyPart) (int, error) {
	batcher, ok := dst.Store.(batchAppender)
	if !ok || len(group) == 1 {
		for i, run := range group {
			if err := c.appendRetrying(ctx, dst, run.append.Stream, run.append.Expected, run.append.Events); err != nil {
				return i, err
			}
		}
		return len(group), nil
	}
	appends := make([]eventstore.StreamAppend, len(group))
	for i, run := range group {
		appends[i] = run.append
	}
	done := 0
	err := c.retrying(ctx, func() error {
		res, err := batcher.AppendBatch(ctx, appends[done:])
		done += len(res)
		return err
	})
	return done, err
}

// appendRetrying appends events to dst, trying again (copyRetries times, waiting copyRetryWait, then
// twice as long each time) after an error that may pass: a lost connection, a restarting server, a
// lock held by another process. Trying again is safe because the append names its expected revision
// and its event IDs: when the first try was committed although its answer was lost, the retry is an
// idempotent repeat that writes nothing. A wrong expected revision, the end of ctx, a closed store and
// an event the target refuses are not retried.
func (c *copier) appendRetrying(ctx context.Context, dst *auditStore, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) error {
	return c.retrying(ctx, func() error {
		_, err := dst.Append(ctx, stream, expected, events)
		return err
	})
}

// retrying runs try, and runs it again (copyRetries times, waiting copyRetryWait, then twice as long
// each time) after an error that may pass (see transient).
func (c *copier) retrying(ctx context.Context, try func() error) error {
	wait := c.retryWait
	for attempt := 0; ; attempt++ {
		err := try()
		if err == nil || attempt == c.retries || !transient(ctx, err) {
			if err != nil && attempt > 0 {
				return fmt.Errorf("after %d tries: %w", attempt+1, err)
			}
			return err
		}
		fmt.Fprintf(c.stderr, "csc copy: %v; trying again in %v\n", err, wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (while waiting to try again after: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// transient reports whether an append that failed with err may succeed when tried again.
func transient(ctx context.Context, err error) bool {
	switch {
	case ctx.Err() != nil,
		errors.Is(err, eventstore.ErrWrongRevision),
		errors.Is(err, eventstore.ErrClosed),
		errors.Is(err, sqlite.ErrInvalidEvent),
		errors.Is(err, sqlite.ErrEventIDReused),
		errors.Is(err, sqlite.ErrReadOnly),
		errors.Is(err, sqlite.ErrCorrupt),
		errors.Is(err, sqlite.ErrNotDatabase):
		return false
	}
	return true
}

// withRecorded returns the metadata of a copied event: meta with the field "recorded" set to the time
// the source recorded the event, inserted before the closing brace so that every other byte stays as
// it was (after an encoding/json Metadata the result is what encoding/json makes of it with Recorded
// set). Metadata that already has "recorded" (a copy of a copy keeps the first original time), that is
// not a JSON object (copied unchanged for the verifier to report), or a zero time leave meta as it is.
func withRecorded(meta []byte, recorded time.Time) []byte {
	trimmed := bytes.TrimSpace(meta)
	if recorded.IsZero() || len(trimmed) < 2 || trimmed[0] != '{' || trimmed[len(trimmed)-1] != '}' {
		return meta
	}
	var has struct {
		Recorded json.RawMessage `json:"recorded"`
	}
	if err := json.Unmarshal(trimmed, &has); err != nil || has.Recorded != nil {
		return meta
	}
	stamp, err := json.Marshal(recorded.UTC())
	if err != nil {
		return meta
	}
	body := bytes.TrimSpace(trimmed[1 : len(trimmed)-1])
	out := make([]byte, 0, len(trimmed)+len(stamp)+16)
	out = append(out, trimmed[:len(trimmed)-1]...)
	if len(body) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"recorded":`...)
	out = append(out, stamp...)
	return append(out, '}')
}

// check verifies every hash chain of dst and compares it with src up to position until (the last event
// copied): the same number of streams and events and the same digest.
func (c *copier) check(ctx context.Context, out *errWriter, src, dst *auditStore, until eventstore.Position, bars bool) error {
	var (
		wg               sync.WaitGroup
		srcSum           eventstore.VerifySummary
		srcFirst, srcErr error
		dstFirst, dstErr error
		dstSum           eventstore.VerifySummary
		dstBar           = newProgress(c.stderr, bars, "verify", dst.total(ctx, eventstore.Position{}))
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		v := eventstore.NewVerifier()
		if !until.IsZero() {
			for ev, err := range src.ReadAll(ctx, eventstore.Position{}) {
				if err != nil {
					srcErr = fmt.Errorf("verify %s: %w", src.name, err)
					break
				}
				if until.Before(ev.Position) {
					break
				}
				if err := v.Check(ev); err != nil && srcFirst == nil {
					srcFirst = err
				}
			}
		}
		srcSum = v.Summary()
	}()
	v := eventstore.NewVerifier()
	for ev, err := range dst.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			dstErr = fmt.Errorf("verify %s: %w", dst.name, err)
			break
		}
		dstBar.event(ev)
		if err := v.Check(ev); err != nil && dstFirst == nil {
			dstFirst = err
		}
	}
	dstBar.done()
	dstSum = v.Summary()
	wg.Wait()
	if err := errors.Join(dstErr, srcErr); err != nil {
		return err
	}

	out.printf("verified  target: %d events in %d streams", dstSum.Events, dstSum.Streams)
	if dstSum.Errors == 0 {
		out.printf(", every hash chain holds\n")
	} else {
		out.printf(", %d broken\n", dstSum.Errors)
	}
	out.printf("source    %d events in %d streams", srcSum.Events, srcSum.Streams)
	if srcSum.Errors > 0 {
		out.printf(", %d broken", srcSum.Errors)
	}
	out.printf("\n")
	out.printf("digest    %s (source: %s)\n", dstSum.Digest, srcSum.Digest)

	var problem error
	switch {
	case dstSum.Errors > 0 && srcSum.Errors > 0 && dstSum.Digest == srcSum.Digest && dstSum.Events == srcSum.Events:
		problem = fmt.Errorf("the copy is faithful, but the source itself does not verify (%d of %d events broken), first: %w", srcSum.Errors, srcSum.Events, srcFirst)
	case dstSum.Errors > 0:
		problem = fmt.Errorf("the target does not verify (%d of %d events broken), first: %w", dstSum.Errors, dstSum.Events, dstFirst)
	case dstSum.Events != srcSum.Events || dstSum.Streams != srcSum.Streams:
		problem = fmt.Errorf("the target holds %d events in %d streams, the source %d in %d (was the target written by something else?)",
			dstSum.Events, dstSum.Streams, srcSum.Events, srcSum.Streams)
	case dstSum.Digest != srcSum.Digest:
		problem = fmt.Errorf("the target's digest %s is not the source's %s: their streams end at other revisions or hashes", dstSum.Digest, srcSum.Digest)
	}
	if problem != nil {
		out.printf("result    FAILED: %v\n", problem)
		if out.err != nil {
			return fmt.Errorf("copy: %w", out.err)
		}
		return &exitError{code: 1, err: fmt.Errorf("copy %s to %s: %w", src.name, dst.name, problem)}
	}
	out.printf("result    OK: the target holds the source's %d events, each with its stream, revision, ID, type, data and metadata (plus the original recorded time)\n", srcSum.Events)
	if head, err := src.Head(ctx); err == nil && until.Before(head) {
		out.printf("note      the source has grown since it was read (head %s, copied up to %s): run csc copy again for the rest\n", head, until)
	}
	if out.err != nil {
		return fmt.Errorf("copy: %w", out.err)
	}
	return nil
}
