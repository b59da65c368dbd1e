package domain

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

var updateIDs = []string{updateID1, updateID2, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "not-a-uuid"}

// genItemCommand draws item commands, mostly valid, sometimes not, so that sequences go deep into
// the lifecycle and also hit refusals.
// weightedKinds favours the commands that move an item forward, so that sequences reach updates and
// corrections; the terminal ones (reject, complete, cancel) are rare.
var weightedKinds = []string{
	CmdSubmitUpdate, CmdSubmitUpdate, CmdSubmitUpdate, CmdSubmitUpdate, CmdSubmitUpdate, CmdSubmitUpdate,
	CmdCorrectMeasurement, CmdCorrectMeasurement, CmdCorrectMeasurement, CmdPropose, CmdPropose, CmdPropose,
	CmdRevise, CmdRevise, CmdApprove, CmdApprove, CmdApprove, CmdRequestChanges, CmdStart, CmdStart, CmdStart,
	CmdPutOnHold, CmdPutOnHold, CmdResume, CmdResume, CmdReject, CmdComplete, CmdCancel,
}

// genItemCommand draws an item command among kinds (command names, repeated for weight); updates
// report milestones among known (the item's milestone ids) and one unknown id.
func genItemCommand(kinds []string, known []string) *rapid.Generator[ItemCommand] {
	reachable := append(slices.Clone(known), "mX")
	reason := rapid.SampledFrom([]string{"because", "because", "because", ""})
	return rapid.Custom(func(t *rapid.T) ItemCommand {
		fields := func() ItemFields {
			f := validFields()
			n := rapid.SampledFrom([]int{0, 1, 2, 3, 3, 3}).Draw(t, "milestones")
			f.Milestones = nil
			for i := 1; i <= n; i++ {
				f.Milestones = append(f.Milestones, Milestone{ID: fmt.Sprintf("m%d", i), Title: "step", Due: f.DueDate})
			}
			if rapid.IntRange(0, 3).Draw(t, "noIndicator") == 0 {
				f.Indicator = nil
			}
			if rapid.IntRange(0, 9).Draw(t, "badTitle") == 0 {
				f.Title = ""
			}
			return f
		}
		switch rapid.SampledFrom(kinds).Draw(t, "kind") {
		case CmdPropose:
			return ProposeRoadmapItem{ItemID: itemID, City: rapid.SampledFrom([]string{"berlin", "berlin", "berlin", "madrid", "atlantis"}).Draw(t, "city"),
				ItemFields: fields()}
		case CmdRevise:
			return ReviseRoadmapItem{ItemFields: fields()}
		case CmdApprove:
			return ApproveRoadmapItem{}
		case CmdRequestChanges:
			return RequestChanges{Comment: reason.Draw(t, "comment")}
		case CmdReject:
			return RejectRoadmapItem{Reason: reason.Draw(t, "reason")}
		case CmdStart:
			return StartImplementation{}
		case CmdSubmitUpdate:
			return SubmitRoadmapUpdate{
				UpdateID:        rapid.SampledFrom(updateIDs).Draw(t, "updateId"),
				ProgressPercent: rapid.Ptr(rapid.IntRange(-5, 105), true).Draw(t, "progress"),
				Measurement: rapid.Ptr(rapid.Custom(func(t *rapid.T) Measurement {
					return Measurement{Value: rapid.Float64Range(-10, 10).Draw(t, "value"), Period: "2026-Q2"}
				}), true).Draw(t, "measurement"),
				MilestonesReached: rapid.SliceOfN(rapid.SampledFrom(reachable), 0, 2).Draw(t, "reached"),
				Narrative:         reason.Draw(t, "narrative"),
			}
		case CmdCorrectMeasurement:
			return CorrectMeasurement{UpdateID: rapid.SampledFrom(updateIDs).Draw(t, "updateId"),
				Value: rapid.SampledFrom([]float64{1, 2, math.Pi}).Draw(t, "value"), Reason: reason.Draw(t, "reason")}
		case CmdPutOnHold:
			return PutOnHold{Reason: reason.Draw(t, "reason")}
		case CmdResume:
			return Resume{}
		case CmdComplete:
			return CompleteRoadmapItem{}
		default:
			return CancelRoadmapItem{Reason: reason.Draw(t, "reason")}
		}
	})
}

