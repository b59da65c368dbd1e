package projections

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// state is the fold behind a Models value: every read model, kept up to date event by event. Only
// one goroutine applies events to a state; once a state is published (inside Models), it does so
// holding Models.mu for writing, and queries read it holding Models.mu for reading.
type state struct {
	pos     eventstore.Position
	applied uint64 // events of known types applied
	skipped uint64 // events of unknown types skipped

	collab     collabInfo
	cities     map[string]*city
	cityList   []*city // in order of appearance: founding cities as launched, then joins
	members    map[string]*member
	memberList []*member // in order of registration
	items      map[string]*item
	itemList   []*item // in order of proposal
	activity   ring
	texts      texts             // the strings of the history records
	names      []string          // interned actor ids and roles; names[0] is ""
	nameIDs    map[string]uint32 // index of each name in names
	nameCache  [256]uint32       // recently interned names (see intern)
	itemCache  [1024]*item       // recently used items (see item)

	// indexed is true when the items' contributions and the cities' aggregates and instant sets
	// (transitions, due dates) are maintained event by event. A bulk build (catch-up, rebuild,
	// as-of) leaves it false and calls reindex at the end.
	indexed bool
}

type collabInfo struct {
	slug, name, phase string
	launched          time.Time
}

func newState() *state {
	return &state{
		cities:  make(map[string]*city),
		members: make(map[string]*member),
		items:   make(map[string]*item),
		names:   []string{""},
		nameIDs: map[string]uint32{"": 0},
	}
}

// city is a city's row of the progress and matrix read models.
type city struct {
	id, name, country string
	founding          bool
	takesPart         bool // launched with the collaboratory or joined it (not just named by an item)
	joined            time.Time
	lastUpdate        time.Time
	items             []*item // in order of proposal
	members           int     // active members

	stages     [8]int // by stageIndex
	committed  int    // items approved, in progress, on hold or completed
	progress   int64  // sum of the committed items' progress, ppm
	notStarted int
	achieved   int
	running    int      // committed items whose health depends on time
	t1, t2     instants // finite transition instants of the running items (see curve)
	due        instants // due instants (end of the due day) of the open items
	msReached  int
	msTotal    int
	budget     []budgetSum // committed items, by currency (sorted)

	themes  [4]cell  // by domain.Themes() order
	targets [10]cell // by domain.SDGTargets() order

	// changed is set when a field of the city's progress row changes, and cleared when the live
	// models publish a new ProgressView (see publishProgress), which then copies the city anew.
	changed bool
}

// budgetSum is the budget planned in one currency, in thousandths.
type budgetSum struct {
	currency string
	sum      sum128
}

// addBudget adds v thousandths of currency to the city's budget.
func (c *city) addBudget(currency string, v int64) {
	i, found := slices.BinarySearchFunc(c.budget, currency, func(b budgetSum, cur string) int { return strings.Compare(b.currency, cur) })
	if !found {
		c.budget = slices.Insert(c.budget, i, budgetSum{currency: currency})
	}
	c.budget[i].sum.add(v)
	if c.budget[i].sum.isZero() {
		c.budget = slices.Delete(c.budget, i, i+1)
	}
}

// cell is a cell of the cross-city matrix.
type cell struct {
	items     int   // items not rejected or cancelled
	committed int   // of which approved or later
	progress  int64 // ppm sum over the committed ones
}

type member struct {
	id, city, name string
	expertise      domain.Expertise
	registered     time.Time
	removed        bool
}

// item is a roadmap item's row of the item read models.
type item struct {
	id    string
	city  *city
	seq   int
	rev   uint64 // stream revision of the item's last event
	stage domain.Stage

	title, description string
	theme              domain.Theme
	targets            []string
	indicator          *domain.Indicator
	milestones         []domain.Milestone
	budget             *domain.Budget
	start, due         domain.Date

	reached          []reachedMilestone
	progressPercent  int
	progressReported bool
	measurements     []measurement
	revisions        int
	lastComment      string
	proposedAt       time.Time
	lastUpdate       time.Time
	history          []historyRec

	con contribution // what the item adds to its city's aggregates
	fix fixed        // what follows from the item's fields alone (set by setFields)
}

