package projections

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// Models is a consistent set of read models at one position of $all. Its methods are safe for
// concurrent use: the runner applies each batch of events holding a write lock, and every query
// holds the read lock for the short time it takes (queries never loop over the whole history).
// The progress queries take no lock at all: they read the ProgressView published after each batch.
//
// Results are copies: callers may keep and change them.
type Models struct {
	mu sync.RWMutex
	s  *state
	// progress is the progress read model as of the last batch applied: queries read it without
	// the lock (see ProgressView).
	progress atomic.Pointer[ProgressView]
}

func newModels(s *state) *Models {
	m := &Models{s: s}
	m.publishProgress()
	return m
}

// Position is the position of the last event the models include (the zero Position for none).
func (m *Models) Position() eventstore.Position {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.s.pos
}

// Stats counts what the models were built from.
type Stats struct {
	Events  uint64 `json:"events"`  // events applied
	Skipped uint64 `json:"skipped"` // events of unknown types skipped
	Cities  int    `json:"cities"`
	Members int    `json:"members"` // active members
	Items   int    `json:"items"`
}

// Stats returns what the models were built from.
func (m *Models) Stats() Stats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := Stats{Events: m.s.applied, Skipped: m.s.skipped, Items: len(m.s.itemList)}
	for _, c := range m.s.cityList {
		if c.takesPart {
			st.Cities++
		}
		st.Members += c.members
	}
	return st
}

// nanos turns a query time into Unix nanoseconds, clamped to the years instants are kept in.
func nanos(t time.Time) int64 {
	switch {
	case t.Year() < minYear:
		return yearStart(minYear) - 1
	case t.Year() >= maxYear:
		return yearStart(maxYear)
	}
	return t.UnixNano()
}

// ---- city progress ----

// CityProgress is a city's row of the progress read model. Health and Overdue are evaluated at the
// time the query gives; everything else is as of the models' position.
type CityProgress struct {
	City       string         `json:"city"`
	Name       string         `json:"name"`
	Founding   bool           `json:"founding"`
	Joined     time.Time      `json:"joined,omitzero"`
	Stages     StageCounts    `json:"stages"`
	Health     HealthCounts   `json:"health"`
	Completion float64        `json:"completion"` // mean progress of the committed items, 0..1
	Milestones MilestoneCount `json:"milestones"` // of the committed items
	Overdue    int            `json:"overdue"`    // open items whose due date has passed
	Budget     []Amount       `json:"budget"`     // planned for the committed items, per currency
	LastUpdate time.Time      `json:"lastUpdate,omitzero"`
}

// StageCounts counts items by stage.
type StageCounts struct {
	Proposed         int `json:"proposed"`
	ChangesRequested int `json:"changes_requested"`
	Approved         int `json:"approved"`
	InProgress       int `json:"in_progress"`
	OnHold           int `json:"on_hold"`
	Completed        int `json:"completed"`
	Rejected         int `json:"rejected"`
	Cancelled        int `json:"cancelled"`
}

// HealthCounts counts the committed items (approved, in progress, on hold, completed) by health.
type HealthCounts struct {
	NotStarted int `json:"not_started"`
	OnTrack    int `json:"on_track"`
	Behind     int `json:"behind"`
	AtRisk     int `json:"at_risk"`
	Achieved   int `json:"achieved"`
}

// MilestoneCount counts milestones.
type MilestoneCount struct {
	Reached int `json:"reached"`
	Total   int `json:"total"`
}

// Amount is a sum of money in one currency.
type Amount struct {
	Currency string  `json:"currency"`
	Amount   float64 `json:"amount"`
}

// Progress returns every city's progress at now, in the order the cities appeared (founding cities
// first), as of the last batch of events applied (see ProgressView).
func (m *Models) Progress(now time.Time) []CityProgress { return m.ProgressView().Rows(now) }

// CityProgress returns the progress of one city at now, as Progress does.
func (m *Models) CityProgress(city string, now time.Time) (CityProgress, bool) {
	return m.ProgressView().City(city, now)
}

// ---- matrix ----

