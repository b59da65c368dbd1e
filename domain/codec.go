package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Codec turns events into their wire form (type name, JSON payload, schema version) and back. It
// knows every event type of the package, each registered explicitly by NewCodec with its current
// schema version and the upcasters that bring older versions up to date. A Codec is immutable after
// NewCodec and safe for concurrent use.
type Codec struct {
	entries map[string]codecEntry
}

type codecEntry struct {
	version   int
	upcasters []Upcaster // upcasters[i] turns version i+1 into version i+2
	decode    func(data []byte) (Event, error)
}

// Upcaster turns the JSON payload of one schema version of an event type into the payload of the
// next version. Upcasters run on read only: stored events are never rewritten.
type Upcaster func(data []byte) ([]byte, error)

// NewCodec returns a codec that knows every event type of the package.
func NewCodec() *Codec {
	c := &Codec{entries: make(map[string]codecEntry, 16)}
	register[CollaboratoryLaunched](c, TypeCollaboratoryLaunched, 1)
	register[CityJoined](c, TypeCityJoined, 1)
	register[MemberRegistered](c, TypeMemberRegistered, 1)
	register[MemberRemoved](c, TypeMemberRemoved, 1)
	register[RoadmapItemProposed](c, TypeRoadmapItemProposed, 2, upcastItemProposedV1)
	register[RoadmapItemRevised](c, TypeRoadmapItemRevised, 1)
	register[RoadmapItemApproved](c, TypeRoadmapItemApproved, 1)
	register[ChangesRequested](c, TypeChangesRequested, 1)
	register[RoadmapItemRejected](c, TypeRoadmapItemRejected, 1)
	register[ImplementationStarted](c, TypeImplementationStarted, 1)
	register[RoadmapUpdateSubmitted](c, TypeRoadmapUpdateSubmitted, 1)
	register[MeasurementCorrected](c, TypeMeasurementCorrected, 1)
	register[ItemPutOnHold](c, TypeItemPutOnHold, 1)
	register[ItemResumed](c, TypeItemResumed, 1)
	register[RoadmapItemCompleted](c, TypeRoadmapItemCompleted, 1)
	register[RoadmapItemCancelled](c, TypeRoadmapItemCancelled, 1)
	return c
}

// register adds event type T under the wire name typ at schema version version, with one upcaster
// per older version (ups[0] turns v1 into v2, ...). It panics on a programming error (a wire name
// that is not T's, a type registered twice, a wrong number of upcasters); the codec tests build
// NewCodec, so such a mistake cannot pass them.
func register[T Event](c *Codec, typ string, version int, ups ...Upcaster) {
	var zero T
	switch {
	case zero.EventType() != typ:
		panic(fmt.Sprintf("domain: register %T as %q, but its EventType is %q", zero, typ, zero.EventType()))
	case version < 1 || len(ups) != version-1:
		panic(fmt.Sprintf("domain: register %q v%d with %d upcasters (want %d)", typ, version, len(ups), version-1))
	}
	if _, dup := c.entries[typ]; dup {
		panic(fmt.Sprintf("domain: event type %q registered twice", typ))
	}
	c.entries[typ] = codecEntry{
		version:   version,
		upcasters: ups,
		decode: func(data []byte) (Event, error) {
			var v T
			if err := json.Unmarshal(data, &v); err != nil {
				return nil, err
			}
			return v, nil
		},
	}
}

// Known reports whether the codec knows the event type typ.
func (c *Codec) Known(typ string) bool {
	_, ok := c.entries[typ]
	return ok
}

// Types returns the wire names of every known event type, sorted.
func (c *Codec) Types() []string {
	ts := make([]string, 0, len(c.entries))
	for t := range c.entries {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// SchemaVersion returns the current schema version of the event type typ (what Encode writes).
func (c *Codec) SchemaVersion(typ string) (int, bool) {
	e, ok := c.entries[typ]
	return e.version, ok
}

// Encode returns the wire form of e: its type name, its JSON payload and its current schema version.
func (c *Codec) Encode(e Event) (typ string, data []byte, schemaVersion int, err error) {
	if e == nil {
		return "", nil, 0, errors.New("encode event: nil event")
	}
	typ = e.EventType()
	entry, ok := c.entries[typ]
	if !ok {
		return "", nil, 0, &UnknownEventTypeError{Type: typ}
	}
	data, err = json.Marshal(e)
	if err != nil {
		return "", nil, 0, &DecodeError{Type: typ, SchemaVersion: entry.version, Err: fmt.Errorf("encode: %w", err)}
	}
	return typ, data, entry.version, nil
}

// Decode returns the event of type typ whose payload data was written at schemaVersion, upcast to the
// current version. An unknown type gives a *UnknownEventTypeError (errors.Is ErrUnknownEventType),
// which readers should skip and count; a known type that cannot be decoded (bad JSON, a payload that
// is not a JSON object, a schema version below 1 or newer than this build) gives a *DecodeError
// (errors.Is ErrDecode) naming it.
func (c *Codec) Decode(typ string, schemaVersion int, data []byte) (Event, error) {
	entry, ok := c.entries[typ]
	if !ok {
		return nil, &UnknownEventTypeError{Type: typ}
	}
	if schemaVersion < 1 || schemaVersion > entry.version {
		return nil, &DecodeError{Type: typ, SchemaVersion: schemaVersion,
			Err: fmt.Errorf("schema version must be 1..%d", entry.version)}
	}
	if !isJSONObject(data) {
		return nil, &DecodeError{Type: typ, SchemaVersion: schemaVersion, Err: errNotObject}
	}
	for v := schemaVersion; v < entry.version; v++ {
		up, err := entry.upcasters[v-1](data)
		if err != nil {
			return nil, &DecodeError{Type: typ, SchemaVersion: schemaVersion, Err: fmt.Errorf("upcast v%d: %w", v, err)}
		}
		data = up
	}
	e, err := entry.decode(data)
	if err != nil {
		return nil, &DecodeError{Type: typ, SchemaVersion: schemaVersion, Err: err}
	}
	return e, nil
}

// errNotObject refuses a payload that is not a JSON object: encoding/json would read "null" as the
// zero event, and an upcaster has no object to rewrite.
var errNotObject = errors.New("payload is not a JSON object")

// isJSONObject reports whether data starts, after JSON white space, with "{" (json.Unmarshal checks
// the rest).
func isJSONObject(data []byte) bool {
	for _, b := range data {
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return b == '{'
	}
	return false
}

// upcastItemProposedV1 turns a version 1 RoadmapItemProposed, which named a single SDG target
// ("sdgTarget": "11.2"), into version 2, which names a list ("sdgTargets": ["11.2"]). An empty or
// missing target becomes an empty list. Every other field is kept as it is.
func upcastItemProposedV1(data []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil { // "null"
		return nil, errNotObject
	}
	targets := []string{}
	if raw, ok := m["sdgTarget"]; ok {
		var t *string
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, fmt.Errorf("sdgTarget: %w", err)
		}
		if t != nil && *t != "" {
			targets = append(targets, *t)
		}
		delete(m, "sdgTarget")
	}
	if _, ok := m["sdgTargets"]; !ok {
		raw, err := json.Marshal(targets)
		if err != nil {
			return nil, err
		}
		m["sdgTargets"] = raw
	}
	return json.Marshal(m)
}