// fixed is what follows from an item's fields (its proposal or latest revision) alone.
type fixed struct {
	theme        int   // index in domain.Themes(), -1 if unknown
	targets      []int // indexes in domain.SDGTargets(), each once
	start, due   int64 // the progress timeline: start of the start date, end of the due date
	base, target int64 // the indicator timeline: start of the baseline year, end of the target year
}

type reachedMilestone struct {
	id string
	at time.Time
}

type measurement struct {
	updateID, period string
	value, original  float64
	at               int64 // recorded, Unix nanoseconds
	corrections      []correction
}

type correction struct {
	old, new float64
	reason   string
	actor    uint32 // interned
	at       int64  // recorded, Unix nanoseconds
}

// indicatorBased reports whether the item's health is on the indicator basis: it has an indicator
// with a target different from its baseline, and at least one measurement.
func (it *item) indicatorBased() bool {
	in := it.indicator
	return in != nil && len(it.measurements) > 0 && in.Target.Value != in.Baseline.Value
}

// contribution is what one item adds to its city's aggregates and matrix cells. It depends on the
// item only, never on the time: the time-dependent parts are kept as instants.
type contribution struct {
	counted   bool // the item exists (its stage is known)
	stage     int  // stageIndex
	live      bool // not rejected or cancelled (counted in the matrix)
	committed bool
	progress  int64
	curve     curve
	open      bool // not completed, rejected or cancelled: can be overdue
	due       int64
	msReached int
	msTotal   int
	currency  string
	budget    int64 // thousandths
	theme     int   // index in domain.Themes(), -1 if unknown
	targets   []int // indexes in domain.SDGTargets() (shared with item.fix: never modified)
}

func stageIndex(s domain.Stage) int {
	switch s {
	case domain.StageProposed:
		return 0
	case domain.StageChangesRequested:
		return 1
	case domain.StageApproved:
		return 2
	case domain.StageInProgress:
		return 3
	case domain.StageOnHold:
		return 4
	case domain.StageCompleted:
		return 5
	case domain.StageRejected:
		return 6
	case domain.StageCancelled:
		return 7
	}
	return -1
}

func themeIndex(t domain.Theme) int {
	return slices.Index(domain.Themes(), t)
}

func targetIndex(t string) int {
	return slices.Index(domain.SDGTargets(), t)
}

// contribute computes the item's contribution.
func (it *item) contribute() contribution {
	si := stageIndex(it.stage)
	if si < 0 {
		return contribution{}
	}
	c := contribution{counted: true, stage: si, theme: it.fix.theme, targets: it.fix.targets, due: it.fix.due}
	c.live = it.stage != domain.StageRejected && it.stage != domain.StageCancelled
	switch it.stage {
	case domain.StageApproved, domain.StageInProgress, domain.StageOnHold, domain.StageCompleted:
		c.committed = true
	}
	c.open = !it.stage.Terminal()
	c.curve = healthCurve(it)
	if c.committed {
		c.progress = c.curve.actual
		c.msTotal = len(it.milestones)
		c.msReached = min(len(it.reached), c.msTotal)
		if b := it.budget; b != nil && b.Amount > 0 && !math.IsInf(b.Amount, 0) {
			c.currency, c.budget = b.Currency, int64(math.Round(min(b.Amount, 9e15)*1000))
		}
	}
	return c
}

