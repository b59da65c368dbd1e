package domain

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scenario is one given/when/then case: the events already in the stream, the command, and either the
// events decided or the error (compared with cmp on its concrete value).
type itemScenario struct {
	name    string
	given   []Event
	when    ItemCommand
	ctx     Context
	then    []Event
	wantErr error
}

func runItemScenarios(t *testing.T, cases []itemScenario) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecideItem(foldItem(tc.given), tc.when, tc.ctx)
			if diff := cmp.Diff(tc.wantErr, err, cmp.Comparer(sameError)); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.then, got); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// sameError compares domain errors by concrete type and content.
func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return cmp.Equal(a, b, cmp.AllowUnexported())
}

func TestDecideItem_Scenarios(t *testing.T) {
	later := t0.Add(48 * time.Hour)
	ctxLater := coordinator()
	ctxLater.Now = later.In(time.FixedZone("CET", 3600)) // stamped in UTC whatever the zone
	revised := validFields()
	revised.Title = "Green roofs and facades"
	revised.Budget = nil
	revised.SDGTargets = []string{"11.6"}

	cases := []itemScenario{
		{name: "member proposes for own city", when: validPropose(), ctx: memberOf("berlin"),
			then: []Event{proposedEvent()}},
		{name: "coordinator proposes for any city", when: ProposeRoadmapItem{ItemID: itemID, City: "dakar", ItemFields: validFields()},
			ctx: coordinator(), then: []Event{func() Event { e := proposedEvent(); e.City = "dakar"; return e }()}},
		{name: "propose without optional parts", when: func() ItemCommand {
			p := validPropose()
			p.Indicator, p.Budget, p.Milestones = nil, nil, nil
			return p
		}(), ctx: memberOf("berlin"), then: []Event{func() Event {
			e := proposedEvent()
			e.Indicator, e.Budget, e.Milestones = nil, nil, []Milestone{}
			return e
		}()}},
		{name: "propose twice", given: historyIn(StageProposed), when: validPropose(), ctx: memberOf("berlin"),
			wantErr: &AlreadyExistsError{Kind: KindItem, ID: itemID}},
		{name: "propose for a city that does not take part", when: ProposeRoadmapItem{ItemID: itemID, City: "atlantis",
			ItemFields: validFields()}, ctx: coordinator(),
			wantErr: &ValidationError{Fields: []FieldError{{Field: "city", Code: FieldUnknownCity,
				Message: `city: "atlantis" does not take part in the collaboratory`}}}},
		{name: "propose for a city that joined (Context.Cities)", when: ProposeRoadmapItem{ItemID: itemID, City: "montreal",
			ItemFields: validFields()}, ctx: func() Context {
			c := memberOf("montreal")
			c.Cities = func(s string) bool { return s == "montreal" || IsFoundingCity(s) }
			return c
		}(), then: []Event{func() Event { e := proposedEvent(); e.City = "montreal"; return e }()}},
		{name: "revise in changes_requested goes back to proposed", given: historyIn(StageChangesRequested),
			when: ReviseRoadmapItem{ItemFields: revised}, ctx: ctxLater,
			then: []Event{RoadmapItemRevised{ItemID: itemID, City: "berlin", Title: revised.Title,
				Description: revised.Description, Theme: revised.Theme, SDGTargets: []string{"11.6"},
				Indicator: revised.Indicator, Milestones: revised.Milestones, StartDate: revised.StartDate,
				DueDate: revised.DueDate, At: later.UTC()}}},
		{name: "approve", given: historyIn(StageProposed), when: ApproveRoadmapItem{}, ctx: coordinator(),
			then: []Event{RoadmapItemApproved{ItemID: itemID, City: "berlin", At: t0}}},
		{name: "request changes", given: historyIn(StageProposed), when: RequestChanges{Comment: "Add costs."},
			ctx: coordinator(), then: []Event{ChangesRequested{ItemID: itemID, City: "berlin", Comment: "Add costs.", At: t0}}},
		{name: "reject", given: historyIn(StageProposed), when: RejectRoadmapItem{Reason: "Out of scope."},
			ctx: coordinator(), then: []Event{RoadmapItemRejected{ItemID: itemID, City: "berlin", Reason: "Out of scope.", At: t0}}},
		{name: "start", given: historyIn(StageApproved), when: StartImplementation{}, ctx: memberOf("berlin"),
			then: []Event{ImplementationStarted{ItemID: itemID, City: "berlin", At: t0}}},
		{name: "submit update", given: historyIn(StageInProgress), when: sampleItemCommands()[CmdSubmitUpdate],
			ctx: memberOf("berlin"), then: []Event{RoadmapUpdateSubmitted{ItemID: itemID, City: "berlin",
				UpdateID: updateID2, ProgressPercent: ptr(45), Measurement: &Measurement{Value: 9000, Period: "2027"},
				MilestonesReached: []string{"m2"}, Narrative: "Ten roofs done.",
				Evidence: []Evidence{{URI: "https://berlin.de/r2.pdf", SHA256: sha}}, At: t0}}},
		{name: "minimal update: lists are empty, not nil", given: historyIn(StageInProgress),
			when: SubmitRoadmapUpdate{UpdateID: updateID2, Narrative: "Nothing new."}, ctx: memberOf("berlin"),
			then: []Event{RoadmapUpdateSubmitted{ItemID: itemID, City: "berlin", UpdateID: updateID2,
				MilestonesReached: []string{}, Narrative: "Nothing new.", Evidence: []Evidence{}, At: t0}}},
		{name: "update id used twice", given: historyIn(StageInProgress),
			when: SubmitRoadmapUpdate{UpdateID: updateID1, Narrative: "Again."}, ctx: memberOf("berlin"),
			wantErr: &AlreadyExistsError{Kind: KindUpdate, ID: updateID1}},
		{name: "correct a measurement", given: historyIn(StageInProgress),
			when: CorrectMeasurement{UpdateID: updateID1, Value: 5200, Reason: "Recounted."}, ctx: memberOf("berlin"),
			then: []Event{MeasurementCorrected{ItemID: itemID, City: "berlin", UpdateID: updateID1, OldValue: 5000,
				NewValue: 5200, Reason: "Recounted.", At: t0}}},
		{name: "a second correction starts from the corrected value",
			given: append(historyIn(StageInProgress), MeasurementCorrected{ItemID: itemID, City: "berlin",
				UpdateID: updateID1, OldValue: 5000, NewValue: 5200, Reason: "Recounted.", At: t0}),
			when: CorrectMeasurement{UpdateID: updateID1, Value: 5100, Reason: "Recounted again."}, ctx: coordinator(),
			then: []Event{MeasurementCorrected{ItemID: itemID, City: "berlin", UpdateID: updateID1, OldValue: 5200,
				NewValue: 5100, Reason: "Recounted again.", At: t0}}},
		{name: "correct an unknown update", given: historyIn(StageInProgress),
			when: CorrectMeasurement{UpdateID: updateID2, Value: 1, Reason: "x"}, ctx: coordinator(),
			wantErr: &NotFoundError{Kind: KindUpdate, ID: updateID2}},
		{name: "correct an update without measurement",
			given: append(historyIn(StageInProgress), RoadmapUpdateSubmitted{ItemID: itemID, City: "berlin",
				UpdateID: updateID2, Narrative: "words only", At: t0}),
			when: CorrectMeasurement{UpdateID: updateID2, Value: 1, Reason: "x"}, ctx: coordinator(),
			wantErr: &ValidationError{Fields: []FieldError{{Field: "updateId", Code: FieldNoMeasurement,
				Message: "updateId: the update has no measurement to correct"}}}},
		{name: "correct to the same value", given: historyIn(StageInProgress),
			when: CorrectMeasurement{UpdateID: updateID1, Value: 5000, Reason: "x"}, ctx: coordinator(),
			wantErr: &ValidationError{Fields: []FieldError{{Field: "value", Code: FieldUnchanged,
				Message: "value: is already the value in force"}}}},
		{name: "correct after completion", given: historyIn(StageCompleted),
			when: CorrectMeasurement{UpdateID: updateID1, Value: 5200, Reason: "Audit."}, ctx: coordinator(),
			then: []Event{MeasurementCorrected{ItemID: itemID, City: "berlin", UpdateID: updateID1, OldValue: 5000,
				NewValue: 5200, Reason: "Audit.", At: t0}}},
		{name: "hold", given: historyIn(StageInProgress), when: PutOnHold{Reason: "Permits."}, ctx: memberOf("berlin"),
			then: []Event{ItemPutOnHold{ItemID: itemID, City: "berlin", Reason: "Permits.", At: t0}}},
		{name: "resume", given: historyIn(StageOnHold), when: Resume{}, ctx: memberOf("berlin"),
			then: []Event{ItemResumed{ItemID: itemID, City: "berlin", At: t0}}},
		{name: "complete", given: historyIn(StageInProgress), when: CompleteRoadmapItem{}, ctx: memberOf("berlin"),
			then: []Event{RoadmapItemCompleted{ItemID: itemID, City: "berlin", At: t0}}},
		{name: "cancel records the stage it leaves", given: historyIn(StageApproved),
			when: CancelRoadmapItem{Reason: "No funds."}, ctx: memberOf("berlin"),
			then: []Event{RoadmapItemCancelled{ItemID: itemID, City: "berlin", Reason: "No funds.", From: StageApproved, At: t0}}},
		{name: "command on an item that does not exist", when: ApproveRoadmapItem{}, ctx: coordinator(),
			wantErr: &NotFoundError{Kind: KindItem}},
		{name: "complete while on hold", given: historyIn(StageOnHold), when: CompleteRoadmapItem{}, ctx: coordinator(),
			wantErr: &LifecycleError{Command: CmdComplete, Stage: StageOnHold}},
		{name: "zero Now leaves at out", given: historyIn(StageProposed), when: ApproveRoadmapItem{},
			ctx: Context{Role: RoleAdmin}, then: []Event{RoadmapItemApproved{ItemID: itemID, City: "berlin"}}},
		{name: "nil command", when: nil, ctx: coordinator(),
			wantErr: &ValidationError{Fields: []FieldError{{Field: "command", Code: FieldRequired, Message: "command: required"}}}},
	}
	runItemScenarios(t, cases)
}

