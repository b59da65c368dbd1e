package projections

import (
	"slices"
	"time"

	"github.com/metropolis/csc/eventstore"
)

// ProgressView is the progress read model as of one position of $all: an immutable copy of every
// city's row, which the live models publish after each batch of events they apply. A query reads
// the view the models hold at that moment, without their lock, so it never waits for the runner
// to finish a batch (under a heavy write load it used to: the runner holds the write lock while it
// applies events), and the rows it returns and the view's Position always agree.
//
// Health and the overdue count depend on the time of the query; the view keeps the instants they
// are counted from, and a query costs a few binary searches per city. A batch copies only the
// cities it changed: the others are shared with the previous view.
type ProgressView struct {
	pos    eventstore.Position
	cities []*cityView    // in the order the cities appeared
	index  map[string]int // city ID to its place in cities; shared by views with the same cities
}

// cityView is a city's part of a ProgressView.
type cityView struct {
	row                           CityProgress // all but Health and Overdue; Budget is copied out
	notStarted, achieved, running int
	t1, t2, due                   instants
}

// ProgressView returns the progress read model as of the last batch applied.
func (m *Models) ProgressView() *ProgressView { return m.progress.Load() }

// publishProgress makes a ProgressView of the models' state the current one, copying the cities
// that changed since the last one (all of them the first time) and sharing the others. Only the
// goroutine that changes the state calls it (the runner, or newModels before the models are
// shared), so it may read the state without the lock.
func (m *Models) publishProgress() {
	s := m.s
	prev := m.progress.Load()
	v := &ProgressView{pos: s.pos, cities: make([]*cityView, len(s.cityList))}
	if prev != nil && len(prev.cities) == len(s.cityList) {
		v.index = prev.index
	} else {
		v.index = make(map[string]int, len(s.cityList))
		for i, c := range s.cityList {
			v.index[c.id] = i
		}
	}
	for i, c := range s.cityList {
		if prev != nil && i < len(prev.cities) && !c.changed {
			v.cities[i] = prev.cities[i]
			continue
		}
		v.cities[i] = newCityView(c)
		c.changed = false
	}
	m.progress.Store(v)
}

func newCityView(c *city) *cityView {
	cv := &cityView{
		row: CityProgress{
			City: c.id, Name: c.name, Founding: c.founding, Joined: c.joined, LastUpdate: c.lastUpdate,
			Stages: StageCounts{
				Proposed: c.stages[0], ChangesRequested: c.stages[1], Approved: c.stages[2], InProgress: c.stages[3],
				OnHold: c.stages[4], Completed: c.stages[5], Rejected: c.stages[6], Cancelled: c.stages[7],
			},
			Milestones: MilestoneCount{Reached: c.msReached, Total: c.msTotal},
		},
		notStarted: c.notStarted, achieved: c.achieved, running: c.running,
		t1: slices.Clone(c.t1), t2: slices.Clone(c.t2), due: slices.Clone(c.due),
	}
	if c.committed > 0 {
		cv.row.Completion = float64(c.progress) / float64(c.committed) / ppmOne
	}
	cv.row.Budget = make([]Amount, len(c.budget))
	for i, b := range c.budget {
		cv.row.Budget[i] = Amount{Currency: b.currency, Amount: b.sum.float() / 1000}
	}
	return cv
}

// Position is the position of the last event the view includes.
func (v *ProgressView) Position() eventstore.Position { return v.pos }

// Rows returns every city's progress at now, in the order the cities appeared (founding cities
// first).
func (v *ProgressView) Rows(now time.Time) []CityProgress {
	t := nanos(now)
	n := 0
	for _, c := range v.cities {
		n += len(c.row.Budget)
	}
	amounts := make([]Amount, 0, n) // one allocation for every city's budget
	out := make([]CityProgress, 0, len(v.cities))
	for _, c := range v.cities {
		out = append(out, c.at(t, &amounts))
	}
	return out
}

// City returns the progress of one city at now, or false when the view has no such city.
func (v *ProgressView) City(id string, now time.Time) (CityProgress, bool) {
	i, ok := v.index[id]
	if !ok {
		return CityProgress{}, false
	}
	c := v.cities[i]
	amounts := make([]Amount, 0, len(c.row.Budget))
	return c.at(nanos(now), &amounts), true
}

// at returns the city's row at t; its budget is appended to *amounts (which must have room for it)
// and sliced off with its capacity capped, so that callers own what they get.
func (c *cityView) at(t int64, amounts *[]Amount) CityProgress {
	p := c.row
	p.Overdue = c.due.atOrBefore(t)
	behindOrWorse, atRisk := c.t1.before(t), c.t2.before(t)
	p.Health = HealthCounts{
		NotStarted: c.notStarted, Achieved: c.achieved,
		OnTrack: c.running - behindOrWorse, Behind: behindOrWorse - atRisk, AtRisk: atRisk,
	}
	start := len(*amounts)
	*amounts = append(*amounts, c.row.Budget...)
	p.Budget = (*amounts)[start:len(*amounts):len(*amounts)]
	return p
}
