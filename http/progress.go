package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
// do not in time), then returns the live read models at now (503 while they are catching up or once
// the projections have stopped), or, with ?asOf=, read models built from the events recorded up to
// that time.
func (s *Server) readView(r *http.Request) (view, error) {
	params, err := parseReadParams(r)
	if err != nil {
		return view{}, err
	}
	if params.asOf.IsZero() {
		if err := s.runner.Stopped(); err != nil {
			return view{}, errProjectionsStopped(err)
		}
	}
	if !params.minPosition.IsZero() {
		// An as-of view is built from the store: it waits for the log's head. The live models wait for
		// the projections.
		wait := s.runner.WaitFor
		if !params.asOf.IsZero() {
			wait = s.waitForHead
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.readWait)
		err := wait(ctx, params.minPosition)
		cancel()
		if err != nil {
			if serr := s.runner.Stopped(); serr != nil && params.asOf.IsZero() {
				return view{}, errProjectionsStopped(serr) // they stopped while the read waited
			}
			if r.Context().Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return view{}, fmt.Errorf("wait for position %s: %w (within %v)", params.minPosition, errReadTimeout, s.readWait)
			}
			return view{}, fmt.Errorf("wait for position %s: %w", params.minPosition, err)
		}
	}
	if !params.asOf.IsZero() {
		head, err := s.store.Head(r.Context())
		if err != nil {
			return view{}, fmt.Errorf("read head: %w", err)
		}
		m, err := s.asOf.get(r.Context(), params.asOf, head)
		if err != nil {
			return view{}, fmt.Errorf("build read models as of %s: %w", params.asOf.Format(time.RFC3339Nano), err)
		}
		return view{models: m, at: params.asOf}, nil
	}
	if err := s.checkReady(); err != nil {
		return view{}, err
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