// TestDecideItem_EventsDoNotShareCommandMemory checks that changing a command after deciding does not
// change the decided event (events are stored and states are shared).
func TestDecideItem_EventsDoNotShareCommandMemory(t *testing.T) {
	p := validPropose()
	events, err := DecideItem(RoadmapItem{}, p, coordinator())
	if err != nil {
		t.Fatal(err)
	}
	p.SDGTargets[0] = "11.1"
	p.Milestones[0].Title = "changed"
	p.Indicator.Name = "changed"
	p.Budget.Amount = 1
	if diff := cmp.Diff([]Event{proposedEvent()}, events); diff != "" {
		t.Fatalf("event changed with the command (-want +got):\n%s", diff)
	}

	u := sampleItemCommands()[CmdSubmitUpdate].(SubmitRoadmapUpdate)
	events, err = DecideItem(foldItem(historyIn(StageInProgress)), u, coordinator())
	if err != nil {
		t.Fatal(err)
	}
	*u.ProgressPercent = 99
	u.Measurement.Value = -1
	u.MilestonesReached[0] = "zzz"
	u.Evidence[0].URI = "changed"
	got := events[0].(RoadmapUpdateSubmitted)
	if *got.ProgressPercent != 45 || got.Measurement.Value != 9000 || got.MilestonesReached[0] != "m2" ||
		got.Evidence[0].URI != "https://berlin.de/r2.pdf" {
		t.Fatalf("event changed with the command: %+v", got)
	}
}

