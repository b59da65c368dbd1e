package domain

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fe is a field error without its message, for tables.
type fe struct{ Field, Code string }

func fieldCodes(t *testing.T, err error) []fe {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a validation error", err)
	}
	if !errors.Is(err, ErrValidation) || Code(err) != CodeValidation {
		t.Fatalf("validation error does not match ErrValidation / code: %v", err)
	}
	out := make([]fe, len(ve.Fields))
	for i, f := range ve.Fields {
		out[i] = fe{f.Field, f.Code}
		if !strings.HasPrefix(f.Message, f.Field+": ") {
			t.Errorf("message %q does not start with its field %q", f.Message, f.Field)
		}
	}
	return out
}

func TestValidation_Propose(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n) } // characters, not bytes
	cases := []struct {
		name   string
		change func(p *ProposeRoadmapItem)
		want   []fe
	}{
		{"valid at the length bounds", func(p *ProposeRoadmapItem) {
			p.Title, p.Description = long(MaxTitleLen), long(MaxTextLen)
		}, nil},
		{"item id missing", func(p *ProposeRoadmapItem) { p.ItemID = "" }, []fe{{"itemId", FieldRequired}}},
		{"item id upper case", func(p *ProposeRoadmapItem) { p.ItemID = strings.ToUpper(itemID) }, []fe{{"itemId", FieldFormat}}},
		{"item id nil uuid", func(p *ProposeRoadmapItem) { p.ItemID = "00000000-0000-0000-0000-000000000000" }, []fe{{"itemId", FieldFormat}}},
		{"item id not a uuid", func(p *ProposeRoadmapItem) { p.ItemID = "roof-1" }, []fe{{"itemId", FieldFormat}}},
		{"city not a slug", func(p *ProposeRoadmapItem) { p.City = "Buenos Aires" }, []fe{{"city", FieldFormat}}},
		{"title blank", func(p *ProposeRoadmapItem) { p.Title = "  \t" }, []fe{{"title", FieldRequired}}},
		{"title too long", func(p *ProposeRoadmapItem) { p.Title = long(MaxTitleLen + 1) }, []fe{{"title", FieldTooLong}}},
		{"title not utf-8", func(p *ProposeRoadmapItem) { p.Title = "a\xffb" }, []fe{{"title", FieldFormat}}},
		{"description too long", func(p *ProposeRoadmapItem) { p.Description = long(MaxTextLen + 1) }, []fe{{"description", FieldTooLong}}},
		{"theme missing", func(p *ProposeRoadmapItem) { p.Theme = "" }, []fe{{"theme", FieldRequired}}},
		{"theme unknown", func(p *ProposeRoadmapItem) { p.Theme = "sports" }, []fe{{"theme", FieldOneOf}}},
		{"no sdg target", func(p *ProposeRoadmapItem) { p.SDGTargets = nil }, []fe{{"sdgTargets", FieldRequired}}},
		{"too many targets", func(p *ProposeRoadmapItem) { p.SDGTargets = append(SDGTargets(), "11.1") },
			[]fe{{"sdgTargets", FieldTooMany}}},
		{"unknown and duplicate targets", func(p *ProposeRoadmapItem) { p.SDGTargets = []string{"11.1", "11.a", "11.9", "11.1"} },
			[]fe{{"sdgTargets[2]", FieldUnknownTarget}, {"sdgTargets[3]", FieldDuplicate}}},
		{"indicator incomplete", func(p *ProposeRoadmapItem) { p.Indicator = &Indicator{} },
			[]fe{{"indicator.name", FieldRequired}, {"indicator.unit", FieldRequired}, {"indicator.direction", FieldRequired},
				{"indicator.baseline.year", FieldRange}, {"indicator.target.year", FieldRange}}},
		{"indicator direction unknown", func(p *ProposeRoadmapItem) { p.Indicator.Direction = "sideways" },
			[]fe{{"indicator.direction", FieldOneOf}}},
		{"indicator target before baseline", func(p *ProposeRoadmapItem) { p.Indicator.Target.Year = 2020 },
			[]fe{{"indicator.target.year", FieldRange}}},
		{"increasing indicator with lower target", func(p *ProposeRoadmapItem) { p.Indicator.Target.Value = 100 },
			[]fe{{"indicator.target.value", FieldRange}}},
		{"decreasing indicator with higher target", func(p *ProposeRoadmapItem) { p.Indicator.Direction = DirectionDecrease },
			[]fe{{"indicator.target.value", FieldRange}}},
		{"indicator value not finite", func(p *ProposeRoadmapItem) { p.Indicator.Baseline.Value = math.NaN() },
			[]fe{{"indicator.baseline.value", FieldRange}}},
		{"dates missing", func(p *ProposeRoadmapItem) { p.StartDate, p.DueDate = Date{}, Date{} },
			[]fe{{"startDate", FieldRequired}, {"dueDate", FieldRequired}}},
		{"date not a day", func(p *ProposeRoadmapItem) { p.DueDate = NewDate(2027, 2, 29) }, []fe{{"dueDate", FieldFormat}}},
		{"date out of range", func(p *ProposeRoadmapItem) { p.DueDate = d("2202-01-01") }, []fe{{"dueDate", FieldRange}}},
		{"due before start", func(p *ProposeRoadmapItem) { p.DueDate = d("2026-03-31") },
			[]fe{{"dueDate", FieldRange}}},
		{"due equals start", func(p *ProposeRoadmapItem) { p.DueDate, p.Milestones = p.StartDate, nil }, nil},
		{"milestone problems", func(p *ProposeRoadmapItem) {
			p.Milestones = []Milestone{
				{ID: "m1", Title: "a", Due: d("2026-05-01")},
				{ID: "m1", Title: "", Due: d("2030-01-01")},
				{ID: "bad id!", Title: "c", Due: Date{}},
				{ID: "", Title: "d", Due: d("2026-03-01")},
			}
		}, []fe{{"milestones[1].id", FieldDuplicate}, {"milestones[1].title", FieldRequired}, {"milestones[1].due", FieldRange},
			{"milestones[2].id", FieldFormat}, {"milestones[2].due", FieldRequired},
			{"milestones[3].id", FieldRequired}, {"milestones[3].due", FieldRange}}},
		{"too many milestones", func(p *ProposeRoadmapItem) {
			p.Milestones = nil
			for i := range MaxMilestones + 1 {
				p.Milestones = append(p.Milestones, Milestone{ID: "m" + strings.Repeat("x", i+1), Title: "t", Due: p.DueDate})
			}
		}, []fe{{"milestones", FieldTooMany}}},
		{"budget problems", func(p *ProposeRoadmapItem) { p.Budget = &Budget{Amount: 0, Currency: "eur"} },
			[]fe{{"budget.amount", FieldRange}, {"budget.currency", FieldFormat}, {"budget.fundingSource", FieldRequired}}},
		{"budget too large, no currency", func(p *ProposeRoadmapItem) { p.Budget.Amount, p.Budget.Currency = 2e15, "" },
			[]fe{{"budget.amount", FieldRange}, {"budget.currency", FieldRequired}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := validPropose()
			tc.change(&p)
			_, err := DecideItem(RoadmapItem{}, p, coordinator())
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if diff := cmp.Diff(tc.want, fieldCodes(t, err)); diff != "" {
				t.Fatalf("field errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidation_Messages pins the messages the brief names.
func TestValidation_Messages(t *testing.T) {
	p := validPropose()
	p.Title, p.Theme, p.SDGTargets = "", "sports", []string{"11.1", "11.2", "11.9"}
	_, err := DecideItem(RoadmapItem{}, p, coordinator())
	u := SubmitRoadmapUpdate{UpdateID: updateID2, ProgressPercent: ptr(101), Narrative: "n"}
	_, err2 := DecideItem(foldItem(historyIn(StageInProgress)), u, coordinator())
	var msgs []string
	for _, e := range []error{err, err2} {
		var ve *ValidationError
		if !errors.As(e, &ve) {
			t.Fatalf("err = %v", e)
		}
		for _, f := range ve.Fields {
			msgs = append(msgs, f.Message)
		}
	}
	want := []string{
		"title: required",
		"theme: must be one of ecology, economics, politics, culture",
		`sdgTargets[2]: unknown target "11.9"`,
		"progressPercent: must be 0..100",
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Fatalf("messages (-want +got):\n%s", diff)
	}
	if got := err.Error(); !strings.HasPrefix(got, "invalid command: title: required; theme:") {
		t.Fatalf("Error() = %q", got)
	}
}

func TestValidation_Revise(t *testing.T) {
	f := validFields()
	f.Title, f.SDGTargets = "", []string{"12.1"}
	_, err := DecideItem(foldItem(historyIn(StageProposed)), ReviseRoadmapItem{ItemFields: f}, memberOf("berlin"))
	if diff := cmp.Diff([]fe{{"title", FieldRequired}, {"sdgTargets[0]", FieldUnknownTarget}}, fieldCodes(t, err)); diff != "" {
		t.Fatal(diff)
	}
}

func TestValidation_Update(t *testing.T) {
	noIndicator := historyIn(StageInProgress)
	p := noIndicator[0].(RoadmapItemProposed)
	p.Indicator = nil
	noIndicator = append([]Event{p}, noIndicator[1:]...)
	cases := []struct {
		name  string
		given []Event
		cmd   SubmitRoadmapUpdate
		want  []fe
	}{
		{"id and narrative missing", nil, SubmitRoadmapUpdate{}, []fe{{"updateId", FieldRequired}, {"narrative", FieldRequired}}},
		{"progress below 0", nil, SubmitRoadmapUpdate{UpdateID: updateID2, ProgressPercent: ptr(-1), Narrative: "n"},
			[]fe{{"progressPercent", FieldRange}}},
		{"progress 0 and 100 are fine", nil, SubmitRoadmapUpdate{UpdateID: updateID2, ProgressPercent: ptr(100), Narrative: "n"}, nil},
		{"measurement without indicator", noIndicator, SubmitRoadmapUpdate{UpdateID: updateID2, Narrative: "n",
			Measurement: &Measurement{Value: 1, Period: "2026"}}, []fe{{"measurement", FieldNoIndicator}}},
		{"measurement period", nil, SubmitRoadmapUpdate{UpdateID: updateID2, Narrative: "n",
			Measurement: &Measurement{Value: math.Inf(1), Period: "2026-Q5"}},
			[]fe{{"measurement.value", FieldRange}, {"measurement.period", FieldFormat}}},
		{"measurement periods that are fine", nil, SubmitRoadmapUpdate{UpdateID: updateID2, Narrative: "n",
			Measurement: &Measurement{Value: -3.5, Period: "2026-02-28"}}, nil},
		{"milestones", nil, SubmitRoadmapUpdate{UpdateID: updateID2, Narrative: "n",
			MilestonesReached: []string{"m2", "m1", "m9", "m2"}},
			[]fe{{"milestonesReached[1]", FieldAlreadyReached}, {"milestonesReached[2]", FieldUnknownMilestone},
				{"milestonesReached[3]", FieldDuplicate}}},
		{"evidence", nil, SubmitRoadmapUpdate{UpdateID: updateID2, Narrative: "n", Evidence: []Evidence{
			{URI: "relative/path.pdf", SHA256: strings.ToUpper(sha)}, {}, {URI: "https://x.org/a", SHA256: sha[:10]}}},
			[]fe{{"evidence[0].uri", FieldFormat}, {"evidence[0].sha256", FieldFormat}, {"evidence[1].uri", FieldRequired},
				{"evidence[1].sha256", FieldRequired}, {"evidence[2].sha256", FieldFormat}}},
		{"too much evidence", nil, SubmitRoadmapUpdate{UpdateID: updateID2, Narrative: "n",
			Evidence: make([]Evidence, MaxEvidence+1)}, []fe{{"evidence", FieldTooMany}}},
		{"narrative too long", nil, SubmitRoadmapUpdate{UpdateID: updateID2, Narrative: strings.Repeat("x", MaxTextLen+1)},
			[]fe{{"narrative", FieldTooLong}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			given := tc.given
			if given == nil {
				given = historyIn(StageInProgress)
			}
			_, err := DecideItem(foldItem(given), tc.cmd, memberOf("berlin"))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if diff := cmp.Diff(tc.want, fieldCodes(t, err)); diff != "" {
				t.Fatalf("field errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidation_ReasonsAndCorrections(t *testing.T) {
	inProgress := foldItem(historyIn(StageInProgress))
	proposed := foldItem(historyIn(StageProposed))
	cases := []struct {
		name  string
		state RoadmapItem
		cmd   ItemCommand
		want  []fe
	}{
		{"request changes without comment", proposed, RequestChanges{}, []fe{{"comment", FieldRequired}}},
		{"reject without reason", proposed, RejectRoadmapItem{Reason: " "}, []fe{{"reason", FieldRequired}}},
		{"cancel reason too long", proposed, CancelRoadmapItem{Reason: strings.Repeat("r", MaxReasonLen+1)},
			[]fe{{"reason", FieldTooLong}}},
		{"hold without reason", inProgress, PutOnHold{}, []fe{{"reason", FieldRequired}}},
		{"correction without id or reason", inProgress, CorrectMeasurement{Value: math.NaN()},
			[]fe{{"updateId", FieldRequired}, {"value", FieldRange}, {"reason", FieldRequired}}},
		{"correction with a malformed id", inProgress, CorrectMeasurement{UpdateID: "u1", Value: 1, Reason: "r"},
			[]fe{{"updateId", FieldFormat}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecideItem(tc.state, tc.cmd, coordinator())
			if diff := cmp.Diff(tc.want, fieldCodes(t, err)); diff != "" {
				t.Fatalf("field errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIsUUIDAndSlug(t *testing.T) {
	for s, want := range map[string]bool{
		itemID: true, "3f2b8c1e5d4a4c6b9e7f0a1b2c3d4e5f": false, "3f2b8c1e-5d4a-4c6b-9e7f-0a1b2c3d4e5g": false,
		"3f2b8c1e-5d4a-4c6b-9e7f-0a1b2c3d4e5f0": false, "3f2b8c1e+5d4a-4c6b-9e7f-0a1b2c3d4e5f": false,
	} {
		if IsUUID(s) != want {
			t.Errorf("IsUUID(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{
		"berlin": true, "buenos-aires": true, "csc2": true, "-berlin": false, "berlin-": false, "buenos--aires": false,
		"Berlin": false, "": false, "são-paulo": false, strings.Repeat("a", MaxSlugLen): true, strings.Repeat("a", MaxSlugLen+1): false,
	} {
		if IsSlug(s) != want {
			t.Errorf("IsSlug(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{
		"2026": true, "2026-Q1": true, "2026-Q4": true, "2026-Q0": false, "2026-12": true, "2026-13": false,
		"2026-02-29": false, "2028-02-29": true, "1899": false, "26": false, "2026-1": false, "2026-q1": false,
	} {
		if isPeriod(s) != want {
			t.Errorf("isPeriod(%q) = %v", s, !want)
		}
	}
}
