package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrConflict is matched (errors.Is) by the error Execute returns when the stream kept changing under
// the command until its retries ran out.
var ErrConflict = errors.New("concurrency conflict")

// ErrIdempotencyMismatch is matched (errors.Is) by the error Execute returns when a command reuses
// the ID of a command already recorded in the stream with another Command.Hash.
var ErrIdempotencyMismatch = errors.New("command ID already used with other input")

// ErrStaleRevision is matched (errors.Is) by every *StaleRevisionError.
var ErrStaleRevision = errors.New("stale revision")

// StaleRevisionError reports a command whose Command.IfRevision did not hold: the stream is not at the
// revision the caller saw (HTTP: If-Match, 412). It is not retried.
type StaleRevisionError struct {
	Stream   string
	Expected uint64
	// Actual is the stream's current revision; Exists is false when the stream does not exist.
	Actual uint64
	Exists bool
}

func (e *StaleRevisionError) Error() string {
	actual := "no stream"
	if e.Exists {
		actual = strconv.FormatUint(e.Actual, 10)
	}
	return fmt.Sprintf("execute on %s: %v: expected revision %d, stream is at %s", e.Stream, ErrStaleRevision, e.Expected, actual)
}

// Is makes errors.Is(err, ErrStaleRevision) true.
func (e *StaleRevisionError) Is(target error) bool { return target == ErrStaleRevision }

// Codec turns events of type E into stored form and back (the domain provides one).
type Codec[E any] interface {
	Encode(e E) (typ string, data []byte, schemaVersion int, err error)
	Decode(typ string, schemaVersion int, data []byte) (E, error)
}

// Command is what the engine needs to know about a command besides its decision.
type Command struct {
	ID                         uuid.UUID // the command ID (HTTP Idempotency-Key, or a fresh UUID); required
	Name                       string    // e.g. "approve", for metrics and errors
	Actor, Role, City          string
	CorrelationID, CausationID string // each defaults to the command ID
	// Hash is a digest of the command input: a command with a recorded ID but another Hash is refused
	// with ErrIdempotencyMismatch.
	Hash string
	// IfRevision, when set, requires the stream to be at exactly this revision (HTTP If-Match);
	// otherwise Execute returns a *StaleRevisionError without retrying.
	IfRevision *uint64
	// Recorded, when set, is the time this command is recorded as having happened, for imported or
	// seeded history (the demo): it is stamped, in UTC, into the Metadata.Recorded of every event the
	// command appends, which makes it the events' effective time (EffectiveTime) for the read models,
	// their as-of views and exports, instead of the time the store commits them. It is not covered by
	// the chain hash, so it changes neither the hash nor the event IDs, and it is not compared on a
	// replay: fold it into Hash to have a reuse of the command ID with another Recorded refused.
	// A zero time is refused.
	//
	// As-of views take the longest prefix of $all whose effective times are at or before the moment
	// asked for, so back-dated history is seen consistently only when it is written in chronological
	// order across all streams and before any event recorded at its store's time (on a new store).
	Recorded *time.Time
	// NewStream tells the engine that the stream cannot exist yet: its name was derived from an ID
	// made for this very command (never from one a client chose, which a retry would send again).
	// The engine then decides on the initial state without reading the stream (unless its cache
	// holds it) and appends expecting no stream. It is only a saving: should the stream exist after
	// all, that append fails, and the engine reads the stream and decides again as usual.
	NewStream bool
}

// Result is what a command did.
type Result struct {
	// Revision and Position are those of the command's last event, or the stream's current ones if it
	// emitted none (0 and the zero Position for a stream that does not exist).
	Revision uint64
	Position Position
	// Appended is the number of events the command appended (for a replay: appended the first time).
	Appended int
	// Replayed is true when the command ID was already recorded in the stream and this is that
	// earlier result; nothing was decided or appended.
	Replayed bool
}

// EngineOptions configure an Engine. The zero value is usable.
type EngineOptions struct {
	Name string // aggregate name for metrics labels, e.g. "roadmap_item"; required with a Registerer
	// MaxRetries bounds how often a command is decided again after a concurrent append to its stream:
	// 0 means the default (5), a negative value means never (the first conflict is ErrConflict).
	MaxRetries int
	// CacheSize is the number of streams kept folded: 0 means the default (10,000), a negative value
	// turns the cache off (every command reads its stream from the start).
	CacheSize int
	// Registerer receives the engine's metrics; nil means no metrics.
	Registerer prometheus.Registerer
}