// Matrix is the cross-city matrix: per city, per theme and per SDG 11 target, the number of items
// (rejected and cancelled ones left out) and the completion of those committed to.
type Matrix struct {
	Themes  []domain.Theme `json:"themes"`
	Targets []string       `json:"targets"`
	Rows    []MatrixRow    `json:"rows"`
}

// MatrixRow is a city's row of the matrix.
type MatrixRow struct {
	City    string                      `json:"city"`
	Name    string                      `json:"name"`
	Themes  map[domain.Theme]MatrixCell `json:"themes"`
	Targets map[string]MatrixCell       `json:"targets"`
}

// MatrixCell counts the items of a city in a theme or for a target. An item that names several
// targets counts for each.
type MatrixCell struct {
	Items      int     `json:"items"`
	Committed  int     `json:"committed"`
	Completion float64 `json:"completion"` // mean progress of the committed items, 0..1
}

// Matrix returns the cross-city matrix.
func (m *Models) Matrix() Matrix {
	m.mu.RLock()
	defer m.mu.RUnlock()
	themes, targets := domain.Themes(), domain.SDGTargets()
	mx := Matrix{Themes: themes, Targets: targets, Rows: make([]MatrixRow, 0, len(m.s.cityList))}
	for _, c := range m.s.cityList {
		row := MatrixRow{City: c.id, Name: c.name,
			Themes: make(map[domain.Theme]MatrixCell, len(themes)), Targets: make(map[string]MatrixCell, len(targets))}
		for i, th := range themes {
			row.Themes[th] = c.themes[i].out()
		}
		for i, tg := range targets {
			row.Targets[tg] = c.targets[i].out()
		}
		mx.Rows = append(mx.Rows, row)
	}
	return mx
}

func (x cell) out() MatrixCell {
	c := MatrixCell{Items: x.items, Committed: x.committed}
	if x.committed > 0 {
		c.Completion = float64(x.progress) / float64(x.committed) / ppmOne
	}
	return c
}

// ---- roadmap items ----

// ItemFilter selects roadmap items. Empty fields select everything.
type ItemFilter struct {
	City   string
	Stage  domain.Stage
	Theme  domain.Theme
	Health Health
	// After, an item id, lists only the items after it (in list order: the order of proposal); an
	// unknown id lists nothing.
	After string
	// Limit bounds the number of items returned; 0 means no bound.
	Limit int
}

// ItemSummary is a roadmap item in the item list.
type ItemSummary struct {
	ID         string         `json:"id"`
	City       string         `json:"city"`
	Title      string         `json:"title"`
	Theme      domain.Theme   `json:"theme"`
	SDGTargets []string       `json:"sdgTargets"`
	Stage      domain.Stage   `json:"stage"`
	Health     Health         `json:"health,omitempty"` // empty for items not committed to
	Progress   float64        `json:"progress"`         // actual progress, 0..1 (see the health rule)
	StartDate  domain.Date    `json:"startDate"`
	DueDate    domain.Date    `json:"dueDate"`
	Overdue    bool           `json:"overdue"`
	Milestones MilestoneCount `json:"milestones"`
	Budget     *domain.Budget `json:"budget,omitempty"`
	Revision   uint64         `json:"revision"` // the item stream's revision (its ETag)
	LastUpdate time.Time      `json:"lastUpdate,omitzero"`
}

// ItemDetail is a roadmap item with its measurements, milestones and history.
type ItemDetail struct {
	ItemSummary
	Description string `json:"description"`
	// HealthBasis and ExpectedProgress explain Health (committed items only).
	HealthBasis      HealthBasis `json:"healthBasis,omitempty"`
	ExpectedProgress float64     `json:"expectedProgress"`
	// ProgressPercent is the latest reported progress percentage, if any.
	ProgressPercent   *int              `json:"progressPercent,omitempty"`
	Indicator         *IndicatorSeries  `json:"indicator,omitempty"`
	LatestMeasurement *MeasurementPoint `json:"latestMeasurement,omitempty"`
	MilestoneList     []MilestoneStatus `json:"milestoneList"`
	ProposedAt        time.Time         `json:"proposedAt,omitzero"`
	Revisions         int               `json:"revisions"`
	LastComment       string            `json:"lastComment,omitempty"`
	History           []HistoryEntry    `json:"history"`
}

