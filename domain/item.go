package domain

import (
	"slices"
	"time"
)

// RoadmapItem is the folded state of a roadmap item stream. The zero value (Stage "") is an item
// that does not exist. States are shared between goroutines: treat them as immutable (EvolveItem
// returns a new state and never writes to the slices of the old one).
type RoadmapItem struct {
	ID    string
	City  string
	Stage Stage
	// ItemFields are the fields of the latest proposal or revision.
	ItemFields
	// Revisions counts RoadmapItemRevised events.
	Revisions int
	// MilestonesReached are the ids of the milestones reported reached, in the order reported.
	MilestonesReached []string
	// ProgressPercent is the latest reported progress; meaningful only when ProgressReported.
	ProgressPercent  int
	ProgressReported bool
	// Updates are the roadmap updates submitted, in order.
	Updates []UpdateRecord
	// LastComment is the comment of the latest ChangesRequested.
	LastComment string
	ProposedAt  time.Time
	ChangedAt   time.Time // time of the latest event
}

// UpdateRecord is what the item keeps of a roadmap update.
type UpdateRecord struct {
	ID       string
	Measured bool    // the update carried a measurement
	Value    float64 // the measured value in force (after corrections)
	Period   string
	At       time.Time
}

// Update returns the update with the given id.
func (s RoadmapItem) Update(id string) (UpdateRecord, bool) {
	for _, u := range s.Updates {
		if u.ID == id {
			return u, true
		}
	}
	return UpdateRecord{}, false
}

// MilestoneReached reports whether the milestone with the given id was reported reached.
func (s RoadmapItem) MilestoneReached(id string) bool {
	return slices.Contains(s.MilestonesReached, id)
}

// EvolveItem applies one event to the state and returns the new state. It ignores events of other
// streams and never validates: events are facts.
func EvolveItem(s RoadmapItem, e Event) RoadmapItem {
	ie, ok := e.(ItemEvent)
	if !ok {
		return s
	}
	switch e := ie.(type) {
	case RoadmapItemProposed:
		s = RoadmapItem{ID: e.ItemID, City: e.City, Stage: StageProposed, ProposedAt: e.At}
		s.ItemFields = ItemFields{
			Title: e.Title, Description: e.Description, Theme: e.Theme, SDGTargets: e.SDGTargets,
			Indicator: e.Indicator, Milestones: e.Milestones, Budget: e.Budget,
			StartDate: e.StartDate, DueDate: e.DueDate,
		}
	case RoadmapItemRevised:
		s.Stage = StageProposed
		s.Revisions++
		s.ItemFields = ItemFields{
			Title: e.Title, Description: e.Description, Theme: e.Theme, SDGTargets: e.SDGTargets,
			Indicator: e.Indicator, Milestones: e.Milestones, Budget: e.Budget,
			StartDate: e.StartDate, DueDate: e.DueDate,
		}
	case RoadmapItemApproved:
		s.Stage = StageApproved
	case ChangesRequested:
		s.Stage = StageChangesRequested
		s.LastComment = e.Comment
	case RoadmapItemRejected:
		s.Stage = StageRejected
	case ImplementationStarted:
		s.Stage = StageInProgress
	case RoadmapUpdateSubmitted:
		if e.ProgressPercent != nil {
			s.ProgressPercent, s.ProgressReported = *e.ProgressPercent, true
		}
		if len(e.MilestonesReached) > 0 {
			s.MilestonesReached = append(slices.Clip(s.MilestonesReached), e.MilestonesReached...)
		}
		u := UpdateRecord{ID: e.UpdateID, At: e.At}
		if e.Measurement != nil {
			u.Measured, u.Value, u.Period = true, e.Measurement.Value, e.Measurement.Period
		}
		s.Updates = append(slices.Clip(s.Updates), u)
	case MeasurementCorrected:
		if i := slices.IndexFunc(s.Updates, func(u UpdateRecord) bool { return u.ID == e.UpdateID }); i >= 0 {
			s.Updates = slices.Clone(s.Updates)
			s.Updates[i].Value = e.NewValue
		}
	case ItemPutOnHold:
		s.Stage = StageOnHold
	case ItemResumed:
		s.Stage = StageInProgress
	case RoadmapItemCompleted:
		s.Stage = StageCompleted
	case RoadmapItemCancelled:
		s.Stage = StageCancelled
	}
	s.ChangedAt = eventAt(ie)
	return s
}