const (
	defaultMaxRetries = 5
	defaultCacheSize  = 10_000
)

// Engine runs commands against the streams of one aggregate type: it loads a stream (from its cache of
// folded states, or from the store), folds it with evolve, lets a decider choose the new events, and
// appends them at the exact revision it decided on, retrying on concurrent appends.
//
// Idempotency: every event carries its command's ID in its metadata, so a command whose ID is already
// recorded in the stream is not decided again: Execute returns the recorded result with Replayed set.
// Event IDs are derived from the command ID, the event's index in the command and the event's chain hash
// (UUIDv5 in the command ID's namespace), so two executions racing with the same decision produce the
// same IDs and the store's idempotent re-append keeps one copy, while executions that decided
// differently (another clock reading, say) have different IDs, lose the race on the expected revision,
// reload, and replay the winner's result. An event the store accepted is therefore always the event the
// engine folded into its cache.
//
// Hash chain: each event's metadata carries the hash of the stream's previous event (PrevHash) and its
// own (Hash, see HashEvent), so a Verifier can check every stream end to end on any store.
//
// States are cached and shared between goroutines: evolve must not mutate its input state (copy maps
// and slices before changing them) and decide must not mutate the state it is given.
//
// An Engine is safe for concurrent use. Commands on one stream run one at a time within an engine (each
// waits for the one before it to be appended), so the commands of one process never conflict with
// each other: the retries are for other engines and processes. Commands on different streams run
// concurrently. Its cache only sees the appends made through it: when other engines or processes
// append to the same streams, Execute still decides on current state (a stale cache entry fails the
// append at the exact revision, and the stream is reloaded), but Load may return an older state.
type Engine[S, E any] struct {
	store      Store
	codec      Codec[E]
	initial    S
	evolve     func(S, E) S
	maxRetries int
	cache      *stateCache[S] // nil: off
	metrics    *engineMetrics // nil: none
	locks      streamLocks
}

// NewEngine returns an engine for the aggregate whose streams fold from initial with evolve.
func NewEngine[S, E any](store Store, codec Codec[E], initial S, evolve func(S, E) S, opts EngineOptions) (*Engine[S, E], error) {
	if store == nil || codec == nil || evolve == nil {
		return nil, errors.New("new engine: store, codec and evolve are required")
	}
	e := &Engine[S, E]{store: store, codec: codec, initial: initial, evolve: evolve}
	switch {
	case opts.MaxRetries == 0:
		e.maxRetries = defaultMaxRetries
	case opts.MaxRetries > 0:
		e.maxRetries = opts.MaxRetries
	}
	switch {
	case opts.CacheSize == 0:
		e.cache = newStateCache[S](defaultCacheSize)
	case opts.CacheSize > 0:
		e.cache = newStateCache[S](opts.CacheSize)
	}
	if opts.Registerer != nil {
		if opts.Name == "" {
			return nil, errors.New("new engine: a Name is required with a Registerer")
		}
		m, err := newEngineMetrics(opts.Name, opts.Registerer)
		if err != nil {
			return nil, fmt.Errorf("new engine %s: %w", opts.Name, err)
		}
		e.metrics = m
	}
	return e, nil
}

// Load returns the folded state of stream, its revision and whether it exists, from the cache when it
// holds the stream (see Engine about other writers), else from the store.
func (e *Engine[S, E]) Load(ctx context.Context, stream string) (state S, revision uint64, exists bool, err error) {
	snap, _, err := e.snapshot(ctx, stream, false)
	if err != nil {
		return e.initial, 0, false, err
	}
	return snap.state, snap.revision, snap.exists, nil
}