var propertyActors = []Context{coordinator(), coordinator(), coordinator(), memberOf("berlin"), memberOf("berlin"),
	memberOf("berlin"), memberOf("madrid"), {Role: RoleAuditor}, {Role: RoleAdmin}}

// TestProperty_ItemLifecycle: random command sequences never break the lifecycle invariants, and
// folding the emitted events from scratch (through the codec) reproduces every decided state.
func TestProperty_ItemLifecycle(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var (
			state   RoadmapItem
			emitted []Event
			states  []RoadmapItem // states[i]: the state after emitted[i]
			// A model of what the item should hold, kept from the accepted commands alone.
			values  = map[string]float64{} // update id -> measured value in force
			reached []string
		)
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for i := range steps {
			// Mostly a command the stage allows (by lifecycleSpec, not by the code under test), so that
			// sequences go deep; sometimes any command, so that refusals are exercised too.
			kinds := weightedKinds
			if rapid.IntRange(0, 9).Draw(t, "guided") < 7 {
				if allowed := slices.DeleteFunc(slices.Clone(weightedKinds), func(k string) bool {
					return !slices.Contains(lifecycleSpec[k].from, state.Stage)
				}); len(allowed) > 0 {
					kinds = allowed
				}
			}
			var known []string
			for _, m := range state.Milestones {
				known = append(known, m.ID)
			}
			cmd := genItemCommand(kinds, known).Draw(t, "command")
			ctx := rapid.SampledFrom(propertyActors).Draw(t, "actor")
			ctx.Now = t0.Add(time.Duration(i) * time.Hour)
			before := state
			events, err := DecideItem(before, cmd, ctx)
			if err != nil {
				if events != nil {
					t.Fatalf("refusal with events: %v", events)
				}
				if Code(err) == "" {
					t.Fatalf("not a domain error: %v", err)
				}
				if before.Stage != "" && Allowed(cmd.CommandName(), before.Stage) && Code(err) == CodeLifecycle {
					t.Fatalf("lifecycle refusal of an allowed command: %v", err)
				}
				continue
			}
			if len(events) != 1 {
				t.Fatalf("%s decided %d events", cmd.CommandName(), len(events))
			}
			if !Allowed(cmd.CommandName(), before.Stage) || Authorize(ctx, cmd.CommandName(), "") != nil {
				t.Fatalf("%s accepted in stage %q by %s", cmd.CommandName(), before.Stage, ctx.Role)
			}
			state = EvolveItem(before, events[0])
			emitted = append(emitted, events[0])
			states = append(states, state)
			checkItemInvariants(t, before, state, cmd.CommandName())
			switch c := cmd.(type) {
			case SubmitRoadmapUpdate:
				if c.Measurement != nil {
					values[c.UpdateID] = c.Measurement.Value
				}
				reached = append(reached, c.MilestonesReached...)
			case CorrectMeasurement:
				values[c.UpdateID] = c.Value
			}
			got := map[string]float64{}
			for _, u := range state.Updates {
				if u.Measured {
					got[u.ID] = u.Value
				}
			}
			if diff := cmp.Diff(values, got); diff != "" {
				t.Fatalf("measured values (-model +state):\n%s", diff)
			}
			if !slices.Equal(reached, state.MilestonesReached) {
				t.Fatalf("reached milestones %v, model %v", state.MilestonesReached, reached)
			}
		}
		codec := NewCodec()
		var refold RoadmapItem
		for i, e := range emitted {
			typ, data, v, err := codec.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			decoded, err := codec.Decode(typ, v, data)
			if err != nil {
				t.Fatal(err)
			}
			refold = EvolveItem(refold, decoded)
			// states[i] was kept while later events were applied: if an Evolve had written into memory
			// it shares with an older state, that older state would differ from this fresh fold.
			if diff := cmp.Diff(states[i], refold); diff != "" {
				t.Fatalf("state after event %d (%s) differs from the fold from scratch (-decided +refolded):\n%s",
					i, e.EventType(), diff)
			}
		}
	})
}

