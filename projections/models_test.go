package projections

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

const (
	itemA = "aaaaaaaa-0000-4000-8000-000000000001"
	itemB = "bbbbbbbb-0000-4000-8000-000000000002"
	itemC = "cccccccc-0000-4000-8000-000000000003"
	itemD = "dddddddd-0000-4000-8000-000000000004"
	itemE = "eeeeeeee-0000-4000-8000-000000000005"
	itemF = "ffffffff-0000-4000-8000-000000000006"
	anna  = "a0a0a0a0-0000-4000-8000-00000000000a"
	awa   = "b0b0b0b0-0000-4000-8000-00000000000b"
	jonas = "c0c0c0c0-0000-4000-8000-00000000000c"
)

// t0 is the time of the first event of the scenario; event i is recorded i minutes later.
func t0() time.Time { return time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC) }

func minute(i int) time.Time { return t0().Add(time.Duration(i) * time.Minute) }

// scenario is a small history with every kind of event: the pilot launched, a city joining,
// members coming and going, and six items in every stage.
func scenario(t testing.TB) *logBuilder {
	l := newLog(t)
	member := func(id string) actor { return actor{id, "member"} }
	cities := domain.FoundingCities()
	ind := &domain.Indicator{Name: "Green roof area", Unit: "m2", Direction: domain.DirectionIncrease,
		Baseline: domain.YearValue{Value: 100, Year: 2025}, Target: domain.YearValue{Value: 200, Year: 2027}}
	events := []struct {
		who actor
		e   domain.Event
	}{
		{coord(), domain.CollaboratoryLaunched{Collaboratory: "csc", Name: "Cities Sustainability Collaboratory", Phase: "2018-2020", FoundingCities: cities}},
		{coord(), domain.CityJoined{Collaboratory: "csc", City: domain.City{ID: "seoul", Name: "Seoul", Country: "KR"}}},
		{coord(), domain.MemberRegistered{Collaboratory: "csc", MemberID: anna, City: "berlin", Name: "Anna Schmidt", Expertise: domain.ExpertiseFinance}},
		{coord(), domain.MemberRegistered{Collaboratory: "csc", MemberID: awa, City: "dakar", Name: "Awa Ndiaye", Expertise: domain.ExpertiseMayor}},
		{coord(), domain.MemberRegistered{Collaboratory: "csc", MemberID: jonas, City: "berlin", Name: "Jonas Weber", Expertise: domain.ExpertiseScience}},
		{coord(), domain.MemberRemoved{Collaboratory: "csc", MemberID: jonas, City: "berlin", Reason: "moved to Hamburg"}},
		// 6
		{member(anna), domain.RoadmapItemProposed{ItemID: itemA, City: "berlin", Title: "Green roofs", Description: "Roofs.", Theme: domain.ThemeEcology,
			SDGTargets: []string{"11.6", "11.7"}, Indicator: ind,
			Milestones: []domain.Milestone{{ID: "ms1", Title: "Survey", Due: day("2026-05-01")}, {ID: "ms2", Title: "Build", Due: day("2026-11-01")}},
			Budget:     &domain.Budget{Amount: 1_000_000, Currency: "EUR", FundingSource: "City"}, StartDate: day("2026-02-01"), DueDate: day("2026-12-31")}},
		{coord(), domain.RoadmapItemApproved{ItemID: itemA, City: "berlin"}},
		{member(anna), domain.ImplementationStarted{ItemID: itemA, City: "berlin"}},
		{member(anna), domain.RoadmapUpdateSubmitted{ItemID: itemA, City: "berlin", UpdateID: "u-a1", ProgressPercent: ptr(30),
			Measurement: &domain.Measurement{Value: 130, Period: "2026-Q1"}, MilestonesReached: []string{"ms1"}, Narrative: "Survey done.",
			Evidence: []domain.Evidence{{URI: "https://berlin.de/a.pdf", SHA256: "ab"}}}},
		{member(anna), domain.MeasurementCorrected{ItemID: itemA, City: "berlin", UpdateID: "u-a1", OldValue: 130, NewValue: 125, Reason: "recount"}},
		// 11
		{member(anna), domain.RoadmapItemProposed{ItemID: itemB, City: "berlin", Title: "Street theatre", Description: "Plays.", Theme: domain.ThemeCulture,
			SDGTargets: []string{"11.4"}, Milestones: []domain.Milestone{{ID: "p1", Title: "Premiere", Due: day("2026-03-01")}},
			Budget: &domain.Budget{Amount: 250_000.5, Currency: "EUR", FundingSource: "Lottery"}, StartDate: day("2026-01-01"), DueDate: day("2026-03-31")}},
		{coord(), domain.RoadmapItemApproved{ItemID: itemB, City: "berlin"}},
		{member(anna), domain.ImplementationStarted{ItemID: itemB, City: "berlin"}},
		{member(anna), domain.RoadmapUpdateSubmitted{ItemID: itemB, City: "berlin", UpdateID: "u-b1", ProgressPercent: ptr(50), Narrative: "Half."}},
		{member(anna), domain.ItemPutOnHold{ItemID: itemB, City: "berlin", Reason: "funding"}},
		// 16
		{member(awa), domain.RoadmapItemProposed{ItemID: itemC, City: "dakar", Title: "Market halls", Description: "Halls.", Theme: domain.ThemeEconomics,
			SDGTargets: []string{"11.1"}, Budget: &domain.Budget{Amount: 5000, Currency: "XOF", FundingSource: "State"},
			StartDate: day("2026-01-10"), DueDate: day("2026-02-28")}},
		{coord(), domain.ChangesRequested{ItemID: itemC, City: "dakar", Comment: "Which markets?"}},
		{member(awa), domain.RoadmapItemRevised{ItemID: itemC, City: "dakar", Title: "Three market halls", Description: "Halls.", Theme: domain.ThemeEconomics,
			SDGTargets: []string{"11.1"}, Budget: &domain.Budget{Amount: 5000, Currency: "XOF", FundingSource: "State"},
			StartDate: day("2026-01-10"), DueDate: day("2026-02-28")}},
		{coord(), domain.RoadmapItemApproved{ItemID: itemC, City: "dakar"}},
		{member(awa), domain.RoadmapItemProposed{ItemID: itemD, City: "dakar", Title: "Airport", Description: "No.", Theme: domain.ThemePolitics,
			SDGTargets: []string{"11.2"}, StartDate: day("2026-01-01"), DueDate: day("2026-12-31")}},
		// 21
		{coord(), domain.RoadmapItemRejected{ItemID: itemD, City: "dakar", Reason: "out of scope"}},
		{member(anna), domain.RoadmapItemProposed{ItemID: itemE, City: "berlin", Title: "Open data", Description: "Data.", Theme: domain.ThemePolitics,
			SDGTargets: []string{"11.3"}, Budget: &domain.Budget{Amount: 10, Currency: "USD", FundingSource: "Grant"},
			StartDate: day("2026-01-01"), DueDate: day("2026-01-31")}},
		{coord(), domain.RoadmapItemApproved{ItemID: itemE, City: "berlin"}},
		{member(anna), domain.ImplementationStarted{ItemID: itemE, City: "berlin"}},
		{member(anna), domain.RoadmapItemCompleted{ItemID: itemE, City: "berlin"}},
		// 26
		{member(anna), domain.RoadmapItemProposed{ItemID: itemF, City: "berlin", Title: "Cable car", Description: "Up.", Theme: domain.ThemeEconomics,
			SDGTargets: []string{"11.2"}, Budget: &domain.Budget{Amount: 99, Currency: "EUR", FundingSource: "None"},
			StartDate: day("2026-01-01"), DueDate: day("2026-01-31")}},
		{member(anna), domain.RoadmapItemCancelled{ItemID: itemF, City: "berlin", Reason: "too steep", From: domain.StageProposed}},
	}
	for i, ev := range events {
		l.add(minute(i), ev.who, ev.e)
		if i == 20 {
			// An event of a type this build does not know, between the others.
			l.raw(minute(i), "roadmap-"+itemD, "csc.roadmap.item_teleported", []byte(`{"itemId":"x"}`), []byte(`{"schemaVersion":1}`))
		}
	}
	return l
}