// IndicatorSeries is an item's indicator with every measurement reported for it.
type IndicatorSeries struct {
	Name         string             `json:"name"`
	Unit         string             `json:"unit"`
	Direction    domain.Direction   `json:"direction"`
	Baseline     domain.YearValue   `json:"baseline"`
	Target       domain.YearValue   `json:"target"`
	Measurements []MeasurementPoint `json:"measurements"`
}

// MeasurementPoint is a measured value of an item's indicator. Value is the value in force (after
// corrections); OriginalValue is the value first reported.
type MeasurementPoint struct {
	UpdateID      string       `json:"updateId"`
	Period        string       `json:"period"`
	Value         float64      `json:"value"`
	OriginalValue float64      `json:"originalValue"`
	At            time.Time    `json:"at"`
	Corrections   []Correction `json:"corrections"`
}

// Correction is a correction applied to a measurement.
type Correction struct {
	OldValue float64   `json:"oldValue"`
	NewValue float64   `json:"newValue"`
	Reason   string    `json:"reason"`
	Actor    string    `json:"actor,omitempty"`
	At       time.Time `json:"at"`
}

// MilestoneStatus is a milestone of an item and whether it was reported reached.
type MilestoneStatus struct {
	ID        string      `json:"id"`
	Title     string      `json:"title"`
	Due       domain.Date `json:"due"`
	Reached   bool        `json:"reached"`
	ReachedAt time.Time   `json:"reachedAt,omitzero"`
}

// HistoryEntry is one event of an item's history: who, when, what.
type HistoryEntry struct {
	Revision  uint64    `json:"revision"`
	Position  string    `json:"position"`
	At        time.Time `json:"at"` // effective time (eventstore.EffectiveTime)
	Type      string    `json:"type"`
	Actor     string    `json:"actor,omitempty"`
	ActorName string    `json:"actorName,omitempty"`
	Role      string    `json:"role,omitempty"`
	Summary   string    `json:"summary"`
	// Changes are the fields the event changed, before and after: a proposal's fields (after
	// only), a revision's changed fields, the stage, an update's progress, measured value and
	// milestones reached, a corrected measurement.
	Changes []FieldChange `json:"changes,omitempty"`
}

// Items returns the items the filter selects, with their health at now, in order of proposal.
func (m *Models) Items(f ItemFilter, now time.Time) []ItemSummary {
	t := nanos(now)
	m.mu.RLock()
	defer m.mu.RUnlock()
	list := m.s.itemList
	if f.City != "" {
		c := m.s.cities[f.City]
		if c == nil {
			return []ItemSummary{}
		}
		list = c.items
	}
	if f.After != "" {
		after := m.s.items[f.After]
		if after == nil {
			return []ItemSummary{}
		}
		i, _ := slices.BinarySearchFunc(list, after.seq, func(it *item, seq int) int { return it.seq - seq })
		for i < len(list) && list[i].seq <= after.seq {
			i++
		}
		list = list[i:]
	}
	out := []ItemSummary{}
	for _, it := range list {
		if f.Limit > 0 && len(out) >= f.Limit {
			break
		}
		if !it.con.counted || f.Stage != "" && it.stage != f.Stage || f.Theme != "" && it.theme != f.Theme {
			continue
		}
		if f.Health != "" && it.con.health(t) != f.Health {
			continue
		}
		out = append(out, it.summary(t))
	}
	return out
}

func (k contribution) health(t int64) Health {
	if !k.committed {
		return ""
	}
	return k.curve.at(t)
}

func (it *item) summary(t int64) ItemSummary {
	k := it.con
	s := ItemSummary{
		ID: it.id, City: it.city.id, Title: it.title, Theme: it.theme, SDGTargets: slices.Clone(it.targets),
		Stage: it.stage, Health: k.health(t), Progress: float64(k.curve.actual) / ppmOne,
		StartDate: it.start, DueDate: it.due, Overdue: k.open && t >= k.due,
		Milestones: MilestoneCount{Reached: min(len(it.reached), len(it.milestones)), Total: len(it.milestones)},
		Revision:   it.rev, LastUpdate: it.lastUpdate,
	}
	if s.SDGTargets == nil {
		s.SDGTargets = []string{}
	}
	if it.budget != nil {
		b := *it.budget
		s.Budget = &b
	}
	return s
}

