package domain

import "time"

// Event is a fact recorded in a stream. The set of events is closed: only this package's types
// implement it. Each event is a concrete struct whose JSON field names are its wire format, stored
// forever: never rename or repurpose a field; add a new schema version with an upcaster instead.
type Event interface {
	// EventType is the stable wire name, e.g. "csc.roadmap.item_proposed".
	EventType() string
	isEvent()
}

// Wire names of the events.
const (
	TypeCollaboratoryLaunched = "csc.collaboratory.launched"
	TypeCityJoined            = "csc.collaboratory.city_joined"
	TypeMemberRegistered      = "csc.collaboratory.member_registered"
	TypeMemberRemoved         = "csc.collaboratory.member_removed"

	TypeRoadmapItemProposed    = "csc.roadmap.item_proposed"
	TypeRoadmapItemRevised     = "csc.roadmap.item_revised"
	TypeRoadmapItemApproved    = "csc.roadmap.item_approved"
	TypeChangesRequested       = "csc.roadmap.changes_requested"
	TypeRoadmapItemRejected    = "csc.roadmap.item_rejected"
	TypeImplementationStarted  = "csc.roadmap.implementation_started"
	TypeRoadmapUpdateSubmitted = "csc.roadmap.update_submitted"
	TypeMeasurementCorrected   = "csc.roadmap.measurement_corrected"
	TypeItemPutOnHold          = "csc.roadmap.item_put_on_hold"
	TypeItemResumed            = "csc.roadmap.item_resumed"
	TypeRoadmapItemCompleted   = "csc.roadmap.item_completed"
	TypeRoadmapItemCancelled   = "csc.roadmap.item_cancelled"
)

// ---- collaboratory stream ----

// CollaboratoryLaunched starts a collaboratory with its founding cities. The founding cities are
// listed here only (no CityJoined is recorded for them).
type CollaboratoryLaunched struct {
	Collaboratory  string    `json:"collaboratory"` // slug, e.g. "csc"
	Name           string    `json:"name"`
	Phase          string    `json:"phase"`
	FoundingCities []City    `json:"foundingCities"`
	At             time.Time `json:"at,omitzero"`
}

// CityJoined records a city joining after the launch. Founding is false for every join; it is in
// the payload so that a roster can treat founding and later cities alike.
type CityJoined struct {
	Collaboratory string    `json:"collaboratory"`
	City          City      `json:"city"`
	Founding      bool      `json:"founding"`
	At            time.Time `json:"at,omitzero"`
}

// MemberRegistered admits a member of a city's delegation.
type MemberRegistered struct {
	Collaboratory string    `json:"collaboratory"`
	MemberID      string    `json:"memberId"`
	City          string    `json:"city"`
	Name          string    `json:"name"`
	Expertise     Expertise `json:"expertise"`
	At            time.Time `json:"at,omitzero"`
}

// MemberRemoved ends a membership. The member id is never reused.
type MemberRemoved struct {
	Collaboratory string    `json:"collaboratory"`
	MemberID      string    `json:"memberId"`
	City          string    `json:"city"`
	Reason        string    `json:"reason"`
	At            time.Time `json:"at,omitzero"`
}

// ---- roadmap item stream ----

// RoadmapItemProposed creates a roadmap item in stage proposed. Schema version 2 (version 1 had a
// single "sdgTarget" string; see upcastItemProposedV1).
type RoadmapItemProposed struct {
	ItemID      string      `json:"itemId"`
	City        string      `json:"city"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Theme       Theme       `json:"theme"`
	SDGTargets  []string    `json:"sdgTargets"`
	Indicator   *Indicator  `json:"indicator,omitempty"`
	Milestones  []Milestone `json:"milestones"`
	Budget      *Budget     `json:"budget,omitempty"`
	StartDate   Date        `json:"startDate"`
	DueDate     Date        `json:"dueDate"`
	At          time.Time   `json:"at,omitzero"`
}

// RoadmapItemRevised replaces every editable field of the item (a revision is a whole new version
// of the proposal, not a patch) and puts the item back in stage proposed.
type RoadmapItemRevised struct {
	ItemID      string      `json:"itemId"`
	City        string      `json:"city"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Theme       Theme       `json:"theme"`
	SDGTargets  []string    `json:"sdgTargets"`
	Indicator   *Indicator  `json:"indicator,omitempty"`
	Milestones  []Milestone `json:"milestones"`
	Budget      *Budget     `json:"budget,omitempty"`
	StartDate   Date        `json:"startDate"`
	DueDate     Date        `json:"dueDate"`
	At          time.Time   `json:"at,omitzero"`
}

// RoadmapItemApproved moves a proposed item to approved.
type RoadmapItemApproved struct {
	ItemID string    `json:"itemId"`
	City   string    `json:"city"`
	At     time.Time `json:"at,omitzero"`
}

// ChangesRequested sends a proposed item back to its city with a comment.
type ChangesRequested struct {
	ItemID  string    `json:"itemId"`
	City    string    `json:"city"`
	Comment string    `json:"comment"`
	At      time.Time `json:"at,omitzero"`
}

// RoadmapItemRejected ends a proposed item.
type RoadmapItemRejected struct {
	ItemID string    `json:"itemId"`
	City   string    `json:"city"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at,omitzero"`
}

// ImplementationStarted moves an approved item to in_progress.
type ImplementationStarted struct {
	ItemID string    `json:"itemId"`
	City   string    `json:"city"`
	At     time.Time `json:"at,omitzero"`
}

