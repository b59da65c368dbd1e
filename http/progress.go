package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/metropolis/csc/projections"
)

// view is the read models one read answers from: the live ones at now, or ones built as of a time.
type view struct {
	models *projections.Models
	at     time.Time // the moment health and overdue are evaluated at (UTC)
}

func (v view) position() string { return v.models.Position().String() }
func (v view) asOf() string     { return v.at.Format(time.RFC3339Nano) }

// readView waits, bounded by ReadWait, until the live read models include ?minPosition= (504 when they
// do not in time), then returns the live read models at now, or, with ?asOf=, read models built from
// the events recorded up to that time.
func (s *Server) readView(r *http.Request) (view, error) {
	params, err := parseReadParams(r)
	if err != nil {
		return view{}, err
	}
	if !params.minPosition.IsZero() {
		ctx, cancel := context.WithTimeout(r.Context(), s.readWait)
		err := s.runner.WaitFor(ctx, params.minPosition)
		cancel()
		if err != nil {
			if r.Context().Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return view{}, fmt.Errorf("wait for position %s: %w (within %v)", params.minPosition, errReadTimeout, s.readWait)
			}
			return view{}, fmt.Errorf("wait for position %s: %w", params.minPosition, err)
		}
	}
	if !params.asOf.IsZero() {
		m, err := s.asOf.get(r.Context(), params.asOf, s.now(), func(ctx context.Context) (*projections.Models, error) {
			return projections.BuildAsOf(ctx, s.store, s.codec, projections.AsOf{Time: params.asOf})
		})
		if err != nil {
			return view{}, fmt.Errorf("build read models as of %s: %w", params.asOf.Format(time.RFC3339Nano), err)
		}
		return view{models: m, at: params.asOf}, nil
	}
	return view{models: s.runner.Models(), at: s.now().UTC()}, nil
}

// Progress is the body of GET /v1/progress: one row per city taking part.
type Progress struct {
	Position string                     `json:"position"`
	AsOf     string                     `json:"asOf"`
	Cities   []projections.CityProgress `json:"cities"`
}

func (s *Server) handleProgress(w http.ResponseWriter, r *http.Request) {
	view, err := s.readView(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	pv := view.models.ProgressView() // the rows and their position, from one view
	rows := pv.Rows(view.at)
	if rows == nil {
		rows = []projections.CityProgress{}
	}
	writeJSON(w, http.StatusOK, Progress{Position: pv.Position().String(), AsOf: view.asOf(), Cities: rows})
}

// CityProgress is the body of GET /v1/progress/{city}: the city's row.
type CityProgress struct {
	Position string `json:"position"`
	AsOf     string `json:"asOf"`
	projections.CityProgress
}

func (s *Server) handleCityProgress(w http.ResponseWriter, r *http.Request) {
	city := pathVar(r, "city")
	view, err := s.readView(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	pv := view.models.ProgressView()
	row, ok := pv.City(city, view.at)
	if !ok {
		s.problem(w, r, errNotFound("no city "+city+" takes part in the collaboratory"))
		return
	}
	writeJSON(w, http.StatusOK, CityProgress{Position: pv.Position().String(), AsOf: view.asOf(), CityProgress: row})
}

// Matrix is the body of GET /v1/matrix.
type Matrix struct {
	Position string `json:"position"`
	AsOf     string `json:"asOf"`
	projections.Matrix
}

func (s *Server) handleMatrix(w http.ResponseWriter, r *http.Request) {
	view, err := s.readView(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Matrix{Position: view.position(), AsOf: view.asOf(), Matrix: view.models.Matrix()})
}

// asOfCacheSize is the number of past moments whose read models are kept.
const asOfCacheSize = 8

// asOfCache keeps the read models built as of recent past moments (a dashboard's date picker asks for
// the same day again and again, and a build replays the log up to that moment), and lets concurrent
// requests for one moment share one build. Only moments in the past are kept: events recorded later
// cannot change them. It is safe for concurrent use.
type asOfCache struct {
	mu      sync.Mutex
	entries map[time.Time]*asOfEntry
	order   []time.Time // oldest first
}

type asOfEntry struct {
	done   chan struct{} // closed when the build ended
	models *projections.Models
	err    error
}

// get returns the read models as of at, building them with build unless they are cached or being
// built. Moments at or after now are built for the caller alone and not kept.
func (c *asOfCache) get(ctx context.Context, at, now time.Time, build func(context.Context) (*projections.Models, error)) (*projections.Models, error) {
	if !at.Before(now) {
		return build(ctx)
	}
	key := at.UTC()
	c.mu.Lock()
	if c.entries == nil {
		c.entries = make(map[time.Time]*asOfEntry)
	}
	e, ok := c.entries[key]
	if !ok {
		e = &asOfEntry{done: make(chan struct{})}
		c.entries[key] = e
		c.order = append(c.order, key)
		if len(c.order) > asOfCacheSize {
			delete(c.entries, c.order[0])
			c.order = c.order[1:]
		}
		c.mu.Unlock()
		// The build outlives a caller that goes away: other callers may wait for it.
		e.models, e.err = build(context.WithoutCancel(ctx))
		close(e.done)
		if e.err != nil {
			c.forget(key, e)
		}
		return e.models, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.models, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// forget drops a failed build so that the next request tries again.
func (c *asOfCache) forget(key time.Time, e *asOfEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[key] == e {
		delete(c.entries, key)
		for i, k := range c.order {
			if k.Equal(key) {
				c.order = append(c.order[:i], c.order[i+1:]...)
				break
			}
		}
	}
}
