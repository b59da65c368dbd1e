package http

import (
	"net/http"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/projections"
)

// JoinRequest is the body of POST /v1/cities: the city that joins the collaboratory after its launch.
type JoinRequest struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Country string `json:"country"`
}

func (s *Server) handleJoinCity(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	wr, err := s.prepareWrite(w, r, "joinCity", domain.CmdJoin, &req, false)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	cmd := domain.JoinCollaboratory{City: domain.City{ID: req.ID, Name: req.Name, Country: req.Country}}
	res, err := s.runCollaboratory(r, wr, cmd)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	written(w, http.StatusCreated, res, WriteResult{ID: req.ID}, "/v1/progress/"+req.ID)
}

// Roster is the body of GET /v1/cities: the cities taking part and their members.
type Roster struct {
	Position string `json:"position"`
	AsOf     string `json:"asOf"`
	projections.Roster
}

func (s *Server) handleListCities(w http.ResponseWriter, r *http.Request) {
	view, err := s.readView(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Roster{Position: view.position(), AsOf: view.asOf(), Roster: view.models.Roster()})
}

// ActivityFeed is the body of GET /v1/activity: the latest events in plain words, newest first.
type ActivityFeed struct {
	Position string                 `json:"position"`
	AsOf     string                 `json:"asOf"`
	Activity []projections.Activity `json:"activity"`
}

// handleActivity serves the activity feed: ?limit=<1..1000> entries (50 by default).
func (s *Server) handleActivity(w http.ResponseWriter, r *http.Request) {
	limit := projections.DefaultActivity
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := parseLimit(v)
		if err != nil {
			s.problem(w, r, err)
			return
		}
		limit = n
	}
	view, err := s.readView(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	feed := view.models.Activity(limit)
	if feed == nil {
		feed = []projections.Activity{}
	}
	writeJSON(w, http.StatusOK, ActivityFeed{Position: view.position(), AsOf: view.asOf(), Activity: feed})
}
