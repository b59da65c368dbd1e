package domain

import (
	"errors"
	"fmt"
	"strings"
)

// Error kinds. Every error a decider returns matches exactly one of these with errors.Is, and its
// concrete type (with errors.As) carries the details. Code returns the kind's stable code, which the
// HTTP layer turns into a problem type.
var (
	ErrValidation       = errors.New("invalid command")      // *ValidationError, code "validation"
	ErrLifecycle        = errors.New("not allowed in stage") // *LifecycleError, code "lifecycle"
	ErrForbidden        = errors.New("forbidden")            // *ForbiddenError, code "forbidden"
	ErrNotFound         = errors.New("not found")            // *NotFoundError, code "not_found"
	ErrAlreadyExists    = errors.New("already exists")       // *AlreadyExistsError, code "already_exists"
	ErrUnknownEventType = errors.New("unknown event type")   // *UnknownEventTypeError, code "unknown_event_type"
	ErrDecode           = errors.New("cannot decode event")  // *DecodeError, code "decode"
)

// Stable error codes, as returned by Code.
const (
	CodeValidation       = "validation"
	CodeLifecycle        = "lifecycle"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeAlreadyExists    = "already_exists"
	CodeUnknownEventType = "unknown_event_type"
	CodeDecode           = "decode"
)

// Code returns the stable code of err's kind ("validation", "lifecycle", "forbidden", "not_found",
// "already_exists", "unknown_event_type", "decode"), or "" when err is none of the domain's errors.
func Code(err error) string {
	var c interface{ Code() string }
	if errors.As(err, &c) {
		return c.Code()
	}
	return ""
}

// Field error codes (FieldError.Code). They are stable: clients may switch on them.
const (
	FieldRequired         = "required"          // missing or blank
	FieldOneOf            = "one_of"            // not one of a fixed set of values
	FieldRange            = "range"             // a number or date out of its allowed range
	FieldUnknownTarget    = "unknown_target"    // not an SDG 11 target
	FieldFormat           = "format"            // malformed (id, slug, currency, hash, URI, period)
	FieldDuplicate        = "duplicate"         // a value repeated where values must be unique
	FieldTooLong          = "too_long"          // a string over its length bound
	FieldTooMany          = "too_many"          // a list over its size bound
	FieldUnknownCity      = "unknown_city"      // a city that does not take part
	FieldUnknownMilestone = "unknown_milestone" // a milestone id the item does not have
	FieldAlreadyReached   = "already_reached"   // a milestone reported reached before
	FieldNoIndicator      = "no_indicator"      // a measurement for an item without an indicator
	FieldNoMeasurement    = "no_measurement"    // a correction of an update that has no measurement
	FieldUnchanged        = "unchanged"         // a correction to the value already in force
)

// FieldError is one problem with one field of a command.
type FieldError struct {
	// Field is the path of the field in the command's JSON, e.g. "title", "sdgTargets[2]",
	// "indicator.target.year".
	Field string `json:"field"`
	// Code is one of the Field* codes.
	Code string `json:"code"`
	// Message is a human sentence that starts with the field, e.g. "title: required".
	Message string `json:"message"`
}

// ValidationError lists every problem found with a command's input.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		msgs[i] = f.Message
	}
	return "invalid command: " + strings.Join(msgs, "; ")
}

// Is makes errors.Is(err, ErrValidation) true.
func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

// Code returns "validation".
func (e *ValidationError) Code() string { return CodeValidation }

// LifecycleError refuses a command that the item's stage does not allow.
type LifecycleError struct {
	Command string // CommandName of the refused command
	Stage   Stage
}

func (e *LifecycleError) Error() string {
	return fmt.Sprintf("cannot %s an item in stage %s", commandVerb(e.Command), e.Stage)
}

// Is makes errors.Is(err, ErrLifecycle) true.
func (e *LifecycleError) Is(target error) bool { return target == ErrLifecycle }

// Code returns "lifecycle".
func (e *LifecycleError) Code() string { return CodeLifecycle }

func commandVerb(cmd string) string {
	switch cmd {
	case CmdRequestChanges:
		return "request changes on"
	case CmdSubmitUpdate:
		return "submit an update to"
	case CmdCorrectMeasurement:
		return "correct a measurement of"
	case CmdPutOnHold:
		return "put on hold"
	}
	return cmd
}

// ForbiddenError refuses a command the actor may not give.
type ForbiddenError struct {
	Command string
	Role    Role
	City    string // the actor's city (members)
	Reason  string // e.g. "auditors never write", "members act only for their own city"
}

func (e *ForbiddenError) Error() string {
	who := string(e.Role)
	if who == "" {
		who = "no role"
	}
	if e.City != "" {
		who += " of " + e.City
	}
	return fmt.Sprintf("forbidden: %s may not %s: %s", who, e.Command, e.Reason)
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Code returns "forbidden".
func (e *ForbiddenError) Code() string { return CodeForbidden }

// Things that can be missing or already exist.
const (
	KindCollaboratory = "collaboratory"
	KindCity          = "city"
	KindMember        = "member"
	KindItem          = "roadmap item"
	KindUpdate        = "roadmap update"
)

// NotFoundError refuses a command on something that does not exist.
type NotFoundError struct {
	Kind string // one of the Kind* constants
	ID   string // "" when unknown (e.g. a command on an empty item stream)
}

func (e *NotFoundError) Error() string {
	if e.ID == "" {
		return e.Kind + " not found"
	}
	return fmt.Sprintf("%s %q not found", e.Kind, e.ID)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// Code returns "not_found".
func (e *NotFoundError) Code() string { return CodeNotFound }

// AlreadyExistsError refuses to create something twice.
type AlreadyExistsError struct {
	Kind string
	ID   string
}

func (e *AlreadyExistsError) Error() string {
	return fmt.Sprintf("%s %q already exists", e.Kind, e.ID)
}

// Is makes errors.Is(err, ErrAlreadyExists) true.
func (e *AlreadyExistsError) Is(target error) bool { return target == ErrAlreadyExists }

// Code returns "already_exists".
func (e *AlreadyExistsError) Code() string { return CodeAlreadyExists }

// UnknownEventTypeError is returned by Codec for an event type it does not know. Readers skip such
// events (and count them) rather than fail.
type UnknownEventTypeError struct {
	Type string
}

func (e *UnknownEventTypeError) Error() string { return fmt.Sprintf("unknown event type %q", e.Type) }

// Is makes errors.Is(err, ErrUnknownEventType) true.
func (e *UnknownEventTypeError) Is(target error) bool { return target == ErrUnknownEventType }

// Code returns "unknown_event_type".
func (e *UnknownEventTypeError) Code() string { return CodeUnknownEventType }

// DecodeError is returned by Codec for a known event type whose payload cannot be decoded (or
// encoded), or whose schema version it cannot upcast.
type DecodeError struct {
	Type          string
	SchemaVersion int
	Err           error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode %s v%d: %v", e.Type, e.SchemaVersion, e.Err)
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrDecode) true.
func (e *DecodeError) Is(target error) bool { return target == ErrDecode }

// Code returns "decode".
func (e *DecodeError) Code() string { return CodeDecode }