func june() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }

func TestProgressFromEvents(t *testing.T) {
	m := scenario(t).models()
	// Item A: indicator basis, a = (125-100)/(200-100) = 0.25; B: 50 %; E: completed.
	want := map[string]CityProgress{
		"berlin": {
			City: "berlin", Name: "Berlin", Founding: true, Joined: minute(0),
			Stages:     StageCounts{InProgress: 1, OnHold: 1, Completed: 1, Cancelled: 1},
			Health:     HealthCounts{AtRisk: 2, Achieved: 1},
			Completion: (0.25 + 0.5 + 1) / 3,
			Milestones: MilestoneCount{Reached: 1, Total: 3},
			Overdue:    1, // B: due 2026-03-31, on hold
			Budget:     []Amount{{Currency: "EUR", Amount: 1_250_000.5}, {Currency: "USD", Amount: 10}},
			LastUpdate: minute(27),
		},
		"dakar": {
			City: "dakar", Name: "Dakar", Founding: true, Joined: minute(0),
			Stages: StageCounts{Approved: 1, Rejected: 1}, Health: HealthCounts{NotStarted: 1},
			Overdue: 1, Budget: []Amount{{Currency: "XOF", Amount: 5000}}, LastUpdate: minute(21),
		},
		"seoul":  {City: "seoul", Name: "Seoul", Joined: minute(1), Budget: []Amount{}, LastUpdate: minute(1)},
		"madrid": {City: "madrid", Name: "Madrid", Founding: true, Joined: minute(0), Budget: []Amount{}, LastUpdate: minute(0)},
	}
	rows := m.Progress(june())
	var order []string
	for _, row := range rows {
		order = append(order, row.City)
		if w, ok := want[row.City]; ok {
			if d := cmp.Diff(w, row, cmpopts.EquateApprox(0, 1e-12)); d != "" {
				t.Errorf("%s (-want +got):\n%s", row.City, d)
			}
		}
	}
	wantOrder := []string{"berlin", "buenos-aires", "madrid", "dakar", "guangzhou", "mexico-city", "johannesburg", "seoul"}
	if d := cmp.Diff(wantOrder, order); d != "" {
		t.Errorf("city order (-want +got):\n%s", d)
	}
	one, ok := m.CityProgress("dakar", june())
	if d := cmp.Diff(want["dakar"], one); !ok || d != "" {
		t.Errorf("CityProgress(dakar) ok=%v (-want +got):\n%s", ok, d)
	}
	if _, ok := m.CityProgress("atlantis", june()); ok {
		t.Error("CityProgress of an unknown city reported ok")
	}
	if st := m.Stats(); st != (Stats{Events: 28, Skipped: 1, Cities: 8, Members: 2, Items: 6}) {
		t.Errorf("stats = %+v", st)
	}
	if p := m.Position(); p.Commit != 29 {
		t.Errorf("position = %s, want 29", p)
	}
}

