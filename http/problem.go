package http

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// ProblemTypePrefix starts every problem type: the type of a problem is this prefix and its code, e.g.
// "urn:csc:problem:validation". Types are stable; clients may switch on them.
const ProblemTypePrefix = "urn:csc:problem:"

// Problem codes (the last part of a problem type) and the status each answers with.
const (
	ProblemBadRequest          = "bad_request"            // 400: bad JSON, unknown fields, bad parameters
	ProblemUnauthorized        = "unauthorized"           // 401: no or an invalid bearer token
	ProblemForbidden           = "forbidden"              // 403: the role or city may not do this
	ProblemNotFound            = "not_found"              // 404: unknown route, item, city, stream, member
	ProblemMethodNotAllowed    = "method_not_allowed"     // 405
	ProblemAlreadyExists       = "already_exists"         // 409: creating something twice
	ProblemLifecycle           = "lifecycle"              // 409: the item's stage does not allow the command
	ProblemConflict            = "conflict"               // 409: concurrent changes outlasted the retries
	ProblemStaleRevision       = "stale_revision"         // 412: If-Match does not hold
	ProblemPayloadTooLarge     = "payload_too_large"      // 413: a body over MaxBodyBytes
	ProblemUnsupportedMedia    = "unsupported_media_type" // 415: a body that is not application/json
	ProblemValidation          = "validation"             // 422: the command's fields (see errors)
	ProblemIdempotencyMismatch = "idempotency_mismatch"   // 422: an Idempotency-Key reused with another request
	ProblemInternal            = "internal"               // 500
	ProblemUnavailable         = "unavailable"            // 503: the store is closing, the read models are not ready, as-of builds are busy
	ProblemTimeout             = "timeout"                // 504: the read models did not reach minPosition in time
	ProblemClientGone          = "client_closed_request"  // 499: the client went away (never seen by it; logs and metrics)
)

// StatusClientClosedRequest is the status recorded for a request whose client went away before the
// answer (the nginx convention): not a server failure.
const StatusClientClosedRequest = 499

// problemTitles are the fixed titles of the problem codes (RFC 9457: the title does not change from
// occurrence to occurrence; the detail does).
var problemTitles = map[string]string{
	ProblemBadRequest:          "The request is malformed",
	ProblemUnauthorized:        "A valid bearer token is required",
	ProblemForbidden:           "Not allowed for this role or city",
	ProblemNotFound:            "Not found",
	ProblemMethodNotAllowed:    "Method not allowed",
	ProblemAlreadyExists:       "Already exists",
	ProblemLifecycle:           "Not allowed in the item's stage",
	ProblemConflict:            "Concurrent change",
	ProblemStaleRevision:       "The revision in If-Match is stale",
	ProblemPayloadTooLarge:     "The request body is too large",
	ProblemUnsupportedMedia:    "The request body must be application/json",
	ProblemValidation:          "The command is invalid",
	ProblemIdempotencyMismatch: "The Idempotency-Key was used with another request",
	ProblemInternal:            "Internal server error",
	ProblemUnavailable:         "Service unavailable",
	ProblemTimeout:             "The read models did not catch up in time",
	ProblemClientGone:          "The client closed the request",
}

// Problem is an RFC 9457 problem details object (application/problem+json).
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Instance is the request path.
	Instance string `json:"instance,omitempty"`
	// Errors lists the field problems of a validation problem (and of some bad requests).
	Errors []domain.FieldError `json:"errors,omitempty"`
	// RequestID is the request's X-Request-ID, to find it in the server's logs.
	RequestID string `json:"requestId,omitempty"`

	// retryAfter is the Retry-After header (seconds) of the answer; 0: none.
	retryAfter int
}

// requestError is an error of the HTTP layer itself (a bad body, a bad parameter, a missing token).
type requestError struct {
	status int
	code   string
	detail string
	fields []domain.FieldError
	// retryAfter is the Retry-After (seconds) of a 503; 0: none.
	retryAfter int
}

func (e *requestError) Error() string { return e.detail }

func errUnauthorized(detail string) error {
	return &requestError{status: http.StatusUnauthorized, code: ProblemUnauthorized, detail: detail}
}

func errBadRequest(detail string, fields ...domain.FieldError) error {
	return &requestError{status: http.StatusBadRequest, code: ProblemBadRequest, detail: detail, fields: fields}
}

