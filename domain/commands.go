package domain

// CollaboratoryCommand is a command on a collaboratory stream (CollaboratoryStream). The set is
// closed: only this package's command types implement it.
type CollaboratoryCommand interface {
	// CommandName is a short stable name for metrics and errors, e.g. "register_member".
	CommandName() string
	isCollaboratoryCommand()
}

// ItemCommand is a command on a roadmap item stream (ItemStream). The set is closed. Only
// ProposeRoadmapItem names its item (it creates the stream); the caller picks the stream of the
// other commands (e.g. from the URL).
type ItemCommand interface {
	// CommandName is a short stable name for metrics and errors, e.g. "complete".
	CommandName() string
	isItemCommand()
}

// Command names, as returned by CommandName.
const (
	CmdLaunch             = "launch"
	CmdJoin               = "join"
	CmdRegisterMember     = "register_member"
	CmdRemoveMember       = "remove_member"
	CmdPropose            = "propose"
	CmdRevise             = "revise"
	CmdApprove            = "approve"
	CmdRequestChanges     = "request_changes"
	CmdReject             = "reject"
	CmdStart              = "start"
	CmdSubmitUpdate       = "submit_update"
	CmdCorrectMeasurement = "correct_measurement"
	CmdPutOnHold          = "hold"
	CmdResume             = "resume"
	CmdComplete           = "complete"
	CmdCancel             = "cancel"
)

// ---- collaboratory commands ----

// LaunchCollaboratory starts a collaboratory. FoundingCities are slugs from the FoundingCities
// catalogue.
type LaunchCollaboratory struct {
	Slug           string   `json:"slug"` // e.g. "csc"; the stream is CollaboratoryStream(Slug)
	Name           string   `json:"name"`
	Phase          string   `json:"phase"` // e.g. "2018-2020"
	FoundingCities []string `json:"foundingCities"`
}

// JoinCollaboratory admits a city after the launch.
type JoinCollaboratory struct {
	City City `json:"city"`
}

// RegisterMember admits a member of a taking-part city's delegation.
type RegisterMember struct {
	MemberID  string    `json:"memberId"`
	City      string    `json:"city"`
	Name      string    `json:"name"`
	Expertise Expertise `json:"expertise"`
}

// RemoveMember ends a membership.
type RemoveMember struct {
	MemberID string `json:"memberId"`
	Reason   string `json:"reason"`
}

// ---- roadmap item commands ----

// ItemFields are the editable fields of a roadmap item, shared by ProposeRoadmapItem and
// ReviseRoadmapItem.
type ItemFields struct {
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Theme       Theme       `json:"theme"`
	SDGTargets  []string    `json:"sdgTargets"`
	Indicator   *Indicator  `json:"indicator,omitempty"`
	Milestones  []Milestone `json:"milestones"`
	Budget      *Budget     `json:"budget,omitempty"`
	StartDate   Date        `json:"startDate"`
	DueDate     Date        `json:"dueDate"`
}

// ProposeRoadmapItem creates a roadmap item for a city. The stream is ItemStream(ItemID).
type ProposeRoadmapItem struct {
	ItemID string `json:"itemId"`
	City   string `json:"city"`
	ItemFields
}

// ReviseRoadmapItem replaces the editable fields of a proposed item, or of one with changes
// requested (which goes back to proposed).
type ReviseRoadmapItem struct {
	ItemFields
}

// ApproveRoadmapItem approves a proposed item.
type ApproveRoadmapItem struct{}

// RequestChanges sends a proposed item back to its city.
type RequestChanges struct {
	Comment string `json:"comment"`
}

// RejectRoadmapItem rejects a proposed item for good.
type RejectRoadmapItem struct {
	Reason string `json:"reason"`
}

// StartImplementation starts an approved item.
type StartImplementation struct{}

// SubmitRoadmapUpdate reports progress on an item in progress.
type SubmitRoadmapUpdate struct {
	UpdateID          string       `json:"updateId"`
	ProgressPercent   *int         `json:"progressPercent,omitempty"`
	Measurement       *Measurement `json:"measurement,omitempty"`
	MilestonesReached []string     `json:"milestonesReached"`
	Narrative         string       `json:"narrative"`
	Evidence          []Evidence   `json:"evidence"`
}

// CorrectMeasurement corrects the measured value of an earlier update.
type CorrectMeasurement struct {
	UpdateID string  `json:"updateId"`
	Value    float64 `json:"value"`
	Reason   string  `json:"reason"`
}

// PutOnHold pauses an item in progress.
type PutOnHold struct {
	Reason string `json:"reason"`
}

// Resume continues an item on hold.
type Resume struct{}

// CompleteRoadmapItem completes an item in progress.
type CompleteRoadmapItem struct{}

// CancelRoadmapItem cancels an open item.
type CancelRoadmapItem struct {
	Reason string `json:"reason"`
}

func (LaunchCollaboratory) CommandName() string { return CmdLaunch }
func (JoinCollaboratory) CommandName() string   { return CmdJoin }
func (RegisterMember) CommandName() string      { return CmdRegisterMember }
func (RemoveMember) CommandName() string        { return CmdRemoveMember }
func (ProposeRoadmapItem) CommandName() string  { return CmdPropose }
func (ReviseRoadmapItem) CommandName() string   { return CmdRevise }
func (ApproveRoadmapItem) CommandName() string  { return CmdApprove }
func (RequestChanges) CommandName() string      { return CmdRequestChanges }
func (RejectRoadmapItem) CommandName() string   { return CmdReject }
func (StartImplementation) CommandName() string { return CmdStart }
func (SubmitRoadmapUpdate) CommandName() string { return CmdSubmitUpdate }
func (CorrectMeasurement) CommandName() string  { return CmdCorrectMeasurement }
func (PutOnHold) CommandName() string           { return CmdPutOnHold }
func (Resume) CommandName() string              { return CmdResume }
func (CompleteRoadmapItem) CommandName() string { return CmdComplete }
func (CancelRoadmapItem) CommandName() string   { return CmdCancel }

func (LaunchCollaboratory) isCollaboratoryCommand() {}
func (JoinCollaboratory) isCollaboratoryCommand()   {}
func (RegisterMember) isCollaboratoryCommand()      {}
func (RemoveMember) isCollaboratoryCommand()        {}

func (ProposeRoadmapItem) isItemCommand()  {}
func (ReviseRoadmapItem) isItemCommand()   {}
func (ApproveRoadmapItem) isItemCommand()  {}
func (RequestChanges) isItemCommand()      {}
func (RejectRoadmapItem) isItemCommand()   {}
func (StartImplementation) isItemCommand() {}
func (SubmitRoadmapUpdate) isItemCommand() {}
func (CorrectMeasurement) isItemCommand()  {}
func (PutOnHold) isItemCommand()           {}
func (Resume) isItemCommand()              {}
func (CompleteRoadmapItem) isItemCommand() {}
func (CancelRoadmapItem) isItemCommand()   {}
