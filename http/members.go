package http

import (
	"net/http"

	"github.com/metropolis/csc/domain"
)

// RegisterRequest is the body of POST /v1/members. The member ID is derived from the command ID
// (Idempotency-Key), so a retry registers the same member once.
type RegisterRequest struct {
	City      string           `json:"city"`
	Name      string           `json:"name"`
	Expertise domain.Expertise `json:"expertise"`
}

// RemoveRequest is the body of DELETE /v1/members/{id}.
type RemoveRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) handleRegisterMember(w http.ResponseWriter, r *http.Request) {
	var req RegisterRequest
	wr, err := s.prepareWrite(w, r, "registerMember", domain.CmdRegisterMember, &req, false)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	memberID := derivedID(wr.id, derivedMember)
	cmd := domain.RegisterMember{MemberID: memberID, City: req.City, Name: req.Name, Expertise: req.Expertise}
	res, err := s.runCollaboratory(r, wr, cmd)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	written(w, http.StatusCreated, res, WriteResult{ID: memberID}, "")
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	memberID := pathVar(r, "id")
	var req RemoveRequest
	wr, err := s.prepareWrite(w, r, "removeMember", domain.CmdRemoveMember, &req, false)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	if !domain.IsUUID(memberID) {
		s.problem(w, r, errNotFound("no member "+memberID))
		return
	}
	res, err := s.runCollaboratory(r, wr, domain.RemoveMember{MemberID: memberID, Reason: req.Reason})
	if err != nil {
		s.problem(w, r, err)
		return
	}
	written(w, http.StatusOK, res, WriteResult{ID: memberID}, "")
}
