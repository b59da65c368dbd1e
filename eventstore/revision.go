package eventstore

import (
	"errors"
	"fmt"
	"strconv"
)

type expectedKind uint8

const (
	expectAny expectedKind = iota
	expectNoStream
	expectExact
)

// ExpectedRevision is the optimistic-concurrency condition of an append. The zero value is Any.
type ExpectedRevision struct {
	kind expectedKind
	rev  uint64
}

// Any appends whatever the stream's current revision.
func Any() ExpectedRevision { return ExpectedRevision{kind: expectAny} }

// NoStream appends only if the stream does not exist yet.
func NoStream() ExpectedRevision { return ExpectedRevision{kind: expectNoStream} }

// Exact appends only if the stream's current revision (that of its last event) is rev.
func Exact(rev uint64) ExpectedRevision { return ExpectedRevision{kind: expectExact, rev: rev} }

// IsAny reports whether e is Any.
func (e ExpectedRevision) IsAny() bool { return e.kind == expectAny }

// IsNoStream reports whether e is NoStream.
func (e ExpectedRevision) IsNoStream() bool { return e.kind == expectNoStream }

// ExactRevision returns the revision of an Exact expectation, and false for Any and NoStream.
func (e ExpectedRevision) ExactRevision() (uint64, bool) { return e.rev, e.kind == expectExact }

// Matches reports whether a stream whose current revision is current (exists false: no stream)
// satisfies e.
func (e ExpectedRevision) Matches(current uint64, exists bool) bool {
	switch e.kind {
	case expectNoStream:
		return !exists
	case expectExact:
		return exists && current == e.rev
	default:
		return true
	}
}

func (e ExpectedRevision) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectExact:
		return strconv.FormatUint(e.rev, 10)
	default:
		return "any"
	}
}

// ErrWrongRevision is matched (errors.Is) by every *WrongRevisionError.
var ErrWrongRevision = errors.New("wrong expected revision")

// ErrClosed is returned by operations on a closed store.
var ErrClosed = errors.New("event store closed")

// WrongRevisionError reports an append whose expected revision did not hold. Every adapter returns
// it (possibly wrapped); test for it with errors.As or errors.Is(err, ErrWrongRevision).
type WrongRevisionError struct {
	Stream   string
	Expected ExpectedRevision
	// Actual is the stream's current revision; Exists is false (and Actual 0) when the stream does
	// not exist.
	Actual uint64
	Exists bool
}

func (e *WrongRevisionError) Error() string {
	actual := "no stream"
	if e.Exists {
		actual = strconv.FormatUint(e.Actual, 10)
	}
	return fmt.Sprintf("append %s: %v: expected %s, stream is at %s", e.Stream, ErrWrongRevision, e.Expected, actual)
}

// Is makes errors.Is(err, ErrWrongRevision) true.
func (e *WrongRevisionError) Is(target error) bool { return target == ErrWrongRevision }