// lifecycleSpec is the lifecycle of DESIGN.md §2 written independently of the implementation:
// command -> the stages it is allowed in, and the stage it leads to ("" = unchanged).
var lifecycleSpec = map[string]struct {
	from []Stage
	to   Stage
}{
	CmdPropose:            {from: []Stage{""}, to: StageProposed},
	CmdRevise:             {from: []Stage{StageProposed, StageChangesRequested}, to: StageProposed},
	CmdApprove:            {from: []Stage{StageProposed}, to: StageApproved},
	CmdRequestChanges:     {from: []Stage{StageProposed}, to: StageChangesRequested},
	CmdReject:             {from: []Stage{StageProposed}, to: StageRejected},
	CmdStart:              {from: []Stage{StageApproved}, to: StageInProgress},
	CmdSubmitUpdate:       {from: []Stage{StageInProgress}},
	CmdCorrectMeasurement: {from: []Stage{StageInProgress, StageOnHold, StageCompleted, StageCancelled}},
	CmdPutOnHold:          {from: []Stage{StageInProgress}, to: StageOnHold},
	CmdResume:             {from: []Stage{StageOnHold}, to: StageInProgress},
	CmdComplete:           {from: []Stage{StageInProgress}, to: StageCompleted},
	CmdCancel: {from: []Stage{StageProposed, StageChangesRequested, StageApproved, StageInProgress, StageOnHold},
		to: StageCancelled},
}

