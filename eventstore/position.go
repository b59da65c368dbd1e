package eventstore

import (
	"fmt"
	"strconv"
	"strings"
)

// Position is a place in $all. Positions strictly increase along $all. The zero Position is before
// the first event: reading or subscribing after it starts from the very beginning.
//
// The embedded store uses one counter (Commit == Prepare, starting at 1); EventStoreDB uses its
// commit and prepare positions, and never places a user event at 0/0.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// IsZero reports whether p is the start of the log.
func (p Position) IsZero() bool { return p == Position{} }

// Compare returns -1, 0 or +1 as p is before, at or after q.
func (p Position) Compare(q Position) int {
	switch {
	case p.Commit < q.Commit:
		return -1
	case p.Commit > q.Commit:
		return 1
	case p.Prepare < q.Prepare:
		return -1
	case p.Prepare > q.Prepare:
		return 1
	}
	return 0
}

// Before reports whether p comes before q.
func (p Position) Before(q Position) bool { return p.Compare(q) < 0 }

// String is the opaque text form used in the API and CLI: "N" when Commit and Prepare are equal,
// "C/P" otherwise. ParsePosition reads both.
func (p Position) String() string {
	if p.Commit == p.Prepare {
		return strconv.FormatUint(p.Commit, 10)
	}
	return strconv.FormatUint(p.Commit, 10) + "/" + strconv.FormatUint(p.Prepare, 10)
}

// ParsePosition parses the text form of a Position ("" is the zero Position).
func ParsePosition(s string) (Position, error) {
	if s == "" {
		return Position{}, nil
	}
	c, p, two := strings.Cut(s, "/")
	commit, err := strconv.ParseUint(c, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("parse position %q: not a position", s)
	}
	if !two {
		return Position{Commit: commit, Prepare: commit}, nil
	}
	prepare, err := strconv.ParseUint(p, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("parse position %q: not a position", s)
	}
	return Position{Commit: commit, Prepare: prepare}, nil
}
