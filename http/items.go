package http

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/projections"
)

// ProposeRequest is the body of POST /v1/roadmap-items: the city and the item's fields. The item ID
// is not sent: it is derived from the command ID (Idempotency-Key), so a retry proposes the same item.
type ProposeRequest struct {
	City string `json:"city"`
	domain.ItemFields
}

// UpdateRequest is the body of POST /v1/roadmap-items/{id}/updates (the update ID is derived from the
// command ID).
type UpdateRequest struct {
	ProgressPercent   *int                `json:"progressPercent,omitempty"`
	Measurement       *domain.Measurement `json:"measurement,omitempty"`
	MilestonesReached []string            `json:"milestonesReached"`
	Narrative         string              `json:"narrative"`
	Evidence          []domain.Evidence   `json:"evidence"`
}

// Kinds of derived IDs (see derivedID).
const (
	derivedItem   = "roadmap-item"
	derivedUpdate = "roadmap-update"
	derivedMember = "member"
)

func (s *Server) handlePropose(w http.ResponseWriter, r *http.Request) {
	var req ProposeRequest
	wr, err := s.prepareWrite(w, r, "proposeItem", domain.CmdPropose, &req, false)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	cities, err := s.takingPart(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	itemID := proposalItemID(wr)
	cmd := domain.ProposeRoadmapItem{ItemID: itemID, City: req.City, ItemFields: req.ItemFields}
	res, err := s.runItem(r, wr, itemID, cmd, cities)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	written(w, http.StatusCreated, res, WriteResult{ID: itemID}, "/v1/roadmap-items/"+itemID)
}

// itemAction is one POST /v1/roadmap-items/{id}/{action} route.
type itemAction struct {
	name    string // operationId
	path    string // the action segment
	handler func(s *Server) http.HandlerFunc
}

// action builds the handler of an item action whose body decodes into R and becomes a command.
// An action whose command carries nothing (approve, start, resume, complete) takes an empty body or {}.
// build returns the command and, for a submitted update, the update's ID.
func action[R any](name, path, command string, build func(req R, commandID uuid.UUID) (domain.ItemCommand, string)) itemAction {
	return itemAction{name: name, path: path, handler: func(s *Server) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			itemID := pathVar(r, "id")
			var req R
			wr, err := s.prepareWrite(w, r, name, command, &req, isEmptyRequest(req))
			if err != nil {
				s.problem(w, r, err)
				return
			}
			if !domain.IsUUID(itemID) {
				s.problem(w, r, errNotFound("no roadmap item "+itemID))
				return
			}
			cmd, updateID := build(req, wr.id)
			res, err := s.runItem(r, wr, itemID, cmd, nil)
			if err != nil {
				s.problem(w, r, err)
				return
			}
			status := http.StatusOK
			if updateID != "" {
				status = http.StatusCreated
			}
			written(w, status, res, WriteResult{ID: itemID, UpdateID: updateID}, "")
		}
	}}
}

// EmptyRequest is the body of the actions that carry nothing: {} or no body at all.
type EmptyRequest struct{}

func isEmptyRequest(req any) bool {
	_, ok := req.(EmptyRequest)
	return ok
}

// itemActions are the item commands after the proposal, by route.
func itemActions() []itemAction {
	none := func(cmd domain.ItemCommand) func(EmptyRequest, uuid.UUID) (domain.ItemCommand, string) {
		return func(EmptyRequest, uuid.UUID) (domain.ItemCommand, string) { return cmd, "" }
	}
	return []itemAction{
		action("reviseItem", "revise", domain.CmdRevise, func(req domain.ItemFields, _ uuid.UUID) (domain.ItemCommand, string) {
			return domain.ReviseRoadmapItem{ItemFields: req}, ""
		}),
		action("approveItem", "approve", domain.CmdApprove, none(domain.ApproveRoadmapItem{})),
		action("requestChanges", "request-changes", domain.CmdRequestChanges, func(req domain.RequestChanges, _ uuid.UUID) (domain.ItemCommand, string) {
			return req, ""
		}),
		action("rejectItem", "reject", domain.CmdReject, func(req domain.RejectRoadmapItem, _ uuid.UUID) (domain.ItemCommand, string) {
			return req, ""
		}),
		action("startItem", "start", domain.CmdStart, none(domain.StartImplementation{})),
		action("submitUpdate", "updates", domain.CmdSubmitUpdate, func(req UpdateRequest, id uuid.UUID) (domain.ItemCommand, string) {
			updateID := derivedID(id, derivedUpdate)
			return domain.SubmitRoadmapUpdate{
				UpdateID: updateID, ProgressPercent: req.ProgressPercent, Measurement: req.Measurement,
				MilestonesReached: req.MilestonesReached, Narrative: req.Narrative, Evidence: req.Evidence,
			}, updateID
		}),
		action("correctMeasurement", "corrections", domain.CmdCorrectMeasurement, func(req domain.CorrectMeasurement, _ uuid.UUID) (domain.ItemCommand, string) {
			return req, ""
		}),
		action("holdItem", "hold", domain.CmdPutOnHold, func(req domain.PutOnHold, _ uuid.UUID) (domain.ItemCommand, string) {
			return req, ""
		}),
		action("resumeItem", "resume", domain.CmdResume, none(domain.Resume{})),
		action("completeItem", "complete", domain.CmdComplete, none(domain.CompleteRoadmapItem{})),
		action("cancelItem", "cancel", domain.CmdCancel, func(req domain.CancelRoadmapItem, _ uuid.UUID) (domain.ItemCommand, string) {
			return req, ""
		}),
	}
}