// TestDecideItem_LifecycleMatrix runs every item command in every stage (and on a missing item) and
// checks it against lifecycleSpec: allowed cells decide one event leading to the right stage,
// refused cells give the right error. A command without a row, or a row without a sample command,
// fails.
func TestDecideItem_LifecycleMatrix(t *testing.T) {
	samples := sampleItemCommands()
	names := declaredTypesWithMethod(t, "isItemCommand")
	if len(names) != len(samples) || len(lifecycleSpec) != len(samples) {
		t.Fatalf("item command types %v, samples %d, lifecycle rows %d: every command needs a sample and a row",
			names, len(samples), len(lifecycleSpec))
	}
	for _, n := range names {
		found := false
		for _, c := range samples {
			found = found || typeName(c) == n
		}
		if !found {
			t.Fatalf("no sample command of type %s", n)
		}
	}
	for cmd, sample := range samples {
		spec, ok := lifecycleSpec[cmd]
		if !ok {
			t.Fatalf("no lifecycle row for %s", cmd)
		}
		for _, stage := range append([]Stage{""}, Stages()...) {
			t.Run(cmd+"/"+string(stage), func(t *testing.T) {
				state := foldItem(historyIn(stage))
				events, err := DecideItem(state, sample, coordinator())
				allowed := slices.Contains(spec.from, stage)
				if allowed != Allowed(cmd, stage) {
					t.Errorf("Allowed(%s, %q) = %v, want %v", cmd, stage, !allowed, allowed)
				}
				switch {
				case allowed:
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if len(events) != 1 {
						t.Fatalf("decided %d events, want 1", len(events))
					}
					want := spec.to
					if want == "" {
						want = stage
					}
					if got := EvolveItem(state, events[0]).Stage; got != want {
						t.Fatalf("stage after %s = %q, want %q", cmd, got, want)
					}
				case stage == "":
					if !errors.Is(err, ErrNotFound) {
						t.Fatalf("err = %v, want not found", err)
					}
				case cmd == CmdPropose:
					if !errors.Is(err, ErrAlreadyExists) {
						t.Fatalf("err = %v, want already exists", err)
					}
				default:
					var le *LifecycleError
					if !errors.As(err, &le) || *le != (LifecycleError{Command: cmd, Stage: stage}) {
						t.Fatalf("err = %v, want lifecycle error for %s in %s", err, cmd, stage)
					}
					if Code(err) != CodeLifecycle || !strings.Contains(err.Error(), string(stage)) {
						t.Fatalf("code %q, message %q", Code(err), err.Error())
					}
				}
			})
		}
	}
}

func TestLifecycleError_Message(t *testing.T) {
	for _, tc := range []struct {
		err  LifecycleError
		want string
	}{
		{LifecycleError{Command: CmdComplete, Stage: StageProposed}, "cannot complete an item in stage proposed"},
		{LifecycleError{Command: CmdRequestChanges, Stage: StageApproved}, "cannot request changes on an item in stage approved"},
		{LifecycleError{Command: CmdSubmitUpdate, Stage: StageOnHold}, "cannot submit an update to an item in stage on_hold"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestEvolveItem_Folds(t *testing.T) {
	events := append(historyIn(StageInProgress),
		RoadmapUpdateSubmitted{ItemID: itemID, City: "berlin", UpdateID: updateID2, ProgressPercent: ptr(60),
			MilestonesReached: []string{"m2"}, Narrative: "more", At: t0.Add(time.Hour)},
		MeasurementCorrected{ItemID: itemID, City: "berlin", UpdateID: updateID1, OldValue: 5000, NewValue: 4800,
			Reason: "r", At: t0.Add(2 * time.Hour)},
		ItemPutOnHold{ItemID: itemID, City: "berlin", Reason: "r", At: t0.Add(3 * time.Hour)},
	)
	got := foldItem(events)
	want := RoadmapItem{
		ID: itemID, City: "berlin", Stage: StageOnHold, ItemFields: validFields(),
		MilestonesReached: []string{"m1", "m2"}, ProgressPercent: 60, ProgressReported: true,
		Updates: []UpdateRecord{
			{ID: updateID1, Measured: true, Value: 4800, Period: "2026-Q3", At: t0},
			{ID: updateID2, At: t0.Add(time.Hour)},
		},
		ProposedAt: t0, ChangedAt: t0.Add(3 * time.Hour),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("state (-want +got):\n%s", diff)
	}
	// Events of the other stream are ignored.
	if diff := cmp.Diff(got, EvolveItem(got, launchedCSC()[0])); diff != "" {
		t.Fatalf("a collaboratory event changed an item (-before +after):\n%s", diff)
	}
}