// account adds (sign 1) or removes (sign -1) a contribution to the city. With index false the
// instant sets are left alone (a bulk build; see reindex).
func (c *city) account(k contribution, sign int, index bool) {
	if !k.counted {
		return
	}
	c.changed = true
	c.stages[k.stage] += sign
	if k.committed {
		c.committed += sign
		c.progress += int64(sign) * k.progress
		c.msReached += sign * k.msReached
		c.msTotal += sign * k.msTotal
		switch k.curve.class {
		case classNotStarted:
			c.notStarted += sign
		case classAchieved:
			c.achieved += sign
		case classRunning:
			c.running += sign
			if index {
				c.instant(&c.t1, k.curve.t1, sign)
				c.instant(&c.t2, k.curve.t2, sign)
			}
		}
		if k.currency != "" {
			c.addBudget(k.currency, int64(sign)*k.budget)
		}
	}
	if k.open && index {
		c.instant(&c.due, k.due, sign)
	}
	if k.live {
		add := func(x *cell) {
			x.items += sign
			if k.committed {
				x.committed += sign
				x.progress += int64(sign) * k.progress
			}
		}
		if k.theme >= 0 {
			add(&c.themes[k.theme])
		}
		for _, t := range k.targets {
			add(&c.targets[t])
		}
	}
}

func (c *city) instant(s *instants, t int64, sign int) {
	if t == never {
		return
	}
	if sign > 0 {
		s.add(t)
	} else {
		s.remove(t)
	}
}

// reindex ends a bulk build: a bulk build (catch-up, rebuild, as-of) keeps no item contributions
// while it folds, since only the last one of each item counts, so reindex works them out once per
// item and adds them to the cities' aggregates. It then rebuilds every city's instant sets from the
// contributions and turns on event-by-event upkeep of both.
func (s *state) reindex() {
	if !s.indexed { // the aggregates are still zero: nothing was accounted
		for _, it := range s.itemList {
			it.con = it.contribute()
			it.city.account(it.con, 1, false)
		}
	}
	for _, c := range s.cityList {
		c.t1, c.t2, c.due = c.t1[:0], c.t2[:0], c.due[:0]
		for _, it := range c.items {
			k := it.con
			if !k.counted {
				continue
			}
			if k.committed && k.curve.class == classRunning {
				if k.curve.t1 != never {
					c.t1 = append(c.t1, k.curve.t1)
				}
				if k.curve.t2 != never {
					c.t2 = append(c.t2, k.curve.t2)
				}
			}
			if k.open {
				c.due = append(c.due, k.due)
			}
		}
		slices.Sort(c.t1)
		slices.Sort(c.t2)
		slices.Sort(c.due)
	}
	s.indexed = true
}

// intern returns the index of b in names, adding it when new, so that the history of a million
// events keeps a few actor and role strings (looking up a []byte key does not allocate).
func (s *state) intern(b []byte) uint32 {
	// A few actors and roles make most events: a small direct-mapped cache in front of the map
	// saves most map lookups (index 0, "", doubles as an empty slot).
	slot := &s.nameCache[cacheSlot(b, len(s.nameCache))]
	if *slot != 0 && s.names[*slot] == string(b) {
		return *slot
	}
	id := s.lookup(b)
	*slot = id
	return id
}

// cacheSlot spreads keys (ids: UUIDs, slugs, roles) over a direct-mapped cache of n slots (a power
// of two), from their first eight bytes and their length.
func cacheSlot(key []byte, n int) int {
	var x uint64
	if len(key) >= 8 {
		x = binary.LittleEndian.Uint64(key)
	} else {
		for _, c := range key {
			x = x<<8 | uint64(c)
		}
	}
	x ^= uint64(len(key)) << 56
	return int((x * 0x9e3779b97f4a7c15) >> (64 - bits.TrailingZeros(uint(n))))
}

// item returns the item with the given id, or nil.
func (s *state) item(id []byte) *item {
	slot := &s.itemCache[cacheSlot(id, len(s.itemCache))]
	if it := *slot; it != nil && it.id == string(id) {
		return it
	}
	it := s.items[string(id)]
	if it != nil {
		*slot = it
	}
	return it
}

func (s *state) lookup(b []byte) uint32 {
	if id, ok := s.nameIDs[string(b)]; ok {
		return id
	}
	v := string(b)
	id := uint32(len(s.names))
	s.names = append(s.names, v)
	s.nameIDs[v] = id
	return id
}

