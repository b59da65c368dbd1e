package domain

import (
	"errors"
	"slices"
	"testing"
)

// memberCommands are the commands a member may give for their own city (DESIGN.md §2, §4), written
// independently of Authorize. All the others are for coordinators and admins only.
var memberCommands = []string{CmdPropose, CmdRevise, CmdStart, CmdSubmitUpdate, CmdCorrectMeasurement, CmdPutOnHold,
	CmdResume, CmdComplete, CmdCancel}

type actor struct {
	name string
	ctx  Context
	// may reports whether this actor may give cmd for an item of berlin.
	may func(cmd string) bool
}

func actors() []actor {
	yes := func(string) bool { return true }
	no := func(string) bool { return false }
	return []actor{
		{"coordinator", coordinator(), yes},
		{"admin", Context{Now: t0, Actor: "root", Role: RoleAdmin}, yes},
		{"auditor", Context{Now: t0, Actor: "aud", Role: RoleAuditor}, no},
		{"member of the item's city", memberOf("berlin"), func(cmd string) bool { return slices.Contains(memberCommands, cmd) }},
		{"member of another city", memberOf("madrid"), no},
		{"member without a city", memberOf(""), no},
		{"no role", Context{Now: t0, Actor: "x"}, no},
		{"unknown role", Context{Now: t0, Actor: "x", Role: "superuser"}, no},
		{"auditor claiming a city", Context{Now: t0, Role: RoleAuditor, City: "berlin"}, no},
	}
}

// TestAuthorization_Items runs every item command, in a stage that allows it, as every kind of actor.
func TestAuthorization_Items(t *testing.T) {
	for cmd, sample := range sampleItemCommands() {
		stage := lifecycleSpec[cmd].from[0]
		state := foldItem(historyIn(stage))
		for _, a := range actors() {
			t.Run(cmd+"/"+a.name, func(t *testing.T) {
				events, err := DecideItem(state, sample, a.ctx)
				checkAuthorized(t, a.may(cmd), events, err)
				if err2 := Authorize(a.ctx, cmd, "berlin"); (err2 == nil) != a.may(cmd) {
					t.Fatalf("Authorize = %v, want allowed %v", err2, a.may(cmd))
				}
			})
		}
	}
}

func TestAuthorization_Collaboratory(t *testing.T) {
	launched := append(launchedCSC(), MemberRegistered{Collaboratory: "csc", MemberID: memberID, City: "berlin",
		Name: "Jana", Expertise: ExpertiseMayor, At: t0})
	for cmd, sample := range sampleCollaboratoryCommands() {
		var state Collaboratory
		if cmd != CmdLaunch {
			state = foldCollaboratory(launched)
		}
		for _, a := range actors() {
			t.Run(cmd+"/"+a.name, func(t *testing.T) {
				events, err := DecideCollaboratory(state, sample, a.ctx)
				may := a.ctx.Role == RoleCoordinator || a.ctx.Role == RoleAdmin
				checkAuthorized(t, may, events, err)
			})
		}
	}
}

func checkAuthorized(t *testing.T, may bool, events []Event, err error) {
	t.Helper()
	if may {
		if err != nil || len(events) != 1 {
			t.Fatalf("allowed actor refused: %v (%d events)", err, len(events))
		}
		return
	}
	var fe *ForbiddenError
	if !errors.Is(err, ErrForbidden) || !errors.As(err, &fe) || Code(err) != CodeForbidden || events != nil {
		t.Fatalf("err = %v, events %v; want forbidden", err, events)
	}
}

// TestAuthorization_ComesFirst checks that a refused actor learns nothing else: not whether the item
// exists, nor its stage, nor what is wrong with the command.
func TestAuthorization_ComesFirst(t *testing.T) {
	badFields := validFields()
	badFields.Title = ""
	cases := []struct {
		name  string
		state RoadmapItem
		cmd   ItemCommand
		ctx   Context
	}{
		{"auditor, missing item, invalid command", RoadmapItem{}, RequestChanges{}, Context{Role: RoleAuditor}},
		{"member, coordinator command, missing item", RoadmapItem{}, ApproveRoadmapItem{}, memberOf("berlin")},
		{"member of another city, invalid revision", foldItem(historyIn(StageProposed)),
			ReviseRoadmapItem{ItemFields: badFields}, memberOf("madrid")},
		{"member of another city, wrong stage", foldItem(historyIn(StageCompleted)), CompleteRoadmapItem{}, memberOf("madrid")},
		{"member proposing for another city an id that exists", foldItem(historyIn(StageProposed)),
			ProposeRoadmapItem{ItemID: itemID, City: "madrid", ItemFields: badFields}, memberOf("berlin")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecideItem(tc.state, tc.cmd, tc.ctx)
			if !errors.Is(err, ErrForbidden) {
				t.Fatalf("err = %v, want forbidden", err)
			}
		})
	}
	// A proposal without a city reveals nothing: it is the command's own field that is missing.
	_, err := DecideItem(RoadmapItem{}, ProposeRoadmapItem{ItemID: itemID, ItemFields: validFields()}, memberOf("berlin"))
	if !errors.Is(err, ErrValidation) {
		t.Fatalf("member proposing without a city: %v", err)
	}
	_, err = DecideCollaboratory(Collaboratory{}, RegisterMember{}, memberOf("berlin"))
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("member registering on a missing collaboratory: %v", err)
	}
	if err := Authorize(coordinator(), "teleport", ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("unknown command: %v", err)
	}
	// The message says who was refused and why.
	err = Authorize(memberOf("madrid"), CmdComplete, "berlin")
	if got, want := err.Error(), "forbidden: member of madrid may not complete: members act only for their own city"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}