func checkItemInvariants(t *rapid.T, before, after RoadmapItem, cmd string) {
	if !after.Stage.Valid() {
		t.Fatalf("invalid stage %q", after.Stage)
	}
	if before.Stage.Terminal() && after.Stage != before.Stage {
		t.Fatalf("%s left terminal stage %s for %s", cmd, before.Stage, after.Stage)
	}
	if before.Stage != "" && after.Stage != before.Stage && lifecycleSpec[cmd].to != after.Stage {
		t.Fatalf("%s moved %s -> %s", cmd, before.Stage, after.Stage)
	}
	if before.Stage != "" && (after.ID != before.ID || after.City != before.City) {
		t.Fatalf("identity changed: %s/%s -> %s/%s", before.ID, before.City, after.ID, after.City)
	}
	if after.ProgressReported && (after.ProgressPercent < 0 || after.ProgressPercent > 100) {
		t.Fatalf("progress %d", after.ProgressPercent)
	}
	for i, id := range after.MilestonesReached {
		if !hasMilestone(after.Milestones, id) || slices.Index(after.MilestonesReached, id) != i {
			t.Fatalf("reached milestones %v not a subset of %v", after.MilestonesReached, after.Milestones)
		}
	}
	for i, u := range after.Updates {
		if !IsUUID(u.ID) || slices.IndexFunc(after.Updates, func(v UpdateRecord) bool { return v.ID == u.ID }) != i {
			t.Fatalf("bad or repeated update id %q", u.ID)
		}
	}
	if len(after.Updates) > 0 && after.Stage != StageInProgress && after.Stage != StageOnHold &&
		after.Stage != StageCompleted && after.Stage != StageCancelled {
		t.Fatalf("updates in stage %s", after.Stage)
	}
}

// TestProperty_Collaboratory: random collaboratory commands keep the roster consistent, and the fold
// from scratch reproduces the decided state.
func TestProperty_Collaboratory(t *testing.T) {
	members := []string{memberID, memberID2, updateID1}
	cities := []string{"berlin", "dakar", "montreal", "lagos"}
	rapid.Check(t, func(t *rapid.T) {
		var state Collaboratory
		var emitted []Event
		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			var cmd CollaboratoryCommand
			switch rapid.IntRange(0, 3).Draw(t, "kind") {
			case 0:
				cmd = sampleCollaboratoryCommands()[CmdLaunch]
			case 1:
				id := rapid.SampledFrom(cities).Draw(t, "city")
				cmd = JoinCollaboratory{City: City{ID: id, Name: id, Country: "XX"}}
			case 2:
				cmd = RegisterMember{MemberID: rapid.SampledFrom(members).Draw(t, "member"),
					City: rapid.SampledFrom(cities).Draw(t, "city"), Name: "n", Expertise: ExpertiseStaff}
			default:
				cmd = RemoveMember{MemberID: rapid.SampledFrom(members).Draw(t, "member"), Reason: "r"}
			}
			ctx := rapid.SampledFrom(propertyActors).Draw(t, "actor")
			events, err := DecideCollaboratory(state, cmd, ctx)
			if err != nil {
				if Code(err) == "" || events != nil {
					t.Fatalf("bad refusal: %v %v", err, events)
				}
				continue
			}
			before := state
			for _, e := range events {
				state = EvolveCollaboratory(state, e)
				emitted = append(emitted, e)
			}
			for id, m := range before.Members {
				if m.Removed {
					if now := state.Members[id]; !now.Removed {
						t.Fatalf("removed member %s came back", id)
					}
				}
			}
		}
		seen := map[string]bool{}
		for _, c := range state.Cities {
			if seen[c.ID] {
				t.Fatalf("city %s twice", c.ID)
			}
			seen[c.ID] = true
		}
		for _, m := range state.Members {
			if !seen[m.City] {
				t.Fatalf("member %s of city %s that does not take part", m.ID, m.City)
			}
		}
		if diff := cmp.Diff(state, foldCollaboratory(emitted)); diff != "" {
			t.Fatal(diff)
		}
	})
}