// Item returns the detail of the item with the given id, its health evaluated at now.
func (m *Models) Item(id string, now time.Time) (ItemDetail, bool) {
	t := nanos(now)
	m.mu.RLock()
	defer m.mu.RUnlock()
	it := m.s.items[id]
	if it == nil || !it.con.counted {
		return ItemDetail{}, false
	}
	d := ItemDetail{
		ItemSummary: it.summary(t), Description: it.description, ProposedAt: it.proposedAt,
		Revisions: it.revisions, LastComment: it.lastComment, History: m.s.history(it),
		MilestoneList: make([]MilestoneStatus, 0, len(it.milestones)),
	}
	if it.con.committed {
		d.HealthBasis, d.ExpectedProgress = it.con.curve.basis, it.con.curve.expected(t)
	}
	if it.progressReported {
		p := it.progressPercent
		d.ProgressPercent = &p
	}
	points := make([]MeasurementPoint, 0, len(it.measurements))
	for _, ms := range it.measurements {
		p := MeasurementPoint{UpdateID: ms.updateID, Period: ms.period, Value: ms.value, OriginalValue: ms.original,
			At: timeOf(ms.at), Corrections: make([]Correction, 0, len(ms.corrections))}
		for _, c := range ms.corrections {
			p.Corrections = append(p.Corrections, Correction{OldValue: c.old, NewValue: c.new, Reason: c.reason,
				Actor: m.s.name(c.actor), At: timeOf(c.at)})
		}
		points = append(points, p)
	}
	if in := it.indicator; in != nil {
		d.Indicator = &IndicatorSeries{Name: in.Name, Unit: in.Unit, Direction: in.Direction, Baseline: in.Baseline,
			Target: in.Target, Measurements: points}
	}
	if len(points) > 0 {
		latest := points[len(points)-1]
		latest.Corrections = slices.Clone(latest.Corrections)
		d.LatestMeasurement = &latest
	}
	for _, ms := range it.milestones {
		st := MilestoneStatus{ID: ms.ID, Title: ms.Title, Due: ms.Due}
		if i := slices.IndexFunc(it.reached, func(r reachedMilestone) bool { return r.id == ms.ID }); i >= 0 {
			st.Reached, st.ReachedAt = true, it.reached[i].at
		}
		d.MilestoneList = append(d.MilestoneList, st)
	}
	return d, true
}

// ItemHistory returns the history of the item with the given id, oldest first.
func (m *Models) ItemHistory(id string) ([]HistoryEntry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	it := m.s.items[id]
	if it == nil || !it.con.counted {
		return nil, false
	}
	return m.s.history(it), true
}

func (s *state) history(it *item) []HistoryEntry {
	out := make([]HistoryEntry, len(it.history))
	unit := it.unit()
	changes := s.historyChanges(it)
	for i, rec := range it.history {
		// The events of a stream are consecutive revisions: the last one is at it.rev.
		rev := it.rev - uint64(len(it.history)-1-i)
		out[i] = HistoryEntry{
			Revision: rev, Position: rec.pos.String(), At: timeOf(rec.at), Type: typeName(rec.kind),
			Actor: s.name(rec.actor), ActorName: s.actorName(s.name(rec.actor)), Role: s.name(rec.role),
			Summary: s.what(rec, unit, "the item"), Changes: changes[i],
		}
	}
	return out
}

func typeName(k eventKind) string {
	switch k {
	case kindLaunched:
		return domain.TypeCollaboratoryLaunched
	case kindCityJoined:
		return domain.TypeCityJoined
	case kindMemberRegistered:
		return domain.TypeMemberRegistered
	case kindMemberRemoved:
		return domain.TypeMemberRemoved
	case kindProposed:
		return domain.TypeRoadmapItemProposed
	case kindRevised:
		return domain.TypeRoadmapItemRevised
	case kindApproved:
		return domain.TypeRoadmapItemApproved
	case kindChangesRequested:
		return domain.TypeChangesRequested
	case kindRejected:
		return domain.TypeRoadmapItemRejected
	case kindStarted:
		return domain.TypeImplementationStarted
	case kindUpdate:
		return domain.TypeRoadmapUpdateSubmitted
	case kindCorrected:
		return domain.TypeMeasurementCorrected
	case kindOnHold:
		return domain.TypeItemPutOnHold
	case kindResumed:
		return domain.TypeItemResumed
	case kindCompleted:
		return domain.TypeRoadmapItemCompleted
	case kindCancelled:
		return domain.TypeRoadmapItemCancelled
	}
	return ""
}