func TestProgressHealthChangesWithTime(t *testing.T) {
	m := scenario(t).models()
	tests := []struct {
		at      time.Time
		health  HealthCounts
		overdue int
	}{
		// In January B (50 %, 2026-01-01..2026-03-31) is on track while 0.5 >= 0.95 e, i.e. up to
		// 0.5/0.95 of 90 days = 47.37 days; A (0.25 on 2025..2027) until 0.25/0.95 of 3 years.
		{time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC), HealthCounts{OnTrack: 1, AtRisk: 1, Achieved: 1}, 0},
		{time.Date(2026, 2, 16, 0, 0, 0, 0, time.UTC), HealthCounts{OnTrack: 1, AtRisk: 1, Achieved: 1}, 0},
		{time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC), HealthCounts{Behind: 1, AtRisk: 1, Achieved: 1}, 0},
		{time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), HealthCounts{AtRisk: 2, Achieved: 1}, 1},
	}
	for _, tt := range tests {
		got, _ := m.CityProgress("berlin", tt.at)
		if got.Health != tt.health || got.Overdue != tt.overdue {
			t.Errorf("at %s: health %+v overdue %d, want %+v and %d", tt.at.Format(time.DateOnly), got.Health, got.Overdue, tt.health, tt.overdue)
		}
	}
	// B's instants, counted per city: on track up to t1 inclusive, behind up to t2 inclusive.
	bFrom, bTo := ns("2026-01-01T00:00:00Z"), ns("2026-04-01T00:00:00Z")
	b1, b2 := instantBig(bFrom, bTo, 500_000, 95), instantBig(bFrom, bTo, 500_000, 85)
	for _, c := range []struct {
		at           int64
		onTrack, bhd int
	}{{b1, 1, 0}, {b1 + 1, 0, 1}, {b2, 0, 1}, {b2 + 1, 0, 0}} {
		got, _ := m.CityProgress("berlin", time.Unix(0, c.at))
		if got.Health.OnTrack != c.onTrack || got.Health.Behind != c.bhd {
			t.Errorf("at %d: %+v, want %d on track and %d behind", c.at, got.Health, c.onTrack, c.bhd)
		}
	}
	// Overdue from the end of the due day on: B is due 2026-03-31.
	for _, c := range []struct {
		at   int64
		want int
	}{{bTo - 1, 0}, {bTo, 1}} {
		got, _ := m.CityProgress("berlin", time.Unix(0, c.at))
		if got.Overdue != c.want {
			t.Errorf("at %d: %d overdue, want %d", c.at, got.Overdue, c.want)
		}
	}
	// A's health: on track while 0.25 >= 0.95 e(t) on 2025-01-01 .. 2028-01-01.
	from, to := ns("2025-01-01T00:00:00Z"), ns("2028-01-01T00:00:00Z")
	t1 := instantBig(from, to, 250_000, 95)
	for _, c := range []struct {
		at   int64
		want Health
	}{{t1, HealthOnTrack}, {t1 + 1, HealthBehind}} {
		d, _ := m.Item(itemA, time.Unix(0, c.at))
		if d.Health != c.want {
			t.Errorf("A at %d: %s, want %s", c.at, d.Health, c.want)
		}
	}
}