// TestEvolve_SharedStateIsNotWritten evolves one shared state from many goroutines at once (run with
// -race) and checks that the shared state is unchanged afterwards.
func TestEvolve_SharedStateIsNotWritten(t *testing.T) {
	// Three appends leave the slices of the shared state with spare capacity (1 -> 2 -> 4), so an
	// Evolve that appended in place would write into memory the goroutines share.
	p := proposedEvent()
	p.Milestones = append(slices.Clone(p.Milestones), Milestone{ID: "m3", Title: "t", Due: p.DueDate},
		Milestone{ID: "m4", Title: "t", Due: p.DueDate})
	history := append([]Event{p}, historyIn(StageInProgress)[1:]...)
	history = append(history,
		RoadmapUpdateSubmitted{ItemID: itemID, City: "berlin", UpdateID: updateID2,
			Measurement: &Measurement{Value: 7, Period: "2027"}, MilestonesReached: []string{"m2"}, Narrative: "n", At: t0},
		RoadmapUpdateSubmitted{ItemID: itemID, City: "berlin", UpdateID: updateIDs[2], MilestonesReached: []string{"m3"},
			Narrative: "n", At: t0})
	shared := foldItem(history)
	if len(shared.Updates) == cap(shared.Updates) || len(shared.MilestonesReached) == cap(shared.MilestonesReached) {
		t.Fatal("the shared state has no spare capacity: the test would prove nothing")
	}
	collabHistory := append(launchedCSC(), MemberRegistered{Collaboratory: "csc", MemberID: memberID, City: "berlin",
		Name: "J", Expertise: ExpertiseMayor, At: t0}, CityJoined{Collaboratory: "csc", City: City{ID: "lagos"}})
	sharedCollab := foldCollaboratory(collabHistory)

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", g)
			s := EvolveItem(shared, RoadmapUpdateSubmitted{ItemID: itemID, City: "berlin", UpdateID: id,
				MilestonesReached: []string{"m4"}, Narrative: "n", At: t0})
			s = EvolveItem(s, MeasurementCorrected{ItemID: itemID, City: "berlin", UpdateID: updateID1, NewValue: float64(g)})
			_ = EvolveItem(shared, MeasurementCorrected{ItemID: itemID, City: "berlin", UpdateID: updateID2, NewValue: float64(g)})
			_ = EvolveItem(shared, RoadmapItemRevised{ItemID: itemID, City: "berlin", Title: id})
			c := EvolveCollaboratory(sharedCollab, MemberRemoved{Collaboratory: "csc", MemberID: memberID, Reason: id})
			c = EvolveCollaboratory(c, CityJoined{Collaboratory: "csc", City: City{ID: id}})
			_ = EvolveCollaboratory(sharedCollab, MemberRegistered{Collaboratory: "csc", MemberID: id, City: "dakar"})
			if s.Updates[0].Value != float64(g) || len(s.Updates) != 4 || len(s.MilestonesReached) != 4 ||
				!c.Members[memberID].Removed || len(c.Cities) != 9 {
				t.Errorf("goroutine %d: wrong result", g)
			}
		})
	}
	wg.Wait()
	if diff := cmp.Diff(foldItem(history), shared); diff != "" {
		t.Fatalf("shared item state was written (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(foldCollaboratory(collabHistory), sharedCollab); diff != "" {
		t.Fatalf("shared collaboratory state was written (-want +got):\n%s", diff)
	}
}