// Execute runs one command against stream. decide gets the folded state (the initial state and false
// for a stream that does not exist) and returns the events to append, or an error that refuses the
// command: that error is returned wrapped with the command and stream (errors.As finds it).
//
// Execute returns the recorded result when the command ID is already in the stream (an error matching
// ErrIdempotencyMismatch when Command.Hash differs), a *StaleRevisionError when Command.IfRevision does
// not hold, and an error matching ErrConflict when concurrent appends outlast the retries. A command
// that emits no events appends nothing and is not recorded (a retry of it decides again).
// decide may be called several times (once per attempt) and must not have side effects.
func (e *Engine[S, E]) Execute(ctx context.Context, stream string, cmd Command, decide func(state S, exists bool) ([]E, error)) (Result, error) {
	start := time.Now()
	res, outcome, err := e.execute(ctx, stream, cmd, decide)
	if e.metrics != nil {
		e.metrics.commands.WithLabelValues(cmd.Name, outcome).Inc()
		e.metrics.latency.WithLabelValues(cmd.Name).Observe(time.Since(start).Seconds())
	}
	return res, err
}

// Command outcomes, the "outcome" label of the commands metric.
const (
	outcomeOK       = "ok"
	outcomeReplayed = "replayed"
	outcomeRejected = "rejected" // refused by the decider, or an idempotency mismatch
	outcomeConflict = "conflict" // retries exhausted
	outcomeStale    = "stale"    // Command.IfRevision does not hold
	outcomeError    = "error"    // store or codec failure
)

func (e *Engine[S, E]) execute(ctx context.Context, stream string, cmd Command, decide func(S, bool) ([]E, error)) (Result, string, error) {
	if cmd.ID == uuid.Nil {
		return Result{}, outcomeRejected, fmt.Errorf("%s %s: command without an ID", cmd.Name, stream)
	}
	if cmd.Recorded != nil && cmd.Recorded.IsZero() {
		return Result{}, outcomeRejected, fmt.Errorf("%s %s: command %s: zero recorded time", cmd.Name, stream, cmd.ID)
	}
	unlock, err := e.locks.lock(ctx, stream)
	if err != nil {
		return Result{}, outcomeError, fmt.Errorf("%s %s: waiting for the command before it: %w", cmd.Name, stream, err)
	}
	defer unlock()
	failed := 0                // appends refused for a wrong expected revision
	fresh := false             // read the stream from the store, not the cache
	assumeNew := cmd.NewStream // decide on the initial state when the cache does not hold the stream
	for {
		var (
			snap   *snapshot[S]
			cached bool
			err    error
		)
		if assumeNew {
			snap, cached = e.assumedNew(stream)
		} else {
			snap, cached, err = e.snapshot(ctx, stream, fresh)
		}
		if err != nil {
			return Result{}, outcomeError, fmt.Errorf("%s %s: %w", cmd.Name, stream, err)
		}

		if rec, ok := snap.commands.lookup(cmd.ID, snap.revision); ok {
			if rec.hash != cmd.Hash {
				return Result{}, outcomeRejected, fmt.Errorf("%s %s: command %s: %w", cmd.Name, stream, cmd.ID, ErrIdempotencyMismatch)
			}
			return Result{Revision: rec.revision, Position: rec.position, Appended: rec.count, Replayed: true}, outcomeReplayed, nil
		}

		if want := cmd.IfRevision; want != nil && (!snap.exists || snap.revision != *want) {
			// A cached snapshot behind the wanted revision may be stale: ask the store before refusing.
			if cached && (!snap.exists || snap.revision < *want) {
				fresh = true
				continue
			}
			return Result{}, outcomeStale, &StaleRevisionError{Stream: stream, Expected: *want, Actual: snap.revision, Exists: snap.exists}
		}

		if failed > e.maxRetries {
			return Result{}, outcomeConflict, fmt.Errorf("%s %s: %w: the stream changed during %d attempts", cmd.Name, stream, ErrConflict, failed)
		}
		if failed > 0 && e.metrics != nil {
			e.metrics.retries.WithLabelValues(cmd.Name).Inc()
		}

		events, err := decide(snap.state, snap.exists)
		if err != nil {
			return Result{}, outcomeRejected, fmt.Errorf("%s %s: %w", cmd.Name, stream, err)
		}
		if len(events) == 0 {
			return Result{Revision: snap.revision, Position: snap.position}, outcomeOK, nil
		}

		batch, next, err := e.prepare(stream, cmd, snap, events)
		if err != nil {
			return Result{}, outcomeError, fmt.Errorf("%s %s: %w", cmd.Name, stream, err)
		}
		expected := NoStream()
		if snap.exists {
			expected = Exact(snap.revision)
		}
		ar, err := e.store.Append(ctx, stream, expected, batch.data)
		if err != nil {
			e.dropCache(stream)
			if errors.Is(err, ErrWrongRevision) {
				if assumeNew && !snap.exists {
					// The stream exists after all: read it and decide again (not a conflict).
					assumeNew, fresh = false, true
					continue
				}
				failed++
				fresh = true
				continue
			}
			return Result{}, outcomeError, fmt.Errorf("%s %s: append: %w", cmd.Name, stream, err)
		}
		if ar.Revision != next.revision {
			e.dropCache(stream)
			return Result{}, outcomeError, fmt.Errorf("%s %s: append: the store reports revision %d, expected %d", cmd.Name, stream, ar.Revision, next.revision)
		}
		next.position = ar.Position
		next.commands.set(cmd.ID, commandRecord{hash: cmd.Hash, revision: ar.Revision, position: ar.Position, count: len(events)})
		if e.cache != nil {
			e.cache.put(stream, next)
		}
		if e.metrics != nil {
			for _, typ := range batch.types {
				e.metrics.events.WithLabelValues(typ).Inc()
			}
		}
		return Result{Revision: ar.Revision, Position: ar.Position, Appended: len(events)}, outcomeOK, nil
	}
}