// name returns the interned name with index id.
func (s *state) name(id uint32) string { return s.names[id] }

// city returns the row of the city with the given id, creating it when it is first named.
func (s *state) city(id []byte) *city {
	if c := s.cities[string(id)]; c != nil {
		return c
	}
	c := &city{id: string(id)}
	c.name = c.id
	s.cities[c.id] = c
	s.cityList = append(s.cityList, c)
	return c
}

// member returns the member with the given id, creating it when it is first named.
func (s *state) member(id []byte) *member {
	if m := s.members[string(id)]; m != nil {
		return m
	}
	m := &member{id: string(id)}
	s.members[m.id] = m
	s.memberList = append(s.memberList, m)
	return m
}

// apply folds one fact into the state.
func (s *state) apply(f *fact) {
	s.pos = f.pos
	c := &f.change
	if c.kind == 0 {
		s.skipped++
		return
	}
	s.applied++
	at := f.recorded
	rec := historyRec{pos: f.pos, at: at.UnixNano(), actor: s.intern(f.actor), role: s.intern(f.role), kind: c.kind}
	act := activityRec{typ: f.typ, stream: f.stream}
	switch c.kind {
	case kindLaunched:
		l := c.launch
		s.collab = collabInfo{slug: l.slug, name: l.name, phase: l.phase, launched: at}
		for _, fc := range l.cities {
			s.city([]byte(fc.ID)).join(fc, true, at)
		}
		rec.text, rec.n = s.texts.keep(l.name), uint16(min(len(l.cities), math.MaxUint16))
	case kindCityJoined:
		city := s.city([]byte(c.joined.ID))
		city.join(c.joined, c.founding, at)
		act.city = city.id
	case kindMemberRegistered:
		m := s.member(c.member)
		if !m.removed && m.city != "" {
			s.cities[m.city].members--
		}
		city := s.city(c.city)
		m.city, m.name, m.expertise, m.registered, m.removed = city.id, c.name, c.expertise, at, false
		city.members++
		city.touch(at)
		act.city, act.member = city.id, m.id
	case kindMemberRemoved:
		m := s.member(c.member)
		if m.city == "" {
			m.city = s.city(c.city).id
		} else if !m.removed {
			s.cities[m.city].members--
		}
		m.removed = true
		s.cities[m.city].touch(at)
		rec.text = s.texts.keep(c.text)
		act.city, act.member = m.city, m.id
	default:
		s.applyItem(f, &rec, &act)
	}
	act.rec = rec
	s.activity.push(act)
}
func (c *city) join(dc domain.City, founding bool, at time.Time) {
	if dc.Name != "" {
		c.name = dc.Name
	}
	c.country = dc.Country
	if !c.takesPart {
		c.takesPart, c.founding, c.joined = true, founding, at
	}
	c.changed = true
	c.touch(at)
}

func (c *city) touch(at time.Time) {
	if at.After(c.lastUpdate) {
		c.lastUpdate = at
		c.changed = true
	}
}

