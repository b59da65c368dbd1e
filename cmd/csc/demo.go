package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	cschttp "github.com/metropolis/csc/http"
)

// The demo (csc serve --demo) seeds every founding city with twelve roadmap items across all stages,
// with monthly roadmap updates over the months before today, so that progress, health and overdue
// counts show something real. Its dates (start, due, milestones, measurement periods, and the time of
// each decision) are spread relative to the day it runs, over the three years before it.
//
// The demo writes a history: each command is decided at its own time (domain.Context.Now) and recorded
// as having happened then (eventstore.Command.Recorded), so its events' effective time is that time,
// not the moment the demo runs. The read models' "last update", activity and item history show it,
// and the as-of views (?asOf=, csc replay --as-of, the dashboard's picker) show the demo as it stood
// on any earlier day. As-of takes the longest prefix of the log whose effective times are at or before
// the moment asked for, so the demo runs its commands in chronological order across all streams, every
// one in the past; csc serve --demo launches the pilot at the start of that history (demoLaunch) on a
// new store, so on a new store the whole log is in chronological order and each as-of view is exactly
// the events up to that moment. Seeded into a store that already has events recorded at its own time
// (the pilot launched without --demo), the demo's events come after them in the log, and an as-of
// view of a moment before the seeding stops at the first event after that moment.
//
// Every demo command has a fixed command ID (derived from the city, the item and the step), so running
// the demo again appends nothing: the engine replays each command's recorded result.

// demoLaunch is when the demo's history begins: the pilot's launch, three years before now, before
// every other demo event (the earliest proposal is at most 28 months before now).
func demoLaunch(now time.Time) time.Time { return now.UTC().AddDate(-3, 0, 0) }

