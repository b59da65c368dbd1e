package projections

import (
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metropolis/csc/domain"
)

// TestItemHistoryChanges folds an item through a proposal, a change request, a revision, approval,
// start, two updates and a correction, and checks the fields each history entry says changed.
func TestItemHistoryChanges(t *testing.T) {
	const id = "cccccccc-0000-4000-8000-000000000009"
	anna := actor{"anna", "member"}
	ind := &domain.Indicator{Name: "Trees", Unit: "trees", Direction: domain.DirectionIncrease,
		Baseline: domain.YearValue{Value: 0, Year: 2025}, Target: domain.YearValue{Value: 1000, Year: 2027}}
	proposed := domain.RoadmapItemProposed{ItemID: id, City: "berlin", Title: "Trees", Description: "Plant trees.",
		Theme: domain.ThemeEcology, SDGTargets: []string{"11.7"}, Milestones: []domain.Milestone{{ID: "m1", Title: "First 100", Due: day("2026-06-01")}},
		StartDate: day("2026-02-01"), DueDate: day("2026-12-31")}
	revised := domain.RoadmapItemRevised{ItemID: id, City: "berlin", Title: "1000 street trees", Description: proposed.Description,
		Theme: proposed.Theme, SDGTargets: []string{"11.7", "11.6"}, Indicator: ind, Milestones: proposed.Milestones,
		StartDate: proposed.StartDate, DueDate: day("2027-06-30")}
	l := newLog(t).
		add(minute(1), anna, proposed).
		add(minute(2), coord(), domain.ChangesRequested{ItemID: id, City: "berlin", Comment: "How many?"}).
		add(minute(3), anna, revised).
		add(minute(4), coord(), domain.RoadmapItemApproved{ItemID: id, City: "berlin"}).
		add(minute(5), anna, domain.ImplementationStarted{ItemID: id, City: "berlin"}).
		add(minute(6), anna, domain.RoadmapUpdateSubmitted{ItemID: id, City: "berlin", UpdateID: "u1", ProgressPercent: ptr(10),
			Measurement: &domain.Measurement{Value: 120, Period: "2026-Q1"}, MilestonesReached: []string{"m1"}, Narrative: "Started."}).
		add(minute(7), anna, domain.RoadmapUpdateSubmitted{ItemID: id, City: "berlin", UpdateID: "u2", ProgressPercent: ptr(25), Narrative: "More."}).
		add(minute(8), anna, domain.MeasurementCorrected{ItemID: id, City: "berlin", UpdateID: "u1", OldValue: 120, NewValue: 110.5, Reason: "recount"})
	history, ok := l.models().ItemHistory(id)
	if !ok {
		t.Fatal("no history")
	}
	j := func(s string) json.RawMessage { return json.RawMessage(s) }
	stage := func(before, after string) FieldChange {
		c := FieldChange{Field: "stage", After: j(`"` + after + `"`)}
		if before != "" {
			c.Before = j(`"` + before + `"`)
		}
		return c
	}
	want := [][]FieldChange{
		{ // the proposal: its own values, not the revised ones the item has now
			{Field: "title", After: j(`"Trees"`)},
			{Field: "description", After: j(`"Plant trees."`)},
			{Field: "theme", After: j(`"ecology"`)},
			{Field: "sdgTargets", After: j(`["11.7"]`)},
			{Field: "indicator", After: j(`null`)},
			{Field: "milestones", After: j(`[{"id":"m1","title":"First 100","due":"2026-06-01"}]`)},
			{Field: "budget", After: j(`null`)},
			{Field: "startDate", After: j(`"2026-02-01"`)},
			{Field: "dueDate", After: j(`"2026-12-31"`)},
			stage("", "proposed"),
		},
		{stage("proposed", "changes_requested")},
		{ // the revision: only what changed
			{Field: "title", Before: j(`"Trees"`), After: j(`"1000 street trees"`)},
			{Field: "sdgTargets", Before: j(`["11.7"]`), After: j(`["11.7","11.6"]`)},
			{Field: "indicator", Before: j(`null`), After: jsonValue(ind)},
			{Field: "dueDate", Before: j(`"2026-12-31"`), After: j(`"2027-06-30"`)},
			stage("changes_requested", "proposed"),
		},
		{stage("proposed", "approved")},
		{stage("approved", "in_progress")},
		{
			{Field: "progressPercent", After: j(`10`)},
			{Field: "measurement.value", After: j(`120`)},
			{Field: "milestonesReached", After: j(`["m1"]`)},
		},
		{{Field: "progressPercent", Before: j(`10`), After: j(`25`)}},
		{{Field: "updates[u1].measurement.value", Before: j(`120`), After: j(`110.5`)}},
	}
	got := make([][]FieldChange, len(history))
	for i, h := range history {
		got[i] = h.Changes
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	// The JSON of an entry without a before leaves it out.
	b, err := json.Marshal(history[6].Changes)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"field":"progressPercent","before":10,"after":25}]`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	b, _ = json.Marshal(history[1].Changes[0])
	if want := `{"field":"stage","before":"proposed","after":"changes_requested"}`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
}

// TestRevisionWithoutChanges checks that a revision repeating the item's fields lists only the
// stage it returns the item to.
func TestRevisionWithoutChanges(t *testing.T) {
	const id = "cccccccc-0000-4000-8000-000000000010"
	p := domain.RoadmapItemProposed{ItemID: id, City: "dakar", Title: "Halls", Description: "Halls.", Theme: domain.ThemeEconomics,
		SDGTargets: []string{"11.1"}, StartDate: day("2026-01-10"), DueDate: day("2026-02-28")}
	r := domain.RoadmapItemRevised{ItemID: id, City: "dakar", Title: p.Title, Description: p.Description, Theme: p.Theme,
		SDGTargets: []string{"11.1"}, StartDate: p.StartDate, DueDate: p.DueDate}
	l := newLog(t).add(minute(1), coord(), p).add(minute(2), coord(), r)
	history, _ := l.models().ItemHistory(id)
	if len(history) != 2 || len(history[1].Changes) != 0 {
		t.Fatalf("history %+v, want a revision without changes", history)
	}
	if len(history[0].Changes) != 10 {
		t.Errorf("proposal changes %+v, want 9 fields and the stage", history[0].Changes)
	}
}

// TestRevisionDiffEncodesAsJSON checks revisionDiff against its definition: json.Marshal of the
// fields whose JSON values differ, before and after. The cases are the ones where comparing Go
// values could disagree with comparing encodings: -0 and 0, NaN (which does not encode), nil and
// empty slices, equal values behind different pointers, strings that encode alike, HTML characters.
func TestRevisionDiffEncodesAsJSON(t *testing.T) {
	base := domain.ItemFields{Title: "Trees <&>", Description: "Plant trees.", Theme: domain.ThemeEcology,
		SDGTargets: []string{"11.7"}, Indicator: &domain.Indicator{Name: "Trees", Unit: "trees", Direction: domain.DirectionIncrease,
			Baseline: domain.YearValue{Value: 0, Year: 2025}, Target: domain.YearValue{Value: 1000, Year: 2027}},
		Milestones: []domain.Milestone{{ID: "m1", Title: "First 100", Due: day("2026-06-01")}},
		Budget:     &domain.Budget{Amount: 1000, Currency: "EUR", FundingSource: "city"},
		StartDate:  day("2026-02-01"), DueDate: day("2026-12-31")}
	with := func(change func(f *domain.ItemFields)) domain.ItemFields {
		f := base
		ind, b := *base.Indicator, *base.Budget
		f.Indicator, f.Budget = &ind, &b
		f.SDGTargets, f.Milestones = slices.Clone(base.SDGTargets), slices.Clone(base.Milestones)
		change(&f)
		return f
	}
	cases := []struct {
		name        string
		before, now domain.ItemFields
	}{
		{"nothing changes, copied values", base, with(func(*domain.ItemFields) {})},
		{"title", base, with(func(f *domain.ItemFields) { f.Title = "Many trees" })},
		{"zero and minus zero budget", with(func(f *domain.ItemFields) { f.Budget.Amount = 0 }), with(func(f *domain.ItemFields) { f.Budget.Amount = math.Copysign(0, -1) })},
		{"NaN budget both sides", with(func(f *domain.ItemFields) { f.Budget.Amount = math.NaN() }), with(func(f *domain.ItemFields) { f.Budget.Amount = math.NaN() })},
		{"NaN baseline becomes a number", with(func(f *domain.ItemFields) { f.Indicator.Baseline.Value = math.NaN() }), base},
		{"nil and empty targets", with(func(f *domain.ItemFields) { f.SDGTargets = nil }), with(func(f *domain.ItemFields) { f.SDGTargets = []string{} })},
		{"nil and empty milestones", with(func(f *domain.ItemFields) { f.Milestones = []domain.Milestone{} }), with(func(f *domain.ItemFields) { f.Milestones = nil })},
		{"indicator removed", base, with(func(f *domain.ItemFields) { f.Indicator = nil })},
		{"budget added", with(func(f *domain.ItemFields) { f.Budget = nil }), base},
		{"invalid UTF-8 that encodes alike", with(func(f *domain.ItemFields) { f.Description = "a\xffb" }), with(func(f *domain.ItemFields) { f.Description = "a\xfeb" })},
		{"several fields", base, with(func(f *domain.ItemFields) {
			f.Theme, f.SDGTargets, f.DueDate = domain.ThemeEconomics, append(f.SDGTargets, "11.6"), day("2027-06-30")
			f.Milestones[0].Title = "First 200"
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			it := &item{}
			it.setFields(&tc.before)
			got := revisionDiff(it, &tc.now)
			before, after := fieldValues(&tc.before), fieldValues(&tc.now)
			var diff []FieldChange
			for i, name := range itemFieldNames() {
				if string(before[i]) != string(after[i]) {
					diff = append(diff, FieldChange{Field: name, Before: before[i], After: after[i]})
				}
			}
			want := ""
			if len(diff) > 0 {
				b, err := json.Marshal(diff)
				if err != nil {
					t.Fatal(err)
				}
				want = string(b)
			}
			if got != want {
				t.Errorf("revisionDiff:\n got %s\nwant %s", got, want)
			}
		})
	}
}
