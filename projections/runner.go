package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// ErrStopped is returned by WaitFor when the runner has stopped (its Run returned) before the read
// models reached the position waited for.
var ErrStopped = errors.New("projections: runner stopped")

// ErrNotRunning is returned by Rebuild when Run is not running.
var ErrNotRunning = errors.New("projections: runner not running")

// errRebuild ends a cycle of Run to start a new one from scratch.
var errRebuild = errors.New("rebuild requested")

// Options configure a Runner. The zero value is usable.
type Options struct {
	// Logger receives the runner's messages (unknown event types, failures); nil discards them.
	Logger *slog.Logger
	// Registerer receives the runner's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock of the lag metric; time.Now when nil. (Queries take their own time.)
	Now func() time.Time
}

// maxLockedEvents bounds the events applied under one hold of the write lock while live, so that a
// burst of appends never keeps queries waiting long.
const maxLockedEvents = 4096

// Runner feeds the read models: it reads $all from the start, applies every event to a fresh set
// of read models, publishes them once they have caught up with the head of the log as it was when
// the read began, and then follows live appends through the store's subscription, applying them in
// batches. Rebuild builds a new set from scratch while the current one keeps answering queries, and
// swaps it in once it has caught up.
//
// An event of a type the codec does not know is skipped, counted and logged (forward
// compatibility). An event of a known type that does not decode stops Run with an error naming its
// position, stream and type: nothing is ever skipped silently.
type Runner struct {
	store eventstore.Store
	dec   *decoder
	log   *slog.Logger
	now   func() time.Time

	models  atomic.Pointer[Models]
	running atomic.Bool
	ready   atomic.Bool
	rebuild chan chan error

	mu      sync.Mutex
	pos     eventstore.Position // position of the published models
	changed chan struct{}       // closed and replaced when pos or stopErr changes
	stopErr error               // why the last Run ended; nil while running or before the first Run

	lastRecorded atomic.Int64 // recorded time (Unix ns) of the last event applied to the published models
	unknownSeen  map[string]bool
	metrics      *runnerMetrics
}

// NewRunner returns a runner over store that decodes events with codec. It does not read anything
// before Run. When opts.Registerer refuses the metrics (e.g. they are registered twice), the runner
// logs the error and works without them.
func NewRunner(store eventstore.Store, codec *domain.Codec, opts Options) *Runner {
	r := &Runner{
		store:       store,
		dec:         newDecoder(codec),
		log:         opts.Logger,
		now:         opts.Now,
		rebuild:     make(chan chan error),
		changed:     make(chan struct{}),
		unknownSeen: make(map[string]bool),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.models.Store(newModels(indexedState()))
	if opts.Registerer != nil {
		m, err := newRunnerMetrics(r, opts.Registerer)
		if err != nil {
			r.log.Error("projections: metrics not registered", "err", err)
		}
		r.metrics = m
	}
	return r
}

// indexedState is an empty state ready for live updates.
func indexedState() *state {
	s := newState()
	s.indexed = true
	return s
}

// Models returns the live read models (empty until the first catch-up is done). The value changes
// when a rebuild is swapped in: take it again for each query.
func (r *Runner) Models() *Models { return r.models.Load() }

// Position returns the position the live read models have reached.
func (r *Runner) Position() eventstore.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos
}

// Ready reports whether the read models have caught up with the head of the log as it was when Run
// started (it stays true during a later rebuild, whose models are swapped in only once caught up),
// and Run has not ended since: once Run returns, the models no longer follow the log and Ready is
// false (see Stopped).
func (r *Runner) Ready() bool { return r.ready.Load() }

// Stopped returns why the last Run ended: ErrStopped when its context ended, else the error that
// stopped it. It is nil while Run runs and before the first Run.
func (r *Runner) Stopped() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopErr
}

// WaitFor returns when the live read models include the event at position p (read your writes),
// when ctx ends (with its error), or when the runner stops first (ErrStopped, or the error that
// stopped it). It wakes on every change of position; it does not poll.
func (r *Runner) WaitFor(ctx context.Context, p eventstore.Position) error {
	for {
		r.mu.Lock()
		pos, changed, stopErr := r.pos, r.changed, r.stopErr
		r.mu.Unlock()
		if !pos.Before(p) {
			return nil
		}
		if stopErr != nil {
			return fmt.Errorf("wait for position %s (at %s): %w", p, pos, stopErr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for position %s (at %s): %w", p, pos, ctx.Err())
		}
	}
}

// Rebuild builds the read models again from the start of the log, while the current ones keep
// answering queries, and returns once the new models have caught up and replaced them. It needs Run
// to be running (ErrNotRunning otherwise). If ctx ends first, Rebuild returns ctx's error and the
// rebuild goes on.
func (r *Runner) Rebuild(ctx context.Context) error {
	if !r.running.Load() {
		return ErrNotRunning
	}
	reply := make(chan error, 1)
	select {
	case r.rebuild <- reply:
	case <-ctx.Done():
		return fmt.Errorf("rebuild: %w", ctx.Err())
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("rebuild: %w", ctx.Err())
	}
}

// Run catches up with the log, then follows it live until ctx ends (it then returns nil) or an
// error stops it: the store fails, or an event of a known type does not decode. Run may be called
// again after it returned (it starts from scratch), but not twice at once.
func (r *Runner) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("projections: run: the runner is already running")
	}
	defer r.running.Store(false)
	r.setStopErr(nil)
	var waiters []chan error
	for {
		err := r.cycle(ctx, &waiters)
		if errors.Is(err, errRebuild) {
			continue
		}
		stopErr := err
		if ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err())) {
			err, stopErr = nil, ErrStopped
		} else {
			r.log.Error("projections: runner stopped", "err", err)
		}
		for _, w := range waiters {
			w <- fmt.Errorf("rebuild: %w", stopErr)
		}
		r.drainRebuilds(stopErr)
		r.ready.Store(false) // before stopErr is set: a caller that sees Stopped sees Ready false
		r.setStopErr(stopErr)
		return err
	}
}