// demoNamespace is the UUIDv5 namespace of the demo's command IDs.
func demoNamespace() uuid.UUID { return uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:csc:demo")) }

// demoIdea is a roadmap item the demo proposes, adapted to each city.
type demoIdea struct {
	title, description string
	theme              domain.Theme
	targets            []string
	indicator          *domain.Indicator // baseline and target years are set per item
	budget             float64           // in the city's currency, in millions
}

func demoIdeas() []demoIdea {
	ind := func(name, unit string, dir domain.Direction, base, target float64) *domain.Indicator {
		return &domain.Indicator{Name: name, Unit: unit, Direction: dir,
			Baseline: domain.YearValue{Value: base}, Target: domain.YearValue{Value: target}}
	}
	return []demoIdea{
		{"Green roofs on public buildings", "Cover public buildings with green roofs to cool the city and hold rain water.",
			domain.ThemeEcology, []string{"11.6", "11.7"}, ind("Green roof area", "m2", domain.DirectionIncrease, 1200, 40000), 2.5},
		{"Protected bike lane network", "Build a connected network of protected bike lanes between the districts.",
			domain.ThemeEcology, []string{"11.2"}, ind("Protected bike lanes", "km", domain.DirectionIncrease, 40, 180), 18},
		{"Affordable housing retrofit", "Insulate and modernise social housing without raising rents.",
			domain.ThemeEconomics, []string{"11.1", "11.6"}, ind("Homes retrofitted", "homes", domain.DirectionIncrease, 0, 5000), 60},
		{"Participatory budgeting", "Let residents decide on part of the district budgets, online and in assemblies.",
			domain.ThemePolitics, []string{"11.3"}, ind("Residents taking part", "people", domain.DirectionIncrease, 2000, 30000), 1.2},
		{"Heritage district revitalisation", "Restore the historic centre's public spaces with the people who live there.",
			domain.ThemeCulture, []string{"11.4"}, nil, 9},
		{"Flood early-warning system", "Sensors, forecasts and text alerts for the districts along the river.",
			domain.ThemePolitics, []string{"11.5", "11.b"}, ind("Households covered", "households", domain.DirectionIncrease, 5000, 120000), 4},
		{"Air quality monitoring", "A dense network of low-cost sensors with open data and action plans.",
			domain.ThemeEcology, []string{"11.6"}, ind("Days with PM2.5 above the WHO limit", "days/year", domain.DirectionDecrease, 120, 60), 0.8},
		{"Circular economy markets", "Repair cafés and second-hand markets in every district.",
			domain.ThemeEconomics, []string{"11.6", "11.a"}, ind("Waste sent to landfill", "kt/year", domain.DirectionDecrease, 900, 600), 3},
		{"Community cultural centres", "Open cultural centres run with neighbourhood associations.",
			domain.ThemeCulture, []string{"11.7", "11.3"}, ind("Centres open", "centres", domain.DirectionIncrease, 2, 10), 6},
		{"Urban tree canopy", "Plant and care for street trees where heat islands are worst.",
			domain.ThemeEcology, []string{"11.7", "11.6"}, ind("Tree canopy cover", "%", domain.DirectionIncrease, 18, 25), 5},
		{"Green jobs training", "Train young people for jobs in renovation, energy and recycling.",
			domain.ThemeEconomics, []string{"11.a"}, ind("People trained", "people", domain.DirectionIncrease, 0, 2500), 2},
		{"Open data portal", "Publish the city's budgets, contracts and service data as open data.",
			domain.ThemePolitics, []string{"11.3", "11.b"}, nil, 0.5},
	}
}

// demoCurrency is the currency each founding city budgets in.
func demoCurrency(city string) string {
	switch city {
	case "buenos-aires":
		return "ARS"
	case "dakar":
		return "XOF"
	case "guangzhou":
		return "CNY"
	case "mexico-city":
		return "MXN"
	case "johannesburg":
		return "ZAR"
	}
	return "EUR"
}

// demoPlan is what happens to the k-th item of a city: the stage it ends in and, for items in
// progress, how its reported progress compares with the progress expected by now.
type demoPlan struct {
	stage domain.Stage
	pace  float64 // reported / expected progress; 0: no updates
}

func demoPlans() []demoPlan {
	return []demoPlan{
		{domain.StageProposed, 0},
		{domain.StageChangesRequested, 0},
		{domain.StageApproved, 0},
		{domain.StageInProgress, 1.1},  // on track
		{domain.StageInProgress, 0.9},  // behind
		{domain.StageInProgress, 0.55}, // at risk, and overdue
		{domain.StageInProgress, 9},    // achieved (capped at 100 %)
		{domain.StageInProgress, 0},    // starts next month: not started
		{domain.StageOnHold, 0.8},
		{domain.StageCompleted, 1},
		{domain.StageRejected, 0},
		{domain.StageCancelled, 0.5},
	}
}

// demoCounts says what the demo did.
type demoCounts struct{ commands, appended int }

// seeder plans the demo's commands, then runs them.
type seeder struct {
	ctx    context.Context
	items  *cschttp.ItemEngine
	collab *cschttp.CollaboratoryEngine
	ns     uuid.UUID
	now    time.Time
	steps  []demoStep
	last   map[string]time.Time // stream -> time of its last planned step
	counts demoCounts
}

// demoStep is one planned command: it happens at at, in stream.
type demoStep struct {
	at     time.Time
	stream string
	what   string // for errors, e.g. "berlin item 3"
	run    func() (eventstore.Result, error)
}

// seedDemo seeds the demo relative to now. It needs the pilot launched (see demoLaunch). It plans
// every command first, then runs them in chronological order (each stream's own order kept for
// commands at the same time).
func seedDemo(ctx context.Context, items *cschttp.ItemEngine, collab *cschttp.CollaboratoryEngine, now time.Time) (demoCounts, error) {
	sd := &seeder{ctx: ctx, items: items, collab: collab, ns: demoNamespace(), now: now.UTC(), last: make(map[string]time.Time)}
	now = sd.now
	for ci, city := range domain.FoundingCities() {
		if err := sd.members(city, demoLaunch(now).AddDate(0, 0, 7)); err != nil {
			return sd.counts, err
		}
		h := fnv.New64a()
		h.Write([]byte(city.ID))
		rng := rand.New(rand.NewPCG(h.Sum64(), 2017))
		ideas := demoIdeas()
		for k, plan := range demoPlans() {
			idea := ideas[(k+ci)%len(ideas)]
			if err := sd.item(city, k, idea, plan, now, rng); err != nil {
				return sd.counts, fmt.Errorf("%s item %d: %w", city.ID, k, err)
			}
		}
	}
	slices.SortStableFunc(sd.steps, func(a, b demoStep) int { return a.at.Compare(b.at) })
	for _, st := range sd.steps {
		res, err := st.run()
		if err != nil {
			return sd.counts, fmt.Errorf("%s at %s: %w", st.what, st.at.Format(time.RFC3339), err)
		}
		sd.count(res)
	}
	return sd.counts, nil
}

// plan adds a command at at to stream. The demo's history is in the past, after its launch, and in
// order in each stream; plan refuses a step that breaks this (a mistake in the demo's dates).
func (sd *seeder) plan(at time.Time, stream, what string, run func() (eventstore.Result, error)) error {
	if !at.Before(sd.now) || !at.After(demoLaunch(sd.now)) {
		return fmt.Errorf("demo step at %s is not between the demo's launch and now (%s)", at.Format(time.RFC3339), sd.now.Format(time.RFC3339))
	}
	if at.Before(sd.last[stream]) {
		return fmt.Errorf("demo step at %s in %s is before the stream's previous step (%s)", at.Format(time.RFC3339), stream,
			sd.last[stream].Format(time.RFC3339))
	}
	sd.last[stream] = at
	sd.steps = append(sd.steps, demoStep{at: at, stream: stream, what: what, run: run})
	return nil
}

func (sd *seeder) id(parts ...any) uuid.UUID {
	return uuid.NewSHA1(sd.ns, []byte(fmt.Sprint(parts...)))
}

// members registers a mayor and a scientist for the city's delegation at at.
func (sd *seeder) members(city domain.City, at time.Time) error {
	for i, m := range []struct {
		name      string
		expertise domain.Expertise
	}{{"Mayor's office, " + city.Name, domain.ExpertiseMayor}, {"Urban science lead, " + city.Name, domain.ExpertiseScience}} {
		cmdID := sd.id(city.ID, "/member/", i)
		cmd := domain.RegisterMember{MemberID: uuid.NewSHA1(cmdID, []byte("member")).String(), City: city.ID,
			Name: m.name, Expertise: m.expertise}
		dctx := domain.Context{Now: at, Actor: "coordinator", Role: domain.RoleCoordinator}
		stream := domain.CollaboratoryStream(domain.PilotSlug)
		err := sd.plan(at, stream, city.ID+" member "+strconv.Itoa(i), func() (eventstore.Result, error) {
			res, err := sd.collab.Execute(sd.ctx, stream, eventstore.Command{
				ID: cmdID, Name: cmd.CommandName(), Actor: dctx.Actor, Role: string(dctx.Role), Recorded: &at,
			}, func(st domain.Collaboratory, _ bool) ([]domain.Event, error) {
				return domain.DecideCollaboratory(st, cmd, dctx)
			})
			if err != nil {
				return res, fmt.Errorf("register member: %w", err)
			}
			return res, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (sd *seeder) count(res eventstore.Result) {
	sd.counts.commands++
	if !res.Replayed {
		sd.counts.appended += res.Appended
	}
}

// item plans the k-th item of a city: proposed, then taken through the plan's stages.
func (sd *seeder) item(city domain.City, k int, idea demoIdea, plan demoPlan, now time.Time, rng *rand.Rand) error {
	day := 24 * time.Hour
	monthsAgo := 4 + rng.IntN(8)  // implementation started 4..11 months ago
	duration := 12 + rng.IntN(13) // and lasts 12..24 months
	var start time.Time
	switch {
	case plan.stage == domain.StageCompleted: // ended two months ago
		start = now.AddDate(0, -(duration + 2), 0)
	case plan.pace == 0.55: // overdue: due a month ago
		start = now.AddDate(0, -(duration + 1), 0)
	case plan.stage == domain.StageInProgress && plan.pace == 0, plan.stage == domain.StageProposed,
		plan.stage == domain.StageChangesRequested, plan.stage == domain.StageApproved, plan.stage == domain.StageRejected:
		start = now.AddDate(0, 1, 0) // planned to start next month
	default:
		start = now.AddDate(0, -monthsAgo, 0)
	}
	due := start.AddDate(0, duration, 0)
	proposedAt := minTime(start.AddDate(0, -2, 0), now.Add(-30*day))

	fields := sd.fields(city, idea, start, due)
	proposeID := sd.id(city.ID, "/", k, "/propose")
	itemID := uuid.NewSHA1(proposeID, []byte("roadmap-item")).String()
	step := 0
	stream := domain.ItemStream(itemID)
	what := fmt.Sprintf("%s item %d", city.ID, k)
	// run plans the item's next command, decided and recorded at at.
	run := func(at time.Time, coordinator bool, cmd domain.ItemCommand) error {
		step++
		dctx := domain.Context{Now: at, Actor: memberSubject(city.ID), Role: domain.RoleMember, City: city.ID}
		if coordinator {
			dctx = domain.Context{Now: at, Actor: "coordinator", Role: domain.RoleCoordinator}
		}
		cmdID := proposeID
		if step > 1 {
			cmdID = sd.id(city.ID, "/", k, "/", step)
		}
		return sd.plan(at, stream, what+" "+cmd.CommandName(), func() (eventstore.Result, error) {
			return sd.items.Execute(sd.ctx, stream, eventstore.Command{
				ID: cmdID, Name: cmd.CommandName(), Actor: dctx.Actor, Role: string(dctx.Role), City: dctx.City, Recorded: &at,
			}, func(st domain.RoadmapItem, _ bool) ([]domain.Event, error) { return domain.DecideItem(st, cmd, dctx) })
		})
	}

	if err := run(proposedAt, false, domain.ProposeRoadmapItem{ItemID: itemID, City: city.ID, ItemFields: fields}); err != nil {
		return err
	}
	review := minTime(proposedAt.Add(10*day), now.Add(-20*day))
	switch plan.stage {
	case domain.StageProposed:
		return nil
	case domain.StageChangesRequested:
		return run(review, true, domain.RequestChanges{Comment: "Please break the budget down by year and name the lead department."})
	case domain.StageRejected:
		return run(review, true, domain.RejectRoadmapItem{Reason: "Overlaps with a national programme already funded."})
	}
	if err := run(review, true, domain.ApproveRoadmapItem{}); err != nil {
		return err
	}
	if plan.stage == domain.StageApproved {
		return nil
	}
	startedAt := minTime(start, now.Add(-15*day))
	if err := run(startedAt, false, domain.StartImplementation{}); err != nil {
		return err
	}

	// Monthly updates from a month after the start, and one last week (for a completed item: until its
	// due date), each reporting progress at plan.pace of what the health rule expects by then: on the
	// item's dates for the percentage, on the indicator's years for the measurement.
	last := now.Add(-7 * day)
	if plan.stage == domain.StageCompleted {
		last = due
	}
	var times []time.Time
	for at := start.AddDate(0, 1, 0); plan.pace > 0 && last.Sub(at) > 3*day; at = at.AddDate(0, 1, 0) {
		times = append(times, at)
	}
	if plan.pace > 0 {
		times = append(times, last)
	}
	reached := 0
	for i, at := range times {
		progress := math.Min(1, linear(start, due, at)*plan.pace)
		if plan.stage == domain.StageCompleted && i == len(times)-1 {
			progress = 1
		}
		percent := int(math.Round(progress * 100))
		upd := domain.SubmitRoadmapUpdate{
			UpdateID:        uuid.NewSHA1(sd.id(city.ID, "/", k, "/update/", i+1), []byte("roadmap-update")).String(),
			ProgressPercent: ptr(percent),
			Narrative:       fmt.Sprintf("Report %d: %s is at %d %% (%s).", i+1, idea.title, percent, city.Name),
			Evidence:        []domain.Evidence{demoEvidence(city.ID, itemID, at)},
		}
		if in := fields.Indicator; in != nil {
			from := time.Date(in.Baseline.Year, time.January, 1, 0, 0, 0, 0, time.UTC)
			to := time.Date(in.Target.Year+1, time.January, 1, 0, 0, 0, 0, time.UTC)
			share := math.Min(1, linear(from, to, at)*plan.pace)
			if progress == 1 {
				share = 1
			}
			upd.Measurement = &domain.Measurement{Value: round2(in.Baseline.Value + (in.Target.Value-in.Baseline.Value)*share),
				Period: at.Format("2006-01")}
		}
		// Milestones are reported when the progress passes their share of the plan.
		for reached < len(fields.Milestones) && progress >= float64(reached+1)/float64(len(fields.Milestones)+1) {
			upd.MilestonesReached = append(upd.MilestonesReached, fields.Milestones[reached].ID)
			reached++
		}
		if err := run(at, false, upd); err != nil {
			return err
		}
	}

	end := minTime(last.Add(3*day), now.Add(-2*day))
	switch plan.stage {
	case domain.StageOnHold:
		return run(end, false, domain.PutOnHold{Reason: "Waiting for the regional permit."})
	case domain.StageCompleted:
		return run(end, true, domain.CompleteRoadmapItem{})
	case domain.StageCancelled:
		return run(end, false, domain.CancelRoadmapItem{Reason: "The funding was withdrawn after the elections."})
	}
	return nil
}

// fields are the item's fields for a city: the idea with its dates, three milestones, the indicator's
// years and a budget in the city's currency.
func (sd *seeder) fields(city domain.City, idea demoIdea, start, due time.Time) domain.ItemFields {
	f := domain.ItemFields{
		Title:       idea.title,
		Description: idea.description + " (" + city.Name + ")",
		Theme:       idea.theme,
		SDGTargets:  append([]string(nil), idea.targets...),
		StartDate:   domain.DateOf(start),
		DueDate:     domain.DateOf(due),
		Budget: &domain.Budget{Amount: idea.budget * 1e6, Currency: demoCurrency(city.ID),
			FundingSource: city.Name + " city budget"},
	}
	if idea.indicator != nil {
		in := *idea.indicator
		in.Baseline.Year, in.Target.Year = start.Year(), due.Year()
		f.Indicator = &in
	}
	span := due.Sub(start)
	for i, title := range []string{"Plan and procurement", "First phase delivered", "Full roll-out"} {
		at := start.Add(span * time.Duration(i+1) / 3)
		f.Milestones = append(f.Milestones, domain.Milestone{ID: fmt.Sprintf("m%d", i+1), Title: title, Due: domain.DateOf(at)})
	}
	return f
}

// demoEvidence is a report for the month of at; its digest stands in for the document's.
func demoEvidence(city, itemID string, at time.Time) domain.Evidence {
	uri := fmt.Sprintf("https://example.org/%s/roadmap/%s/report-%s.pdf", city, itemID, at.Format("2006-01"))
	return domain.Evidence{URI: uri, SHA256: fmt.Sprintf("%x", sha256.Sum256([]byte(uri)))}
}

// linear is how far at is along [from, to), 0..1.
func linear(from, to, at time.Time) float64 {
	if !to.After(from) {
		return 1
	}
	return math.Min(1, math.Max(0, float64(at.Sub(from))/float64(to.Sub(from))))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func ptr[T any](v T) *T { return &v }