func eventAt(e Event) time.Time {
	switch e := e.(type) {
	case RoadmapItemProposed:
		return e.At
	case RoadmapItemRevised:
		return e.At
	case RoadmapItemApproved:
		return e.At
	case ChangesRequested:
		return e.At
	case RoadmapItemRejected:
		return e.At
	case ImplementationStarted:
		return e.At
	case RoadmapUpdateSubmitted:
		return e.At
	case MeasurementCorrected:
		return e.At
	case ItemPutOnHold:
		return e.At
	case ItemResumed:
		return e.At
	case RoadmapItemCompleted:
		return e.At
	case RoadmapItemCancelled:
		return e.At
	}
	return time.Time{}
}

// allowedFrom is the lifecycle: the stages in which the item command named cmd is allowed. Propose
// is allowed only on an item that does not exist (the zero stage).
func allowedFrom(cmd string) []Stage {
	switch cmd {
	case CmdPropose:
		return []Stage{""}
	case CmdRevise: // -> proposed
		return []Stage{StageProposed, StageChangesRequested}
	case CmdApprove, CmdRequestChanges, CmdReject: // -> approved, changes_requested, rejected
		return []Stage{StageProposed}
	case CmdStart: // -> in_progress
		return []Stage{StageApproved}
	case CmdSubmitUpdate, CmdPutOnHold, CmdComplete: // stays, -> on_hold, -> completed
		return []Stage{StageInProgress}
	case CmdResume: // -> in_progress
		return []Stage{StageOnHold}
	case CmdCorrectMeasurement: // stays: corrects a recorded fact, even of a closed item
		return []Stage{StageInProgress, StageOnHold, StageCompleted, StageCancelled}
	case CmdCancel: // -> cancelled
		return []Stage{StageProposed, StageChangesRequested, StageApproved, StageInProgress, StageOnHold}
	}
	return nil
}

// Allowed reports whether the item command named cmd (a CommandName) is allowed in stage s. Propose
// is allowed only in the zero stage (the item does not exist yet).
func Allowed(cmd string, s Stage) bool { return slices.Contains(allowedFrom(cmd), s) }