func (e *Engine[S, E]) dropCache(stream string) {
	if e.cache != nil {
		e.cache.drop(stream)
	}
}

// batch is a command's events in stored form.
type batch struct {
	data  []EventData
	types []string
}

// prepare encodes the decided events, stamps and chains their metadata, derives their IDs, and folds
// them into the snapshot that follows snap once they are appended (its position is set by the caller).
// Each event is decoded back before anything is written: the engine never appends an event it could
// not read, and it folds exactly what a later load would fold.
func (e *Engine[S, E]) prepare(stream string, cmd Command, snap *snapshot[S], events []E) (batch, *snapshot[S], error) {
	md := Metadata{
		Actor:         cmd.Actor,
		Role:          cmd.Role,
		City:          cmd.City,
		CommandID:     cmd.ID.String(),
		CorrelationID: cmd.CorrelationID,
		CausationID:   cmd.CausationID,
		CommandHash:   cmd.Hash,
	}
	if cmd.Recorded != nil {
		recorded := cmd.Recorded.UTC()
		md.Recorded = &recorded
	}
	if md.CorrelationID == "" {
		md.CorrelationID = md.CommandID
	}
	if md.CausationID == "" {
		md.CausationID = md.CommandID
	}
	b := batch{data: make([]EventData, len(events)), types: make([]string, len(events))}
	state, prevHash := snap.state, snap.lastHash
	revision := snap.revision
	if snap.exists {
		revision++
	}
	for i, ev := range events {
		typ, data, version, err := e.codec.Encode(ev)
		if err != nil {
			return batch{}, nil, fmt.Errorf("encode event %d: %w", i, err)
		}
		stored, err := e.codec.Decode(typ, version, data)
		if err != nil {
			return batch{}, nil, fmt.Errorf("event %d (%s) does not decode back: %w", i, typ, err)
		}
		md.SchemaVersion = version
		md.PrevHash = prevHash
		md.Hash = ""
		hash, err := HashEvent(stream, revision, typ, data, md)
		if err != nil {
			return batch{}, nil, fmt.Errorf("event %d: %w", i, err)
		}
		md.Hash = hash
		mdJSON, err := marshalMetadata(md)
		if err != nil {
			return batch{}, nil, fmt.Errorf("event %d: encode metadata: %w", i, err)
		}
		b.data[i] = EventData{ID: EventID(cmd.ID, i, hash), Type: typ, Data: data, Metadata: mdJSON}
		b.types[i] = typ
		state = e.evolve(state, stored)
		prevHash = hash
		revision++
	}
	next := &snapshot[S]{
		state:    state,
		exists:   true,
		revision: revision - 1,
		lastHash: prevHash,
		commands: snap.commands,
	}
	return b, next, nil
}