func TestMatrixFromEvents(t *testing.T) {
	mx := scenario(t).models().Matrix()
	if d := cmp.Diff(domain.Themes(), mx.Themes); d != "" {
		t.Error(d)
	}
	var berlin MatrixRow
	for _, r := range mx.Rows {
		if r.City == "berlin" {
			berlin = r
		}
	}
	want := MatrixRow{City: "berlin", Name: "Berlin",
		Themes: map[domain.Theme]MatrixCell{
			domain.ThemeEcology:   {Items: 1, Committed: 1, Completion: 0.25},
			domain.ThemeEconomics: {}, // F is cancelled
			domain.ThemePolitics:  {Items: 1, Committed: 1, Completion: 1},
			domain.ThemeCulture:   {Items: 1, Committed: 1, Completion: 0.5},
		},
		Targets: map[string]MatrixCell{
			"11.1": {}, "11.2": {}, "11.5": {}, "11.a": {}, "11.b": {}, "11.c": {},
			"11.3": {Items: 1, Committed: 1, Completion: 1},
			"11.4": {Items: 1, Committed: 1, Completion: 0.5},
			"11.6": {Items: 1, Committed: 1, Completion: 0.25},
			"11.7": {Items: 1, Committed: 1, Completion: 0.25},
		},
	}
	if d := cmp.Diff(want, berlin); d != "" {
		t.Errorf("berlin (-want +got):\n%s", d)
	}
	if len(mx.Rows) != 8 {
		t.Errorf("%d rows, want 8", len(mx.Rows))
	}
}