func errNotFound(detail string) error {
	return &requestError{status: http.StatusNotFound, code: ProblemNotFound, detail: detail}
}

// errReadTimeout is the error of a read whose minPosition the read models did not reach in time.
var errReadTimeout = errors.New("the read models did not reach minPosition in time")

// problemFor maps an error to its status and problem: the one place where the error vocabulary of the
// domain, the command engine and this package becomes HTTP. Anything it does not know is a 500 whose
// detail does not leak the error (the log has it).
func problemFor(err error) Problem {
	p := func(status int, code, detail string) Problem {
		return Problem{Type: ProblemTypePrefix + code, Title: problemTitles[code], Status: status, Detail: detail}
	}
	var (
		reqErr *requestError
		valErr *domain.ValidationError
	)
	switch {
	case errors.As(err, &reqErr):
		pr := p(reqErr.status, reqErr.code, reqErr.detail)
		pr.Errors = reqErr.fields
		pr.retryAfter = reqErr.retryAfter
		return pr
	case errors.As(err, &valErr):
		pr := p(http.StatusUnprocessableEntity, ProblemValidation, "the command has invalid fields: see errors")
		pr.Errors = valErr.Fields
		return pr
	case errors.Is(err, domain.ErrForbidden):
		return p(http.StatusForbidden, ProblemForbidden, domainDetail(err))
	case errors.Is(err, domain.ErrNotFound):
		return p(http.StatusNotFound, ProblemNotFound, domainDetail(err))
	case errors.Is(err, domain.ErrAlreadyExists):
		return p(http.StatusConflict, ProblemAlreadyExists, domainDetail(err))
	case errors.Is(err, domain.ErrLifecycle):
		return p(http.StatusConflict, ProblemLifecycle, domainDetail(err))
	case errors.Is(err, eventstore.ErrStaleRevision):
		return p(http.StatusPreconditionFailed, ProblemStaleRevision, staleDetail(err))
	case errors.Is(err, eventstore.ErrConflict):
		return p(http.StatusConflict, ProblemConflict, "the item kept changing while the command ran: reload and try again")
	case errors.Is(err, eventstore.ErrIdempotencyMismatch):
		return p(http.StatusUnprocessableEntity, ProblemIdempotencyMismatch,
			"this Idempotency-Key was already used on this resource with another request body or action")
	case errors.Is(err, errReadTimeout):
		return p(http.StatusGatewayTimeout, ProblemTimeout, err.Error())
	case errors.Is(err, eventstore.ErrClosed):
		return p(http.StatusServiceUnavailable, ProblemUnavailable, "the server is shutting down")
	}
	return p(http.StatusInternalServerError, ProblemInternal, "the server failed: see its log for the request ID")
}

// domainDetail is the message of the domain error inside err, without the engine's wrapping (which
// names internal stream names).
func domainDetail(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if c, ok := e.(interface{ Code() string }); ok && c.Code() != "" {
			return e.Error()
		}
	}
	return err.Error()
}

func staleDetail(err error) string {
	var se *eventstore.StaleRevisionError
	if errors.As(err, &se) {
		what := "the item"
		if strings.HasPrefix(se.Stream, domain.CollaboratoryStream("")) {
			what = "the collaboratory"
		}
		if !se.Exists {
			return "If-Match names a revision, but " + what + " does not exist"
		}
		return "If-Match names revision " + itoa(se.Expected) + ", but " + what + " is at revision " + itoa(se.Actual)
	}
	return "If-Match does not hold"
}

// problem writes err as a problem+json response and logs server-side failures.
func (s *Server) problem(w http.ResponseWriter, r *http.Request, err error) {
	pr := problemFor(err)
	if r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		pr = Problem{Type: ProblemTypePrefix + ProblemClientGone, Title: problemTitles[ProblemClientGone],
			Status: StatusClientClosedRequest, Detail: "the client went away before the answer"}
	}
	pr.Instance = r.URL.Path
	pr.RequestID = requestID(r.Context())
	level := slog.LevelDebug
	if pr.Status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request failed", "requestId", pr.RequestID, "status", pr.Status,
		"problem", pr.Type, "err", err)
	writeProblem(w, pr)
}

func writeProblem(w http.ResponseWriter, pr Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if pr.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(pr.retryAfter))
	}
	if pr.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="csc"`)
	}
	w.WriteHeader(pr.Status)
	_ = json.NewEncoder(w).Encode(pr)
}
