package eventstore

import "time"

// Metadata is what the command engine stamps on every event it appends, encoded as JSON in
// EventData.Metadata. Field names are the wire names (camelCase), shared by every store.
type Metadata struct {
	Actor         string `json:"actor,omitempty"`
	Role          string `json:"role,omitempty"`
	City          string `json:"city,omitempty"`
	CommandID     string `json:"commandId,omitempty"`
	CorrelationID string `json:"correlationId,omitempty"`
	CausationID   string `json:"causationId,omitempty"`
	// CommandHash is a digest of the command's input (e.g. the request body). A retry with the same
	// command ID but another CommandHash is refused with ErrIdempotencyMismatch.
	CommandHash   string `json:"commandHash,omitempty"`
	SchemaVersion int    `json:"schemaVersion"`

	// PrevHash is the Hash of the previous event of the same stream ("" for revision 0).
	PrevHash string `json:"prevHash"`
	// Hash is the SHA-256 (hex) of the event's canonical encoding; see HashEvent in hash.go.
	Hash string `json:"hash"`

	// Recorded is the time the event is recorded as having happened when that is not the time its
	// store committed it: the original recorded time of an event copied from another store (csc
	// copy), or the time of a command with Command.Recorded (imported or seeded history). It is not
	// covered by Hash. See EffectiveTime.
	Recorded *time.Time `json:"recorded,omitempty"`
}

// EffectiveTime returns when ev, whose decoded metadata is md, happened: md.Recorded when it is set,
// else the time the store committed ev; in UTC. It is the time the read models, their as-of views and
// exports give an event.
func EffectiveTime(ev RecordedEvent, md Metadata) time.Time {
	if md.Recorded != nil {
		return md.Recorded.UTC()
	}
	return ev.Recorded.UTC()
}