func TestItemsFromEvents(t *testing.T) {
	m := scenario(t).models()
	ids := func(items []ItemSummary) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    ItemFilter
		want []string
	}{
		{"all, in order of proposal", ItemFilter{}, []string{itemA, itemB, itemC, itemD, itemE, itemF}},
		{"by city", ItemFilter{City: "dakar"}, []string{itemC, itemD}},
		{"by stage", ItemFilter{Stage: domain.StageCompleted}, []string{itemE}},
		{"by theme", ItemFilter{Theme: domain.ThemePolitics}, []string{itemD, itemE}},
		{"by health", ItemFilter{Health: HealthAtRisk}, []string{itemA, itemB}},
		{"by city and health", ItemFilter{City: "dakar", Health: HealthNotStarted}, []string{itemC}},
		{"after an item", ItemFilter{After: itemC}, []string{itemD, itemE, itemF}},
		{"after an item in a city", ItemFilter{City: "berlin", After: itemB, Limit: 1}, []string{itemE}},
		{"limited", ItemFilter{Limit: 2}, []string{itemA, itemB}},
		{"unknown city", ItemFilter{City: "atlantis"}, nil},
		{"unknown cursor", ItemFilter{After: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, ids(m.Items(tt.f, june()))); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	got := m.Items(ItemFilter{City: "dakar"}, june())
	want := []ItemSummary{
		{ID: itemC, City: "dakar", Title: "Three market halls", Theme: domain.ThemeEconomics, SDGTargets: []string{"11.1"},
			Stage: domain.StageApproved, Health: HealthNotStarted, StartDate: day("2026-01-10"), DueDate: day("2026-02-28"),
			Overdue: true, Budget: &domain.Budget{Amount: 5000, Currency: "XOF", FundingSource: "State"}, Revision: 3, LastUpdate: minute(19)},
		{ID: itemD, City: "dakar", Title: "Airport", Theme: domain.ThemePolitics, SDGTargets: []string{"11.2"},
			Stage: domain.StageRejected, StartDate: day("2026-01-01"), DueDate: day("2026-12-31"), Revision: 2, LastUpdate: minute(21)},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("dakar items (-want +got):\n%s", d)
	}
}

func TestItemDetailFromEvents(t *testing.T) {
	m := scenario(t).models()
	got, ok := m.Item(itemA, june())
	if !ok {
		t.Fatal("item A not found")
	}
	measured := MeasurementPoint{UpdateID: "u-a1", Period: "2026-Q1", Value: 125, OriginalValue: 130, At: minute(9),
		Corrections: []Correction{{OldValue: 130, NewValue: 125, Reason: "recount", Actor: anna, At: minute(10)}}}
	want := ItemDetail{
		ItemSummary: ItemSummary{ID: itemA, City: "berlin", Title: "Green roofs", Theme: domain.ThemeEcology, SDGTargets: []string{"11.6", "11.7"},
			Stage: domain.StageInProgress, Health: HealthAtRisk, Progress: 0.25, StartDate: day("2026-02-01"), DueDate: day("2026-12-31"),
			Milestones: MilestoneCount{Reached: 1, Total: 2}, Budget: &domain.Budget{Amount: 1_000_000, Currency: "EUR", FundingSource: "City"},
			Revision: 4, LastUpdate: minute(10)},
		Description:      "Roofs.",
		HealthBasis:      BasisIndicator,
		ExpectedProgress: float64(365+151) / 1095, // 2026-06-01 on 2025-01-01 .. 2028-01-01
		ProgressPercent:  ptr(30),
		Indicator: &IndicatorSeries{Name: "Green roof area", Unit: "m2", Direction: domain.DirectionIncrease,
			Baseline: domain.YearValue{Value: 100, Year: 2025}, Target: domain.YearValue{Value: 200, Year: 2027},
			Measurements: []MeasurementPoint{measured}},
		LatestMeasurement: &measured,
		MilestoneList: []MilestoneStatus{
			{ID: "ms1", Title: "Survey", Due: day("2026-05-01"), Reached: true, ReachedAt: minute(9)},
			{ID: "ms2", Title: "Build", Due: day("2026-11-01")},
		},
		ProposedAt: minute(6),
		History: []HistoryEntry{
			{Revision: 0, Position: "7", At: minute(6), Type: domain.TypeRoadmapItemProposed, Actor: anna, ActorName: "Anna Schmidt", Role: "member", Summary: "proposed “Green roofs”"},
			{Revision: 1, Position: "8", At: minute(7), Type: domain.TypeRoadmapItemApproved, Actor: "coordinator-1", Role: "coordinator", Summary: "approved the item"},
			{Revision: 2, Position: "9", At: minute(8), Type: domain.TypeImplementationStarted, Actor: anna, ActorName: "Anna Schmidt", Role: "member", Summary: "started implementing the item"},
			{Revision: 3, Position: "10", At: minute(9), Type: domain.TypeRoadmapUpdateSubmitted, Actor: anna, ActorName: "Anna Schmidt", Role: "member",
				Summary: "submitted an update on the item: progress 30 %, measured 130 m2 for 2026-Q1, milestones reached: ms1, 1 evidence document"},
			{Revision: 4, Position: "11", At: minute(10), Type: domain.TypeMeasurementCorrected, Actor: anna, ActorName: "Anna Schmidt", Role: "member",
				Summary: "corrected the measurement for 2026-Q1 of the item from 130 m2 to 125 m2: recount"},
		},
	}
	// The field changes of the history are TestItemHistoryChanges' subject.
	noChanges := cmpopts.IgnoreFields(HistoryEntry{}, "Changes")
	if d := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-12), noChanges); d != "" {
		t.Errorf("item A (-want +got):\n%s", d)
	}
	history, ok := m.ItemHistory(itemA)
	if d := cmp.Diff(want.History, history, noChanges); !ok || d != "" {
		t.Errorf("ItemHistory ok=%v (-want +got):\n%s", ok, d)
	}
	c, _ := m.Item(itemC, june())
	if c.Revisions != 1 || c.LastComment != "Which markets?" || c.HealthBasis != BasisProgress || c.ExpectedProgress != 1 {
		t.Errorf("item C: revisions %d, comment %q, basis %q, expected %v", c.Revisions, c.LastComment, c.HealthBasis, c.ExpectedProgress)
	}
	f, _ := m.Item(itemF, june())
	if f.HealthBasis != "" || f.Health != "" || f.Overdue {
		t.Errorf("cancelled item F: basis %q health %q overdue %v", f.HealthBasis, f.Health, f.Overdue)
	}
	if _, ok := m.Item("nope", june()); ok {
		t.Error("an unknown item was found")
	}
	if _, ok := m.ItemHistory("nope"); ok {
		t.Error("an unknown item has a history")
	}
}

