package projections

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// logBuilder writes a log by hand: each event gets the next position, its stream's next revision,
// metadata with actor, role and schema version, and the given recorded time.
type logBuilder struct {
	t      testing.TB
	codec  *domain.Codec
	events []eventstore.RecordedEvent
	revs   map[string]uint64
}

func newLog(t testing.TB) *logBuilder {
	return &logBuilder{t: t, codec: domain.NewCodec(), revs: make(map[string]uint64)}
}

// actor is who records an event.
type actor struct{ id, role string }

func coord() actor { return actor{"coordinator-1", "coordinator"} }

func streamOf(e domain.Event) string {
	if ie, ok := e.(domain.ItemEvent); ok {
		id, _ := ie.Item()
		return domain.ItemStream(id)
	}
	return domain.CollaboratoryStream(domain.PilotSlug)
}

// add records e at time at by who.
func (l *logBuilder) add(at time.Time, who actor, e domain.Event) *logBuilder {
	l.t.Helper()
	typ, data, version, err := l.codec.Encode(e)
	if err != nil {
		l.t.Fatalf("encode %T: %v", e, err)
	}
	md, err := json.Marshal(eventstore.Metadata{Actor: who.id, Role: who.role, SchemaVersion: version})
	if err != nil {
		l.t.Fatal(err)
	}
	return l.raw(at, streamOf(e), typ, data, md)
}

// raw records an event given in stored form.
func (l *logBuilder) raw(at time.Time, stream, typ string, data, md []byte) *logBuilder {
	n := uint64(len(l.events) + 1)
	rev := l.revs[stream]
	l.revs[stream] = rev + 1
	l.events = append(l.events, eventstore.RecordedEvent{
		ID: uuid.New(), Stream: stream, Revision: rev, Position: eventstore.Position{Commit: n, Prepare: n},
		Type: typ, Data: data, Metadata: md, Recorded: at.UTC(),
	})
	return l
}

// models folds the log into read models, failing the test on a decoding error.
func (l *logBuilder) models() *Models {
	l.t.Helper()
	s, err := foldEvents(l.events)
	if err != nil {
		l.t.Fatal(err)
	}
	return newModels(s)
}

// foldEvents decodes and applies events in order, as the runner does, and indexes the state.
func foldEvents(events []eventstore.RecordedEvent) (*state, error) {
	dec := newDecoder(domain.NewCodec())
	s := newState()
	for _, e := range events {
		f, err := dec.decode(e)
		if err != nil {
			return nil, err
		}
		s.apply(&f)
	}
	s.reindex()
	return s, nil
}

// appendAll appends the log's events to store, one append per event, at their revisions.
func (l *logBuilder) appendAll(ctx context.Context, store eventstore.Store) {
	l.t.Helper()
	for _, e := range l.events {
		exp := eventstore.NoStream()
		if e.Revision > 0 {
			exp = eventstore.Exact(e.Revision - 1)
		}
		if _, err := store.Append(ctx, e.Stream, exp, []eventstore.EventData{{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata}}); err != nil {
			l.t.Fatal(err)
		}
	}
}

func day(s string) domain.Date {
	d, err := domain.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

// dump is every query of a Models value at one time, taken under one read lock, for comparing two
// models (a live one and a replay, an as-of one and a captured one).
type dump struct {
	Position eventstore.Position
	Stats    Stats
	Progress []CityProgress
	// ProgressAt is the position of the progress view the Progress rows come from; it must be
	// Position.
	ProgressAt eventstore.Position
	Matrix     Matrix
	Items      []ItemSummary
	Details    []ItemDetail
	Roster     Roster
	Activity   []Activity
	PerHealth  map[Health]int
}

func dumpModels(m *Models, now time.Time) dump {
	d := dump{
		Position: m.Position(), Stats: m.Stats(), Progress: m.Progress(now), ProgressAt: m.ProgressView().Position(), Matrix: m.Matrix(),
		Items: m.Items(ItemFilter{}, now), Roster: m.Roster(), Activity: m.Activity(activityCap),
		PerHealth: make(map[Health]int),
	}
	for _, it := range d.Items {
		detail, ok := m.Item(it.ID, now)
		if !ok {
			panic("listed item without detail: " + it.ID)
		}
		d.Details = append(d.Details, detail)
		d.PerHealth[it.Health]++
	}
	return d
}

// lockedDump takes a dump while holding the models' read lock, so that it is of one position.
func lockedDump(m *Models, now time.Time) dump {
	m.mu.RLock()
	s := m.s
	m.mu.RUnlock()
	frozen := &Models{s: s}
	frozen.progress.Store(m.ProgressView())
	m.mu.RLock()
	defer m.mu.RUnlock()
	return dumpModels(frozen, now)
}