// applyItem folds an event of a roadmap item stream.
func (s *state) applyItem(f *fact, rec *historyRec, act *activityRec) {
	c := &f.change
	it := s.item(c.item)
	if it == nil {
		id := string(c.item)
		if suffix, ok := strings.CutPrefix(f.stream, domain.ItemStream("")); ok && suffix == id {
			id = suffix // shares the stream name's bytes
		}
		it = &item{id: id, city: s.city(c.city), seq: len(s.itemList), fix: fixed{theme: -1}, history: make([]historyRec, 0, 8)}
		s.items[id] = it
		s.itemList = append(s.itemList, it)
		it.city.items = append(it.city.items, it)
	}
	at := f.recorded
	old := it.con
	rec.from = stageRef(it.stage)
	switch c.kind {
	case kindProposed:
		it.proposedAt, it.stage = at, domain.StageProposed
		it.setFields(c.fields)
		rec.text = s.texts.keep(c.fields.Title)
	case kindRevised:
		it.stage = domain.StageProposed
		it.revisions++
		rec.aux = s.texts.keep(revisionDiff(it, c.fields))
		it.setFields(c.fields)
		rec.text = s.texts.keep(c.fields.Title)
	case kindApproved:
		it.stage = domain.StageApproved
	case kindChangesRequested:
		it.stage, it.lastComment, rec.text = domain.StageChangesRequested, c.text, s.texts.keep(c.text)
	case kindRejected:
		it.stage, rec.text = domain.StageRejected, s.texts.keep(c.text)
	case kindStarted:
		it.stage = domain.StageInProgress
	case kindUpdate:
		rec.flags = c.flags
		if c.flags&flagProgress != 0 {
			rec.prev = progressRef(it.progressPercent, it.progressReported)
			it.progressPercent, it.progressReported = c.progress, true
			rec.a = float64(c.progress)
		}
		if c.flags&flagMeasurement != 0 {
			it.measurements = append(it.measurements, measurement{updateID: string(c.update), period: c.period, value: c.value, original: c.value, at: at.UnixNano()})
			rec.b, rec.text = c.value, s.texts.keep(c.period)
		}
		for _, ms := range c.reached {
			if !slices.ContainsFunc(it.reached, func(r reachedMilestone) bool { return r.id == ms }) {
				it.reached = append(it.reached, reachedMilestone{id: ms, at: at})
			}
		}
		if len(c.reached) > 0 {
			rec.aux = s.texts.keep(joinList(c.reached))
		}
		rec.n = uint16(min(c.evidence, math.MaxUint16))
	case kindCorrected:
		rec.a, rec.b, rec.text = c.old, c.value, s.texts.keep(c.text)
		if i := slices.IndexFunc(it.measurements, func(m measurement) bool { return m.updateID == string(c.update) }); i >= 0 {
			m := &it.measurements[i]
			m.value = c.value
			m.corrections = append(m.corrections, correction{old: c.old, new: c.value, reason: c.text, actor: rec.actor, at: at.UnixNano()})
			rec.aux = s.texts.keep(m.period)
			if i < math.MaxUint16 {
				rec.n = uint16(i + 1) // names the update in the history's field changes
			}
		}
	case kindOnHold:
		it.stage, rec.text = domain.StageOnHold, s.texts.keep(c.text)
	case kindResumed:
		it.stage = domain.StageInProgress
	case kindCompleted:
		it.stage = domain.StageCompleted
	case kindCancelled:
		it.stage, rec.text, rec.aux = domain.StageCancelled, s.texts.keep(c.text), s.texts.keep(string(c.from))
	}
	it.rev = f.revision
	if at.After(it.lastUpdate) {
		it.lastUpdate = at
	}
	it.history = append(it.history, *rec)
	if s.indexed {
		it.con = it.contribute()
		it.city.account(old, -1, true)
		it.city.account(it.con, 1, true)
	}
	it.city.touch(at)
	act.city, act.item = it.city.id, it
}

func (it *item) setFields(f *domain.ItemFields) {
	it.title, it.description, it.theme, it.targets = f.Title, f.Description, f.Theme, f.SDGTargets
	it.indicator, it.milestones, it.budget = f.Indicator, f.Milestones, f.Budget
	it.start, it.due = f.StartDate, f.DueDate
	it.fix = fixed{theme: themeIndex(f.Theme), start: dayStart(f.StartDate), due: dayEnd(f.DueDate)}
	for _, t := range f.SDGTargets {
		if i := targetIndex(t); i >= 0 && !slices.Contains(it.fix.targets, i) {
			it.fix.targets = append(it.fix.targets, i)
		}
	}
	if in := f.Indicator; in != nil {
		it.fix.base, it.fix.target = yearStart(in.Baseline.Year), yearStart(in.Target.Year+1)
	}
}