func TestRosterAndActivityFromEvents(t *testing.T) {
	m := scenario(t).models()
	r := m.Roster()
	if r.Collaboratory != "csc" || r.Name != "Cities Sustainability Collaboratory" || r.Phase != "2018-2020" || !r.Launched.Equal(minute(0)) {
		t.Errorf("roster header = %+v", r)
	}
	if len(r.Cities) != 8 {
		t.Fatalf("%d cities, want 8", len(r.Cities))
	}
	if d := cmp.Diff(RosterCity{ID: "berlin", Name: "Berlin", Country: "DE", Founding: true, Joined: minute(0), Members: 1}, r.Cities[0]); d != "" {
		t.Errorf("berlin (-want +got):\n%s", d)
	}
	if d := cmp.Diff(RosterCity{ID: "seoul", Name: "Seoul", Country: "KR", Joined: minute(1)}, r.Cities[7]); d != "" {
		t.Errorf("seoul (-want +got):\n%s", d)
	}
	wantExpertise := []ExpertiseGroup{
		{Expertise: domain.ExpertiseMayor, Members: []RosterMember{{ID: awa, Name: "Awa Ndiaye", City: "dakar", Registered: minute(3)}}},
		{Expertise: domain.ExpertiseFinance, Members: []RosterMember{{ID: anna, Name: "Anna Schmidt", City: "berlin", Registered: minute(2)}}},
		{Expertise: domain.ExpertiseCulture, Members: []RosterMember{}},
		{Expertise: domain.ExpertiseScience, Members: []RosterMember{}}, // Jonas was removed
		{Expertise: domain.ExpertiseStaff, Members: []RosterMember{}},
	}
	if d := cmp.Diff(wantExpertise, r.Expertise); d != "" {
		t.Errorf("expertise (-want +got):\n%s", d)
	}

	wantActivity := []Activity{
		{Position: "29", At: minute(27), Type: domain.TypeRoadmapItemCancelled, Stream: "roadmap-" + itemF, City: "berlin", ItemID: itemF,
			Actor: anna, ActorName: "Anna Schmidt", Role: "member", Text: "Anna Schmidt cancelled “Cable car” (Berlin) (it was proposed): too steep"},
		{Position: "28", At: minute(26), Type: domain.TypeRoadmapItemProposed, Stream: "roadmap-" + itemF, City: "berlin", ItemID: itemF,
			Actor: anna, ActorName: "Anna Schmidt", Role: "member", Text: "Anna Schmidt proposed “Cable car” (Berlin)"},
		{Position: "27", At: minute(25), Type: domain.TypeRoadmapItemCompleted, Stream: "roadmap-" + itemE, City: "berlin", ItemID: itemE,
			Actor: anna, ActorName: "Anna Schmidt", Role: "member", Text: "Anna Schmidt completed “Open data” (Berlin)"},
	}
	if d := cmp.Diff(wantActivity, m.Activity(3)); d != "" {
		t.Errorf("activity (-want +got):\n%s", d)
	}
	all := m.Activity(0)
	if len(all) != DefaultActivity && len(all) != 28 {
		t.Errorf("Activity(0) gave %d entries", len(all))
	}
	texts := map[string]bool{}
	for _, a := range m.Activity(1000) {
		texts[a.Text] = true
	}
	for _, want := range []string{
		"coordinator coordinator-1 launched the collaboratory “Cities Sustainability Collaboratory” with 7 founding cities",
		"Seoul joined the collaboratory",
		"Awa Ndiaye joined the Dakar delegation (mayor)",
		"Jonas Weber left the Berlin delegation: moved to Hamburg",
		"coordinator coordinator-1 requested changes to “Three market halls” (Dakar): Which markets?",
		"Anna Schmidt put “Street theatre” (Berlin) on hold: funding",
		"coordinator coordinator-1 rejected “Airport” (Dakar): out of scope",
	} {
		if !texts[want] {
			t.Errorf("no activity %q", want)
		}
	}
}

