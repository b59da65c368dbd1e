package domain

import (
	"testing"
	"time"
)

// Fixed ids and times used by the tests.
const (
	itemID    = "3f2b8c1e-5d4a-4c6b-9e7f-0a1b2c3d4e5f"
	itemID2   = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"
	updateID1 = "11111111-2222-4333-8444-555555555555"
	updateID2 = "66666666-7777-4888-9999-aaaaaaaaaaaa"
	memberID  = "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"
	memberID2 = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	sha       = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

var t0 = time.Date(2026, 3, 14, 9, 30, 0, 123456789, time.UTC)

func d(s string) Date {
	v, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return v
}

func ptr[T any](v T) *T { return &v }

func coordinator() Context {
	return Context{Now: t0, Actor: "coord-1", Role: RoleCoordinator}
}

func memberOf(city string) Context {
	return Context{Now: t0, Actor: memberID, Role: RoleMember, City: city}
}

// validFields is a complete, valid set of item fields with an indicator, two milestones and a budget.
func validFields() ItemFields {
	return ItemFields{
		Title:       "Green roofs on public buildings",
		Description: "Cover 40 public buildings with green roofs to cool the city and retain rain water.",
		Theme:       ThemeEcology,
		SDGTargets:  []string{"11.6", "11.7"},
		Indicator: &Indicator{
			Name: "Green roof area", Unit: "m2", Direction: DirectionIncrease,
			Baseline: YearValue{Value: 1200, Year: 2025}, Target: YearValue{Value: 40000, Year: 2028},
		},
		Milestones: []Milestone{
			{ID: "m1", Title: "Survey of roofs", Due: d("2026-09-30")},
			{ID: "m2", Title: "First 10 roofs", Due: d("2027-06-30")},
		},
		Budget:    &Budget{Amount: 2500000, Currency: "EUR", FundingSource: "City budget and EU LIFE"},
		StartDate: d("2026-04-01"),
		DueDate:   d("2028-12-31"),
	}
}

func validPropose() ProposeRoadmapItem {
	return ProposeRoadmapItem{ItemID: itemID, City: "berlin", ItemFields: validFields()}
}

// proposedEvent is what validPropose decides at t0.
func proposedEvent() RoadmapItemProposed {
	f := validFields()
	return RoadmapItemProposed{
		ItemID: itemID, City: "berlin", Title: f.Title, Description: f.Description, Theme: f.Theme,
		SDGTargets: f.SDGTargets, Indicator: f.Indicator, Milestones: f.Milestones, Budget: f.Budget,
		StartDate: f.StartDate, DueDate: f.DueDate, At: t0,
	}
}

func measuredUpdate() RoadmapUpdateSubmitted {
	return RoadmapUpdateSubmitted{
		ItemID: itemID, City: "berlin", UpdateID: updateID1, ProgressPercent: ptr(20),
		Measurement: &Measurement{Value: 5000, Period: "2026-Q3"}, MilestonesReached: []string{"m1"},
		Narrative: "Survey done.", Evidence: []Evidence{{URI: "https://berlin.de/roofs.pdf", SHA256: sha}}, At: t0,
	}
}

// historyIn returns the events of an item (berlin, itemID) that is in stage s. Items that reached
// in_progress have one update (updateID1) with a measurement and milestone m1 reached.
func historyIn(s Stage) []Event {
	p := proposedEvent()
	started := []Event{p, RoadmapItemApproved{ItemID: itemID, City: "berlin", At: t0},
		ImplementationStarted{ItemID: itemID, City: "berlin", At: t0}, measuredUpdate()}
	switch s {
	case "":
		return nil
	case StageProposed:
		return []Event{p}
	case StageChangesRequested:
		return []Event{p, ChangesRequested{ItemID: itemID, City: "berlin", Comment: "more detail", At: t0}}
	case StageApproved:
		return []Event{p, RoadmapItemApproved{ItemID: itemID, City: "berlin", At: t0}}
	case StageRejected:
		return []Event{p, RoadmapItemRejected{ItemID: itemID, City: "berlin", Reason: "out of scope", At: t0}}
	case StageInProgress:
		return started
	case StageOnHold:
		return append(started, ItemPutOnHold{ItemID: itemID, City: "berlin", Reason: "winter", At: t0})
	case StageCompleted:
		return append(started, RoadmapItemCompleted{ItemID: itemID, City: "berlin", At: t0})
	case StageCancelled:
		return append(started, RoadmapItemCancelled{ItemID: itemID, City: "berlin", Reason: "no funds",
			From: StageInProgress, At: t0})
	}
	panic("no history for stage " + string(s))
}

func foldItem(events []Event) RoadmapItem {
	var s RoadmapItem
	for _, e := range events {
		s = EvolveItem(s, e)
	}
	return s
}

func foldCollaboratory(events []Event) Collaboratory {
	var s Collaboratory
	for _, e := range events {
		s = EvolveCollaboratory(s, e)
	}
	return s
}

func launchedCSC() []Event {
	return []Event{CollaboratoryLaunched{Collaboratory: "csc", Name: "Cities Sustainability Collaboratory",
		Phase: "2018-2020", FoundingCities: FoundingCities(), At: t0}}
}

// sampleItemCommands has one valid command per item command name, valid in every stage that allows
// it given historyIn (corrections name updateID1, updates name a fresh id and milestone m2).
func sampleItemCommands() map[string]ItemCommand {
	revised := validFields()
	revised.Title = "Green roofs and facades"
	return map[string]ItemCommand{
		CmdPropose:        validPropose(),
		CmdRevise:         ReviseRoadmapItem{ItemFields: revised},
		CmdApprove:        ApproveRoadmapItem{},
		CmdRequestChanges: RequestChanges{Comment: "Please add a budget breakdown."},
		CmdReject:         RejectRoadmapItem{Reason: "Duplicate of another item."},
		CmdStart:          StartImplementation{},
		CmdSubmitUpdate: SubmitRoadmapUpdate{UpdateID: updateID2, ProgressPercent: ptr(45),
			Measurement: &Measurement{Value: 9000, Period: "2027"}, MilestonesReached: []string{"m2"},
			Narrative: "Ten roofs done.", Evidence: []Evidence{{URI: "https://berlin.de/r2.pdf", SHA256: sha}}},
		CmdCorrectMeasurement: CorrectMeasurement{UpdateID: updateID1, Value: 5200, Reason: "Recounted."},
		CmdPutOnHold:          PutOnHold{Reason: "Waiting for permits."},
		CmdResume:             Resume{},
		CmdComplete:           CompleteRoadmapItem{},
		CmdCancel:             CancelRoadmapItem{Reason: "Funding withdrawn."},
	}
}

func sampleCollaboratoryCommands() map[string]CollaboratoryCommand {
	return map[string]CollaboratoryCommand{
		CmdLaunch: LaunchCollaboratory{Slug: "csc", Name: "Cities Sustainability Collaboratory", Phase: "2018-2020",
			FoundingCities: []string{"berlin", "buenos-aires", "madrid", "dakar", "guangzhou", "mexico-city", "johannesburg"}},
		CmdJoin:           JoinCollaboratory{City: City{ID: "montreal", Name: "Montréal", Country: "CA"}},
		CmdRegisterMember: RegisterMember{MemberID: memberID2, City: "dakar", Name: "Awa Ndiaye", Expertise: ExpertiseScience},
		CmdRemoveMember:   RemoveMember{MemberID: memberID, Reason: "Left the delegation."},
	}
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
