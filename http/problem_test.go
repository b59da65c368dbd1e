package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// TestProblemFor maps every kind of error, as the engine wraps it, to its status and problem type.
func TestProblemFor(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("approve roadmap-1: %w", err) }
	cases := []struct {
		err    error
		status int
		code   string
		detail string // "" : not checked
	}{
		{wrap(&domain.ValidationError{Fields: []domain.FieldError{{Field: "title", Code: "required", Message: "title: required"}}}), 422, ProblemValidation, ""},
		{wrap(&domain.LifecycleError{Command: domain.CmdApprove, Stage: domain.StageCompleted}), 409, ProblemLifecycle, "cannot approve an item in stage completed"},
		{wrap(&domain.ForbiddenError{Command: "approve", Role: domain.RoleAuditor, Reason: "auditors never write"}), 403, ProblemForbidden, ""},
		{wrap(&domain.NotFoundError{Kind: domain.KindItem}), 404, ProblemNotFound, "roadmap item not found"},
		{wrap(&domain.AlreadyExistsError{Kind: domain.KindCity, ID: "berlin"}), 409, ProblemAlreadyExists, ""},
		{&eventstore.StaleRevisionError{Stream: "roadmap-1", Expected: 2, Actual: 3, Exists: true}, 412, ProblemStaleRevision, "If-Match names revision 2, but the item is at revision 3"},
		{wrap(fmt.Errorf("%w: the stream changed", eventstore.ErrConflict)), 409, ProblemConflict, ""},
		{wrap(eventstore.ErrIdempotencyMismatch), 422, ProblemIdempotencyMismatch, ""},
		{fmt.Errorf("wait: %w", errReadTimeout), 504, ProblemTimeout, ""},
		{wrap(eventstore.ErrClosed), 503, ProblemUnavailable, ""},
		{errBadRequest("bad"), 400, ProblemBadRequest, "bad"},
		{errors.New("disk on fire"), 500, ProblemInternal, "the server failed: see its log for the request ID"},
		{context.Canceled, 500, ProblemInternal, ""},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			p := problemFor(c.err)
			if p.Status != c.status || p.Type != ProblemTypePrefix+c.code || p.Title != problemTitles[c.code] || p.Title == "" {
				t.Errorf("%v: got %d %s %q, want %d %s", c.err, p.Status, p.Type, p.Title, c.status, c.code)
			}
			if c.detail != "" && p.Detail != c.detail {
				t.Errorf("detail %q, want %q", p.Detail, c.detail)
			}
			if http.StatusText(p.Status) == "" {
				t.Errorf("status %d is not a status", p.Status)
			}
		})
	}
	if p := problemFor(wrap(&domain.ValidationError{Fields: []domain.FieldError{{Field: "title"}}})); len(p.Errors) != 1 || p.Errors[0].Field != "title" {
		t.Errorf("validation problem errors %+v", p.Errors)
	}
}