func TestActivityKeepsTheLatest(t *testing.T) {
	l := newLog(t)
	l.add(minute(0), coord(), domain.CollaboratoryLaunched{Collaboratory: "csc", Name: "CSC", FoundingCities: domain.FoundingCities()})
	for i := range activityCap + 10 {
		l.add(minute(i+1), coord(), domain.MemberRegistered{Collaboratory: "csc", MemberID: "m-" + time.Duration(i).String(), City: "berlin",
			Name: "member", Expertise: domain.ExpertiseStaff})
	}
	m := l.models()
	got := m.Activity(activityCap + 50)
	if len(got) != activityCap {
		t.Fatalf("%d entries, want %d", len(got), activityCap)
	}
	if got[0].Position != "1011" || got[activityCap-1].Position != "12" {
		t.Errorf("newest %s, oldest %s; want 1011 and 12", got[0].Position, got[activityCap-1].Position)
	}
}

// TestIndexedCountsMatchItems checks the binary-search counts of Progress against the health and
// overdue flags of each item, at random times, on models built in bulk and on models kept up to
// date event by event.
func TestIndexedCountsMatchItems(t *testing.T) {
	events := workloadEvents(t, 8000, 3)
	bulk, err := foldEvents(events)
	if err != nil {
		t.Fatal(err)
	}
	dec := newDecoder(domain.NewCodec())
	live := newState()
	live.indexed = true
	for _, e := range events {
		f, err := dec.decode(e)
		if err != nil {
			t.Fatal(err)
		}
		live.apply(&f)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	from, to := ns("2018-01-01T00:00:00Z"), ns("2024-01-01T00:00:00Z")
	for name, s := range map[string]*state{"bulk": bulk, "live": live} {
		m := newModels(s)
		for range 30 {
			at := time.Unix(0, from+rng.Int64N(to-from)).UTC()
			for _, row := range m.Progress(at) {
				var h HealthCounts
				overdue := 0
				for _, it := range m.Items(ItemFilter{City: row.City}, at) {
					switch it.Health {
					case HealthNotStarted:
						h.NotStarted++
					case HealthOnTrack:
						h.OnTrack++
					case HealthBehind:
						h.Behind++
					case HealthAtRisk:
						h.AtRisk++
					case HealthAchieved:
						h.Achieved++
					}
					if it.Overdue {
						overdue++
					}
				}
				if h != row.Health || overdue != row.Overdue {
					t.Fatalf("%s, %s at %s: counted %+v / %d overdue, items say %+v / %d", name, row.City, at, row.Health, row.Overdue, h, overdue)
				}
			}
		}
	}
	if d := cmp.Diff(dumpModels(newModels(bulk), june()), dumpModels(newModels(live), june())); d != "" {
		t.Errorf("bulk and event-by-event folds differ (-bulk +live):\n%s", d)
	}
}

func TestNowOutsideTheInstantRange(t *testing.T) {
	m := scenario(t).models()
	early, _ := m.CityProgress("berlin", time.Date(1066, 10, 14, 0, 0, 0, 0, time.UTC))
	late, _ := m.CityProgress("berlin", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if early.Overdue != 0 || early.Health.OnTrack != 2 {
		t.Errorf("in 1066: %+v, overdue %d", early.Health, early.Overdue)
	}
	if late.Overdue != 2 || late.Health.AtRisk != 2 {
		t.Errorf("in 9999: %+v, overdue %d", late.Health, late.Overdue)
	}
	var zero eventstore.Position
	if p := newModels(newState()).Position(); p != zero {
		t.Errorf("empty models at %s", p)
	}
}