// EventID is the ID the engine gives the index-th event (from 0) of command commandID whose chain hash
// is hash: the UUIDv5 (SHA-1) in the namespace commandID of the name "<index>:<hash>".
func EventID(commandID uuid.UUID, index int, hash string) uuid.UUID {
	var name [96]byte // "<index>:" and a SHA-256 in hex fit: no allocation
	return uuid.NewSHA1(commandID, append(append(strconv.AppendInt(name[:0], int64(index), 10), ':'), hash...))
}

// marshalMetadata is json.Marshal(md), byte for byte, without reflection: the engine encodes the
// metadata of every event it appends. A metadata with Recorded (back-dated commands, copies) goes
// through json.Marshal.
func marshalMetadata(md Metadata) ([]byte, error) {
	if md.Recorded != nil {
		return json.Marshal(md)
	}
	b := make([]byte, 0, 64+len(md.Actor)+len(md.Role)+len(md.City)+len(md.CommandID)+len(md.CorrelationID)+
		len(md.CausationID)+len(md.CommandHash)+len(md.PrevHash)+len(md.Hash)+8*10)
	b = append(b, '{')
	for _, f := range [...]struct{ key, value string }{
		{`"actor":`, md.Actor}, {`"role":`, md.Role}, {`"city":`, md.City}, {`"commandId":`, md.CommandID},
		{`"correlationId":`, md.CorrelationID}, {`"causationId":`, md.CausationID}, {`"commandHash":`, md.CommandHash},
	} {
		if f.value != "" { // omitempty
			b = appendJSONString(append(b, f.key...), f.value)
			b = append(b, ',')
		}
	}
	b = strconv.AppendInt(append(b, `"schemaVersion":`...), int64(md.SchemaVersion), 10)
	b = appendJSONString(append(b, `,"prevHash":`...), md.PrevHash)
	b = appendJSONString(append(b, `,"hash":`...), md.Hash)
	return append(b, '}'), nil
}

// appendJSONString appends s as encoding/json writes a string (with its default HTML escaping):
// quotes, backslashes and control characters escaped (\b \f \n \r \t, else \u00XX), <, > and &
// as \u003c \u003e \u0026, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// snapshot returns stream folded to its last event: the cached snapshot (cached true) unless fresh is
// set or there is none, else one read from the store (and then cached).
func (e *Engine[S, E]) snapshot(ctx context.Context, stream string, fresh bool) (snap *snapshot[S], cached bool, err error) {
	if e.cache != nil && !fresh {
		if snap, ok := e.cache.get(stream); ok {
			if e.metrics != nil {
				e.metrics.cacheHit.Inc()
			}
			return snap, true, nil
		}
	}
	if e.metrics != nil && !fresh && e.cache != nil {
		e.metrics.cacheMiss.Inc()
	}
	snap, err = e.read(ctx, stream)
	if err != nil {
		return nil, false, err
	}
	if e.cache != nil {
		e.cache.put(stream, snap)
	}
	return snap, false, nil
}

// assumedNew returns the cached snapshot of stream if the cache holds one (cached true), else the
// snapshot of a stream that does not exist, without reading the store (see Command.NewStream). The
// latter is not cached: only a store read or an accepted append makes a cached snapshot.
func (e *Engine[S, E]) assumedNew(stream string) (snap *snapshot[S], cached bool) {
	if e.cache != nil {
		if snap, ok := e.cache.get(stream); ok {
			if e.metrics != nil {
				e.metrics.cacheHit.Inc()
			}
			return snap, true
		}
		if e.metrics != nil {
			e.metrics.cacheMiss.Inc()
		}
	}
	return &snapshot[S]{state: e.initial, commands: newCommandIndex()}, false
}