// DecideItem decides what a roadmap item command records, given the folded state. It checks, in
// this order: the actor's role; whether the item exists (ErrNotFound, or ErrAlreadyExists for a
// second proposal); the actor's city against the item's city; the stage; the command's fields. It
// returns the events to append, or one of the domain errors (see the package documentation).
func DecideItem(s RoadmapItem, c ItemCommand, ctx Context) ([]Event, error) {
	if c == nil {
		return nil, &ValidationError{Fields: []FieldError{fieldErr("command", FieldRequired, "required")}}
	}
	cmd := c.CommandName()
	if err := Authorize(ctx, cmd, ""); err != nil {
		return nil, err
	}
	at := ctx.at()
	if p, ok := c.(ProposeRoadmapItem); ok {
		if err := Authorize(ctx, cmd, p.City); err != nil {
			return nil, err
		}
		if s.Stage != "" {
			return nil, &AlreadyExistsError{Kind: KindItem, ID: s.ID}
		}
		if err := validatePropose(p, ctx); err != nil {
			return nil, err
		}
		f := p.ItemFields.clone()
		return []Event{RoadmapItemProposed{
			ItemID: p.ItemID, City: p.City, Title: f.Title, Description: f.Description, Theme: f.Theme,
			SDGTargets: f.SDGTargets, Indicator: f.Indicator, Milestones: f.Milestones, Budget: f.Budget,
			StartDate: f.StartDate, DueDate: f.DueDate, At: at,
		}}, nil
	}
	if s.Stage == "" {
		return nil, &NotFoundError{Kind: KindItem}
	}
	if err := Authorize(ctx, cmd, s.City); err != nil {
		return nil, err
	}
	if !Allowed(cmd, s.Stage) {
		return nil, &LifecycleError{Command: cmd, Stage: s.Stage}
	}
	id, city := s.ID, s.City
	switch c := c.(type) {
	case ReviseRoadmapItem:
		if err := validateFields(c.ItemFields); err != nil {
			return nil, err
		}
		f := c.ItemFields.clone()
		return []Event{RoadmapItemRevised{
			ItemID: id, City: city, Title: f.Title, Description: f.Description, Theme: f.Theme,
			SDGTargets: f.SDGTargets, Indicator: f.Indicator, Milestones: f.Milestones, Budget: f.Budget,
			StartDate: f.StartDate, DueDate: f.DueDate, At: at,
		}}, nil
	case ApproveRoadmapItem:
		return []Event{RoadmapItemApproved{ItemID: id, City: city, At: at}}, nil
	case RequestChanges:
		if err := validateText("comment", c.Comment, MaxReasonLen); err != nil {
			return nil, err
		}
		return []Event{ChangesRequested{ItemID: id, City: city, Comment: c.Comment, At: at}}, nil
	case RejectRoadmapItem:
		if err := validateText("reason", c.Reason, MaxReasonLen); err != nil {
			return nil, err
		}
		return []Event{RoadmapItemRejected{ItemID: id, City: city, Reason: c.Reason, At: at}}, nil
	case StartImplementation:
		return []Event{ImplementationStarted{ItemID: id, City: city, At: at}}, nil
	case SubmitRoadmapUpdate:
		if err := validateUpdate(c, s); err != nil {
			return nil, err
		}
		if _, dup := s.Update(c.UpdateID); dup {
			return nil, &AlreadyExistsError{Kind: KindUpdate, ID: c.UpdateID}
		}
		return []Event{RoadmapUpdateSubmitted{
			ItemID: id, City: city, UpdateID: c.UpdateID, ProgressPercent: clonePtr(c.ProgressPercent),
			Measurement: clonePtr(c.Measurement), MilestonesReached: cloneSlice(c.MilestonesReached),
			Narrative: c.Narrative, Evidence: cloneSlice(c.Evidence), At: at,
		}}, nil
	case CorrectMeasurement:
		u, err := validateCorrection(c, s)
		if err != nil {
			return nil, err
		}
		return []Event{MeasurementCorrected{
			ItemID: id, City: city, UpdateID: u.ID, OldValue: u.Value, NewValue: c.Value, Reason: c.Reason, At: at,
		}}, nil
	case PutOnHold:
		if err := validateText("reason", c.Reason, MaxReasonLen); err != nil {
			return nil, err
		}
		return []Event{ItemPutOnHold{ItemID: id, City: city, Reason: c.Reason, At: at}}, nil
	case Resume:
		return []Event{ItemResumed{ItemID: id, City: city, At: at}}, nil
	case CompleteRoadmapItem:
		return []Event{RoadmapItemCompleted{ItemID: id, City: city, At: at}}, nil
	case CancelRoadmapItem:
		if err := validateText("reason", c.Reason, MaxReasonLen); err != nil {
			return nil, err
		}
		return []Event{RoadmapItemCancelled{ItemID: id, City: city, Reason: c.Reason, From: s.Stage, At: at}}, nil
	}
	// Unreachable: the command set is sealed and every command is handled above.
	return nil, &ValidationError{Fields: []FieldError{fieldErr("command", FieldOneOf, "unknown command "+cmd)}}
}

// clone returns a deep copy of f, so that an event never shares memory with the caller's command.
func (f ItemFields) clone() ItemFields {
	f.SDGTargets = cloneSlice(f.SDGTargets)
	f.Milestones = cloneSlice(f.Milestones)
	f.Indicator = clonePtr(f.Indicator)
	f.Budget = clonePtr(f.Budget)
	return f
}

// cloneSlice copies s; nil becomes an empty slice, so that lists are [] (never null) on the wire.
func cloneSlice[T any](s []T) []T {
	out := make([]T, len(s))
	copy(out, s)
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