// itemAction returns the handler of a.
func (s *Server) itemAction(a itemAction) http.HandlerFunc { return a.handler(s) }

// Paging of the item list.
const (
	DefaultItemLimit = 100
	MaxItemLimit     = 1000
)

// ItemList is the body of GET /v1/roadmap-items.
type ItemList struct {
	Position string                    `json:"position"`
	AsOf     string                    `json:"asOf"`
	Items    []projections.ItemSummary `json:"items"`
	// Next is the ?after= of the next page: the last item's ID when the page is full ("" otherwise).
	Next string `json:"next,omitempty"`
}

// handleListItems lists items in order of proposal, filtered by ?city=&stage=&theme=&health=, paged
// by ?after=<item id>&limit=<1..1000>.
func (s *Server) handleListItems(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter := projections.ItemFilter{
		City:   q.Get("city"),
		Stage:  domain.Stage(q.Get("stage")),
		Theme:  domain.Theme(q.Get("theme")),
		Health: projections.Health(q.Get("health")),
		After:  q.Get("after"),
		Limit:  DefaultItemLimit,
	}
	if err := checkItemFilter(filter); err != nil {
		s.problem(w, r, err)
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxItemLimit {
			s.problem(w, r, errBadRequest(fmt.Sprintf("limit must be 1..%d", MaxItemLimit), domain.FieldError{
				Field: "limit", Code: domain.FieldRange, Message: fmt.Sprintf("limit: must be 1..%d", MaxItemLimit)}))
			return
		}
		filter.Limit = n
	}
	view, err := s.readView(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	items := view.models.Items(filter, view.at)
	if items == nil {
		items = []projections.ItemSummary{}
	}
	list := ItemList{Position: view.position(), AsOf: view.asOf(), Items: items}
	if len(items) == filter.Limit {
		list.Next = items[len(items)-1].ID
	}
	writeJSON(w, http.StatusOK, list)
}

// checkItemFilter refuses filter values that can match nothing because they are not values at all.
func checkItemFilter(f projections.ItemFilter) error {
	var fields []domain.FieldError
	if f.City != "" && !domain.IsSlug(f.City) {
		fields = append(fields, domain.FieldError{Field: "city", Code: domain.FieldFormat, Message: "city: must be a city slug"})
	}
	if f.Stage != "" && !f.Stage.Valid() {
		fields = append(fields, domain.FieldError{Field: "stage", Code: domain.FieldOneOf, Message: "stage: not a stage"})
	}
	if f.Theme != "" && !f.Theme.Valid() {
		fields = append(fields, domain.FieldError{Field: "theme", Code: domain.FieldOneOf, Message: "theme: not a theme"})
	}
	if f.After != "" && !domain.IsUUID(f.After) {
		fields = append(fields, domain.FieldError{Field: "after", Code: domain.FieldFormat, Message: "after: must be an item ID"})
	}
	if f.Health != "" && !f.Health.Valid() {
		fields = append(fields, domain.FieldError{Field: "health", Code: domain.FieldOneOf, Message: "health: not a health"})
	}
	if len(fields) > 0 {
		return errBadRequest("bad filter", fields...)
	}
	return nil
}

// ItemView is the body of GET /v1/roadmap-items/{id}.
type ItemView struct {
	Position string `json:"position"`
	AsOf     string `json:"asOf"`
	projections.ItemDetail
}

func (s *Server) handleGetItem(w http.ResponseWriter, r *http.Request) {
	id := pathVar(r, "id")
	view, err := s.readView(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	item, ok := view.models.Item(id, view.at)
	if !ok {
		s.problem(w, r, errNotFound("no roadmap item "+id))
		return
	}
	w.Header().Set("ETag", etag(item.Revision))
	writeJSON(w, http.StatusOK, ItemView{Position: view.position(), AsOf: view.asOf(), ItemDetail: item})
}

// ItemHistory is the body of GET /v1/roadmap-items/{id}/history.
type ItemHistory struct {
	Position string                     `json:"position"`
	AsOf     string                     `json:"asOf"`
	ID       string                     `json:"id"`
	History  []projections.HistoryEntry `json:"history"`
}

func (s *Server) handleItemHistory(w http.ResponseWriter, r *http.Request) {
	id := pathVar(r, "id")
	view, err := s.readView(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	history, ok := view.models.ItemHistory(id)
	if !ok {
		s.problem(w, r, errNotFound("no roadmap item "+id))
		return
	}
	writeJSON(w, http.StatusOK, ItemHistory{Position: view.position(), AsOf: view.asOf(), ID: id, History: history})
}