// read folds stream from the store.
func (e *Engine[S, E]) read(ctx context.Context, stream string) (*snapshot[S], error) {
	snap := &snapshot[S]{state: e.initial, commands: newCommandIndex()}
	for ev, err := range e.store.ReadStream(ctx, stream, 0) {
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		var md Metadata
		if err := json.Unmarshal(ev.Metadata, &md); err != nil {
			return nil, fmt.Errorf("read %s: revision %d: decode metadata: %w", stream, ev.Revision, err)
		}
		decoded, err := e.codec.Decode(ev.Type, md.SchemaVersion, ev.Data)
		if err != nil {
			return nil, fmt.Errorf("read %s: revision %d: decode %s: %w", stream, ev.Revision, ev.Type, err)
		}
		snap.state = e.evolve(snap.state, decoded)
		snap.exists = true
		snap.revision = ev.Revision
		snap.position = ev.Position
		snap.lastHash = md.Hash
		if id, err := uuid.Parse(md.CommandID); err == nil {
			snap.commands.add(id, md.CommandHash, ev.Revision, ev.Position)
		}
	}
	return snap, nil
}

// engineMetrics are an engine's Prometheus collectors, labelled with the aggregate name.
type engineMetrics struct {
	commands *prometheus.CounterVec   // command, outcome
	latency  *prometheus.HistogramVec // command
	events   *prometheus.CounterVec   // type
	retries  *prometheus.CounterVec   // command
	cache    *prometheus.CounterVec   // result: hit, miss
	// cacheHit and cacheMiss are the two series of cache, looked up once (every command counts one).
	cacheHit, cacheMiss prometheus.Counter
}

func newEngineMetrics(aggregate string, reg prometheus.Registerer) (*engineMetrics, error) {
	labels := prometheus.Labels{"aggregate": aggregate}
	m := &engineMetrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "csc_engine_commands_total", ConstLabels: labels,
			Help: "Commands executed, by command name and outcome (ok, replayed, rejected, conflict, error).",
		}, []string{"command", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "csc_engine_command_duration_seconds", ConstLabels: labels,
			Help:    "Time to execute a command (load, decide, append, retries), by command name.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"command"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "csc_engine_events_appended_total", ConstLabels: labels,
			Help: "Events appended, by event type.",
		}, []string{"type"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "csc_engine_retries_total", ConstLabels: labels,
			Help: "Commands decided again after a concurrent append to their stream, by command name.",
		}, []string{"command"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "csc_engine_cache_lookups_total", ConstLabels: labels,
			Help: "Lookups of folded stream state in the engine cache, by result (hit, miss).",
		}, []string{"result"}),
	}
	m.cacheHit, m.cacheMiss = m.cache.WithLabelValues("hit"), m.cache.WithLabelValues("miss")
	collectors := []prometheus.Collector{m.commands, m.latency, m.events, m.retries, m.cache}
	for i, c := range collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range collectors[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// streamLocks lets one command at a time run on each stream. Its zero value is ready to use.
type streamLocks struct {
	mu   sync.Mutex
	m    map[string]*streamLock
	free []*streamLock // unused locks, kept for reuse (at most maxFreeLocks)
}

const maxFreeLocks = 256

// streamLock is held by the command running on a stream; users counts that command and the ones
// waiting, so the entry goes away with the last of them.
type streamLock struct {
	held  chan struct{} // a send takes the lock, a receive releases it
	users int
}

// lock waits until no other command runs on stream, or until ctx ends, and returns the function
// that lets the next one run.
func (l *streamLocks) lock(ctx context.Context, stream string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*streamLock)
	}
	sl := l.m[stream]
	if sl == nil {
		if n := len(l.free); n > 0 {
			sl, l.free = l.free[n-1], l.free[:n-1]
		} else {
			sl = &streamLock{held: make(chan struct{}, 1)}
		}
		l.m[stream] = sl
	}
	sl.users++
	l.mu.Unlock()
	unlock = func() {
		<-sl.held
		l.leave(stream, sl)
	}
	select {
	case sl.held <- struct{}{}: // free: the usual case, without waiting
		return unlock, nil
	default:
	}
	select {
	case sl.held <- struct{}{}:
		return unlock, nil
	case <-ctx.Done():
		l.leave(stream, sl)
		return nil, ctx.Err()
	}
}

func (l *streamLocks) leave(stream string, sl *streamLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sl.users--; sl.users == 0 {
		delete(l.m, stream)
		if len(l.free) < maxFreeLocks {
			l.free = append(l.free, sl)
		}
	}
}