// RoadmapUpdateSubmitted is a member's progress report on an item in progress.
type RoadmapUpdateSubmitted struct {
	ItemID            string       `json:"itemId"`
	City              string       `json:"city"`
	UpdateID          string       `json:"updateId"`
	ProgressPercent   *int         `json:"progressPercent,omitempty"`
	Measurement       *Measurement `json:"measurement,omitempty"`
	MilestonesReached []string     `json:"milestonesReached"`
	Narrative         string       `json:"narrative"`
	Evidence          []Evidence   `json:"evidence"`
	At                time.Time    `json:"at,omitzero"`
}

// MeasurementCorrected corrects the measured value of an earlier update (the update itself is never
// edited). OldValue is the value in force before this correction.
type MeasurementCorrected struct {
	ItemID   string    `json:"itemId"`
	City     string    `json:"city"`
	UpdateID string    `json:"updateId"`
	OldValue float64   `json:"oldValue"`
	NewValue float64   `json:"newValue"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at,omitzero"`
}

// ItemPutOnHold pauses an item in progress.
type ItemPutOnHold struct {
	ItemID string    `json:"itemId"`
	City   string    `json:"city"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at,omitzero"`
}

// ItemResumed moves an item on hold back to in_progress.
type ItemResumed struct {
	ItemID string    `json:"itemId"`
	City   string    `json:"city"`
	At     time.Time `json:"at,omitzero"`
}

// RoadmapItemCompleted ends an item in progress successfully.
type RoadmapItemCompleted struct {
	ItemID string    `json:"itemId"`
	City   string    `json:"city"`
	At     time.Time `json:"at,omitzero"`
}

// RoadmapItemCancelled ends an open item. From is the stage it was cancelled in.
type RoadmapItemCancelled struct {
	ItemID string    `json:"itemId"`
	City   string    `json:"city"`
	Reason string    `json:"reason"`
	From   Stage     `json:"from"`
	At     time.Time `json:"at,omitzero"`
}

func (CollaboratoryLaunched) EventType() string  { return TypeCollaboratoryLaunched }
func (CityJoined) EventType() string             { return TypeCityJoined }
func (MemberRegistered) EventType() string       { return TypeMemberRegistered }
func (MemberRemoved) EventType() string          { return TypeMemberRemoved }
func (RoadmapItemProposed) EventType() string    { return TypeRoadmapItemProposed }
func (RoadmapItemRevised) EventType() string     { return TypeRoadmapItemRevised }
func (RoadmapItemApproved) EventType() string    { return TypeRoadmapItemApproved }
func (ChangesRequested) EventType() string       { return TypeChangesRequested }
func (RoadmapItemRejected) EventType() string    { return TypeRoadmapItemRejected }
func (ImplementationStarted) EventType() string  { return TypeImplementationStarted }
func (RoadmapUpdateSubmitted) EventType() string { return TypeRoadmapUpdateSubmitted }
func (MeasurementCorrected) EventType() string   { return TypeMeasurementCorrected }
func (ItemPutOnHold) EventType() string          { return TypeItemPutOnHold }
func (ItemResumed) EventType() string            { return TypeItemResumed }
func (RoadmapItemCompleted) EventType() string   { return TypeRoadmapItemCompleted }
func (RoadmapItemCancelled) EventType() string   { return TypeRoadmapItemCancelled }

func (CollaboratoryLaunched) isEvent()  {}
func (CityJoined) isEvent()             {}
func (MemberRegistered) isEvent()       {}
func (MemberRemoved) isEvent()          {}
func (RoadmapItemProposed) isEvent()    {}
func (RoadmapItemRevised) isEvent()     {}
func (RoadmapItemApproved) isEvent()    {}
func (ChangesRequested) isEvent()       {}
func (RoadmapItemRejected) isEvent()    {}
func (ImplementationStarted) isEvent()  {}
func (RoadmapUpdateSubmitted) isEvent() {}
func (MeasurementCorrected) isEvent()   {}
func (ItemPutOnHold) isEvent()          {}
func (ItemResumed) isEvent()            {}
func (RoadmapItemCompleted) isEvent()   {}
func (RoadmapItemCancelled) isEvent()   {}

// ItemEvent is implemented by every event of a roadmap item stream.
type ItemEvent interface {
	Event
	// Item returns the item id and the city the item belongs to.
	Item() (itemID, city string)
}

func (e RoadmapItemProposed) Item() (string, string)    { return e.ItemID, e.City }
func (e RoadmapItemRevised) Item() (string, string)     { return e.ItemID, e.City }
func (e RoadmapItemApproved) Item() (string, string)    { return e.ItemID, e.City }
func (e ChangesRequested) Item() (string, string)       { return e.ItemID, e.City }
func (e RoadmapItemRejected) Item() (string, string)    { return e.ItemID, e.City }
func (e ImplementationStarted) Item() (string, string)  { return e.ItemID, e.City }
func (e RoadmapUpdateSubmitted) Item() (string, string) { return e.ItemID, e.City }
func (e MeasurementCorrected) Item() (string, string)   { return e.ItemID, e.City }
func (e ItemPutOnHold) Item() (string, string)          { return e.ItemID, e.City }
func (e ItemResumed) Item() (string, string)            { return e.ItemID, e.City }
func (e RoadmapItemCompleted) Item() (string, string)   { return e.ItemID, e.City }
func (e RoadmapItemCancelled) Item() (string, string)   { return e.ItemID, e.City }