// drainRebuilds answers Rebuild calls that sent their request as Run was ending.
func (r *Runner) drainRebuilds(err error) {
	for {
		select {
		case w := <-r.rebuild:
			w <- fmt.Errorf("rebuild: %w", err)
		default:
			return
		}
	}
}

func (r *Runner) setStopErr(err error) {
	r.mu.Lock()
	r.stopErr = err
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *Runner) setPosition(p eventstore.Position) {
	r.mu.Lock()
	r.pos = p
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	if r.metrics != nil {
		r.metrics.position.Set(float64(p.Commit))
	}
}

// cycle builds a fresh state from the start of the log, publishes it once it has reached the head
// the log had when the cycle began, and then applies live events to it. It returns errRebuild when
// a rebuild is requested after the publication (the request joins waiters, answered when the next
// cycle publishes), or the error that ends Run.
func (r *Runner) cycle(ctx context.Context, waiters *[]chan error) error {
	head, err := r.store.Head(ctx)
	if err != nil {
		return fmt.Errorf("projections: read the head of the log: %w", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	p := feed(cctx, subscribeAll(cctx, r.store, eventstore.Position{}), r.dec, true, head)
	defer func() {
		cancel()
		p.stop()
	}()
	start := r.now()
	s := newState()
	var live *Models
	publish := func() {
		s.reindex()
		live = newModels(s)
		r.models.Store(live)
		r.ready.Store(true) // before the position moves: a WaitFor that returns sees Ready
		r.setPosition(s.pos)
		for _, w := range *waiters {
			w <- nil
		}
		*waiters = nil
		if r.metrics != nil {
			r.metrics.rebuilds.Inc()
		}
		r.log.Info("projections: read models caught up", "position", s.pos.String(), "events", s.applied,
			"skipped", s.skipped, "took", r.now().Sub(start).String())
	}
	if head.IsZero() {
		publish()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case w := <-r.rebuild:
			*waiters = append(*waiters, w)
			if live != nil {
				return errRebuild
			}
		case out, ok := <-p.results:
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				return errors.New("projections: the subscription to $all ended")
			}
			b := <-out
			if live == nil {
				err = r.applyBatch(s, b)
				p.recycle(b)
				if err == nil && !s.pos.Before(head) {
					publish()
				}
			} else {
				err = r.applyLive(live, s, b, p)
			}
			if err != nil {
				return err
			}
		}
	}
}

// applyLive applies b and whatever further batches are ready (up to maxLockedEvents events) under
// one hold of the write lock, then publishes the new progress view and the new position.
func (r *Runner) applyLive(m *Models, s *state, b decodedBatch, p *pipeline) error {
	m.mu.Lock()
	err := r.applyBatch(s, b)
	n := len(b.facts)
	p.recycle(b)
more:
	for err == nil && n < maxLockedEvents {
		select {
		case out, ok := <-p.results:
			if !ok {
				break more
			}
			b := <-out
			err = r.applyBatch(s, b)
			n += len(b.facts)
			p.recycle(b)
		default:
			break more
		}
	}
	m.mu.Unlock()
	m.publishProgress() // before the position moves: a WaitFor that returns sees the view
	r.setPosition(s.pos)
	return err
}

// applyBatch applies a batch of facts to s and returns the batch's error, if any.
func (r *Runner) applyBatch(s *state, b decodedBatch) error {
	known := 0
	for i := range b.facts {
		f := &b.facts[i]
		if f.change.kind == 0 {
			r.unknown(f)
		} else {
			known++
		}
		s.apply(f)
	}
	if n := len(b.facts); n > 0 {
		r.lastRecorded.Store(b.facts[n-1].recorded.UnixNano())
	}
	if r.metrics != nil && known > 0 {
		r.metrics.applied.Add(float64(known))
	}
	if b.err != nil {
		return fmt.Errorf("projections: %w", b.err)
	}
	return nil
}

// unknown counts and logs an event of an unknown type: the first of each type at warning level,
// the others at debug level.
func (r *Runner) unknown(f *fact) {
	if r.metrics != nil {
		r.metrics.unknown.Inc()
	}
	level := slog.LevelDebug
	if !r.unknownSeen[f.typ] {
		r.unknownSeen[f.typ] = true
		level = slog.LevelWarn
	}
	r.log.Log(context.Background(), level, "projections: skipped an event of unknown type",
		"type", f.typ, "position", f.pos.String(), "stream", f.stream, "revision", f.revision)
}