// ---- roster and activity ----

// Roster is the collaboratory's cities and its active members grouped by expertise.
type Roster struct {
	Collaboratory string           `json:"collaboratory"`
	Name          string           `json:"name"`
	Phase         string           `json:"phase"`
	Launched      time.Time        `json:"launched,omitzero"`
	Cities        []RosterCity     `json:"cities"`
	Expertise     []ExpertiseGroup `json:"expertise"`
}

// RosterCity is a city taking part.
type RosterCity struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Country  string    `json:"country"`
	Founding bool      `json:"founding"`
	Joined   time.Time `json:"joined"`
	Members  int       `json:"members"` // active members
}

// ExpertiseGroup lists the active members with one kind of expertise, in order of registration.
type ExpertiseGroup struct {
	Expertise domain.Expertise `json:"expertise"`
	Members   []RosterMember   `json:"members"`
}

// RosterMember is an active member.
type RosterMember struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	City       string    `json:"city"`
	Registered time.Time `json:"registered"`
}

// Roster returns the roster. Every kind of expertise is listed, in domain.Expertises order, with
// members of other kinds after them.
func (m *Models) Roster() Roster {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.s
	r := Roster{Collaboratory: s.collab.slug, Name: s.collab.name, Phase: s.collab.phase, Launched: s.collab.launched,
		Cities: []RosterCity{}, Expertise: []ExpertiseGroup{}}
	for _, c := range s.cityList {
		if c.takesPart {
			r.Cities = append(r.Cities, RosterCity{ID: c.id, Name: c.name, Country: c.country, Founding: c.founding,
				Joined: c.joined, Members: c.members})
		}
	}
	groups := make(map[domain.Expertise]int)
	for _, x := range domain.Expertises() {
		groups[x] = len(r.Expertise)
		r.Expertise = append(r.Expertise, ExpertiseGroup{Expertise: x, Members: []RosterMember{}})
	}
	for _, mb := range s.memberList {
		if mb.removed {
			continue
		}
		g, ok := groups[mb.expertise]
		if !ok {
			g = len(r.Expertise)
			groups[mb.expertise] = g
			r.Expertise = append(r.Expertise, ExpertiseGroup{Expertise: mb.expertise, Members: []RosterMember{}})
		}
		r.Expertise[g].Members = append(r.Expertise[g].Members,
			RosterMember{ID: mb.id, Name: mb.name, City: mb.city, Registered: mb.registered})
	}
	return r
}

// Activity is an entry of the activity feed: an event in plain words.
type Activity struct {
	Position  string    `json:"position"`
	At        time.Time `json:"at"` // effective time (eventstore.EffectiveTime)
	Type      string    `json:"type"`
	Stream    string    `json:"stream"`
	City      string    `json:"city,omitempty"`
	ItemID    string    `json:"itemId,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	ActorName string    `json:"actorName,omitempty"`
	Role      string    `json:"role,omitempty"`
	Text      string    `json:"text"`
}

// DefaultActivity is the number of entries Activity returns for a limit <= 0; at most activityCap
// (1000) latest events are kept.
const DefaultActivity = 50

// Activity returns the latest events in plain words, newest first.
func (m *Models) Activity(limit int) []Activity {
	if limit <= 0 {
		limit = DefaultActivity
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	latest := m.s.activity.latest(limit)
	out := make([]Activity, 0, len(latest))
	for _, a := range latest {
		e := Activity{Position: a.rec.pos.String(), At: timeOf(a.rec.at), Type: a.typ, Stream: a.stream, City: a.city,
			Actor: m.s.name(a.rec.actor), ActorName: m.s.actorName(m.s.name(a.rec.actor)), Role: m.s.name(a.rec.role),
			Text: m.s.sentence(a)}
		if a.item != nil {
			e.ItemID = a.item.id
		}
		out = append(out, e)
	}
	return out
}
