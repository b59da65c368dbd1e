package projections

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// Workload is a deterministic, seeded simulation of the collaboratory at work, for benchmarks and
// randomized tests: it launches the pilot, lets cities join and members come and go, and drives a
// pool of roadmap items through their lifecycle (review, revisions, updates with progress,
// measurements, milestones and evidence, corrections, holds, completion, cancellation).
//
// Every step is decided by the real domain deciders against the workload's own fold of the streams
// it writes, so every event it produces is one the domain could have recorded. The same seed always
// gives the same steps.
type Workload struct {
	rng    *rand.Rand
	clock  time.Time
	collab domain.Collaboratory
	// members by city, active ones only.
	members map[string][]string
	items   map[string]*workItem
	active  []string          // ids of items not in a terminal stage
	revs    map[string]uint64 // stream -> number of events decided so far
	hashes  map[string]string // stream -> hash of the last event Encode chained
	joined  int
	vocab   []string
}

type workItem struct {
	state   domain.RoadmapItem
	updates int // updates the item will receive before it is completed
}

// Step is one command of the workload, decided: the stream it targets, the command, the actor's
// context and the events the deciders returned for it.
type Step struct {
	Stream string
	// Exactly one of Collaboratory and Item is set.
	Collaboratory domain.CollaboratoryCommand
	Item          domain.ItemCommand
	Context       domain.Context
	Events        []domain.Event
	// Expected is the stream's revision before the step (for an exact expected revision), and New
	// is true when the step creates the stream.
	Expected uint64
	New      bool
}

// workloadPool is the number of items the workload keeps open at once; their events interleave in
// $all as they would with many cities at work.
const workloadPool = 800

// NewWorkload returns a workload seeded with seed.
func NewWorkload(seed uint64) *Workload {
	return &Workload{
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		clock:   time.Date(2018, 3, 1, 8, 0, 0, 0, time.UTC),
		vocab:   strings.Fields(workloadWords),
		members: make(map[string][]string),
		items:   make(map[string]*workItem),
		revs:    make(map[string]uint64),
		hashes:  make(map[string]string),
	}
}

// Now is the workload's simulated clock (the time of the last step).
func (w *Workload) Now() time.Time { return w.clock }

// Next decides the next step and folds its events into the workload's state.
func (w *Workload) Next() (Step, error) {
	w.clock = w.clock.Add(time.Duration(w.rng.Int64N(int64(150 * time.Second))))
	if !w.collab.Launched {
		cities := make([]string, 0, 7)
		for _, c := range domain.FoundingCities() {
			cities = append(cities, c.ID)
		}
		return w.collabStep(domain.LaunchCollaboratory{Slug: domain.PilotSlug, Name: "Cities Sustainability Collaboratory", Phase: "2018-2020", FoundingCities: cities})
	}
	r := w.rng.IntN(1000)
	switch {
	case r < 3 && w.memberCount() < 25*len(w.collab.Cities) || w.memberCount() < 3*len(w.collab.Cities):
		city := w.collab.Cities[w.rng.IntN(len(w.collab.Cities))].ID
		exp := domain.Expertises()[w.rng.IntN(len(domain.Expertises()))]
		return w.collabStep(domain.RegisterMember{MemberID: w.uuid(), City: city, Name: w.words(2, true), Expertise: exp})
	case r < 4 && w.memberCount() > 3*len(w.collab.Cities):
		city := w.collab.Cities[w.rng.IntN(len(w.collab.Cities))].ID
		ms := w.members[city]
		if len(ms) < 2 {
			break
		}
		return w.collabStep(domain.RemoveMember{MemberID: ms[w.rng.IntN(len(ms))], Reason: "Left the delegation: " + w.words(4, false)})
	case r < 5 && w.joined < len(extraCities()):
		c := extraCities()[w.joined]
		w.joined++
		return w.collabStep(domain.JoinCollaboratory{City: c})
	}
	if len(w.active) < workloadPool && (len(w.active) == 0 || w.rng.IntN(10) == 0) {
		return w.propose()
	}
	id := w.active[w.rng.IntN(len(w.active))]
	return w.advance(id)
}

// extraCities join the pilot after its launch, one after the other.
func extraCities() []domain.City {
	return []domain.City{
		{ID: "montreal", Name: "Montréal", Country: "CA"},
		{ID: "barcelona", Name: "Barcelona", Country: "ES"},
		{ID: "seoul", Name: "Seoul", Country: "KR"},
	}
}

func (w *Workload) memberCount() int {
	n := 0
	for _, ms := range w.members {
		n += len(ms)
	}
	return n
}

func (w *Workload) coordinator() domain.Context {
	return domain.Context{Now: w.clock, Actor: "coordinator-1", Role: domain.RoleCoordinator, Cities: w.collab.HasCity}
}

func (w *Workload) memberOf(city string) domain.Context {
	ms := w.members[city]
	if len(ms) == 0 {
		return w.coordinator()
	}
	return domain.Context{Now: w.clock, Actor: ms[w.rng.IntN(len(ms))], Role: domain.RoleMember, City: city, Cities: w.collab.HasCity}
}

func (w *Workload) collabStep(c domain.CollaboratoryCommand) (Step, error) {
	stream := domain.CollaboratoryStream(domain.PilotSlug)
	ctx := w.coordinator()
	events, err := domain.DecideCollaboratory(w.collab, c, ctx)
	if err != nil {
		return Step{}, fmt.Errorf("workload: %s: %w", c.CommandName(), err)
	}
	for _, e := range events {
		w.collab = domain.EvolveCollaboratory(w.collab, e)
		switch e := e.(type) {
		case domain.MemberRegistered:
			w.members[e.City] = append(w.members[e.City], e.MemberID)
		case domain.MemberRemoved:
			w.members[e.City] = slices.DeleteFunc(w.members[e.City], func(id string) bool { return id == e.MemberID })
		}
	}
	return w.step(stream, Step{Collaboratory: c, Context: ctx, Events: events}), nil
}

func (w *Workload) step(stream string, s Step) Step {
	n := w.revs[stream]
	s.Stream, s.New = stream, n == 0
	if !s.New {
		s.Expected = n - 1
	}
	w.revs[stream] = n + uint64(len(s.Events))
	return s
}

func (w *Workload) itemStep(id string, c domain.ItemCommand, ctx domain.Context) (Step, error) {
	it := w.items[id]
	var state domain.RoadmapItem
	if it != nil {
		state = it.state
	}
	events, err := domain.DecideItem(state, c, ctx)
	if err != nil {
		return Step{}, fmt.Errorf("workload: %s on item %s: %w", c.CommandName(), id, err)
	}
	if it == nil {
		it = &workItem{updates: 3 + w.rng.IntN(14)}
		w.items[id] = it
		w.active = append(w.active, id)
	}
	for _, e := range events {
		it.state = domain.EvolveItem(it.state, e)
	}
	if it.state.Stage.Terminal() {
		w.active = slices.DeleteFunc(w.active, func(a string) bool { return a == id })
		delete(w.items, id)
	}
	return w.step(domain.ItemStream(id), Step{Item: c, Context: ctx, Events: events}), nil
}

func (w *Workload) propose() (Step, error) {
	city := w.collab.Cities[w.rng.IntN(len(w.collab.Cities))].ID
	id := w.uuid()
	return w.itemStep(id, domain.ProposeRoadmapItem{ItemID: id, City: city, ItemFields: w.fields()}, w.memberOf(city))
}

func (w *Workload) fields() domain.ItemFields {
	start := domain.DateOf(w.clock.AddDate(0, 0, w.rng.IntN(120)))
	due := domain.DateOf(start.Time().AddDate(0, 6+w.rng.IntN(30), w.rng.IntN(28)))
	targets := domain.SDGTargets()
	w.rng.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	f := domain.ItemFields{
		Title:       w.words(5, true),
		Description: w.words(30+w.rng.IntN(40), false),
		Theme:       domain.Themes()[w.rng.IntN(4)],
		SDGTargets:  targets[:1+w.rng.IntN(3)],
		StartDate:   start,
		DueDate:     due,
	}
	span := due.Time().Sub(start.Time())
	for i := range 2 + w.rng.IntN(4) {
		at := start.Time().Add(time.Duration(w.rng.Int64N(int64(span) + 1)))
		f.Milestones = append(f.Milestones, domain.Milestone{ID: fmt.Sprintf("m%d", i+1), Title: w.words(4, false), Due: domain.DateOf(at)})
	}
	if w.rng.IntN(2) == 0 {
		base := float64(100 + w.rng.IntN(10000))
		in := &domain.Indicator{Name: w.words(3, false), Unit: []string{"t CO2", "m2", "%", "km", "households"}[w.rng.IntN(5)],
			Direction: domain.DirectionIncrease, Baseline: domain.YearValue{Value: base, Year: start.Year - w.rng.IntN(3)},
			Target: domain.YearValue{Value: base * 2, Year: due.Year + w.rng.IntN(2)}}
		if w.rng.IntN(2) == 0 {
			in.Direction, in.Target.Value = domain.DirectionDecrease, base/2
		}
		f.Indicator = in
	}
	if w.rng.IntN(10) < 7 {
		f.Budget = &domain.Budget{Amount: float64(10000 * (1 + w.rng.IntN(5000))),
			Currency: []string{"EUR", "USD", "ARS", "ZAR", "XOF", "CNY", "MXN"}[w.rng.IntN(7)], FundingSource: w.words(3, false)}
	}
	return f
}

func (w *Workload) advance(id string) (Step, error) {
	it := w.items[id]
	s := it.state
	member := w.memberOf(s.City)
	r := w.rng.IntN(100)
	var c domain.ItemCommand
	ctx := member
	switch s.Stage {
	case domain.StageProposed:
		ctx = w.coordinator()
		switch {
		case r < 75:
			c = domain.ApproveRoadmapItem{}
		case r < 87:
			c = domain.RequestChanges{Comment: "Please clarify: " + w.words(8, false)}
		case r < 91:
			c = domain.RejectRoadmapItem{Reason: "Out of scope: " + w.words(6, false)}
		case r < 96:
			c, ctx = domain.ReviseRoadmapItem{ItemFields: w.fields()}, member
		default:
			c, ctx = domain.CancelRoadmapItem{Reason: "Withdrawn: " + w.words(5, false)}, member
		}
	case domain.StageChangesRequested:
		if r < 92 {
			c = domain.ReviseRoadmapItem{ItemFields: w.fields()}
		} else {
			c = domain.CancelRoadmapItem{Reason: "Withdrawn: " + w.words(5, false)}
		}
	case domain.StageApproved:
		if r < 96 {
			c = domain.StartImplementation{}
		} else {
			c = domain.CancelRoadmapItem{Reason: "No funding: " + w.words(5, false)}
		}
	case domain.StageInProgress:
		switch {
		case len(s.Updates) >= it.updates:
			c = domain.CompleteRoadmapItem{}
		case r < 3:
			c = domain.PutOnHold{Reason: "Waiting for " + w.words(4, false)}
		case r < 4:
			c = domain.CancelRoadmapItem{Reason: "Superseded: " + w.words(5, false)}
		case r < 8 && w.measured(s) != "":
			c = w.correction(s, "Recount: ")
		default:
			c = w.update(it)
		}
	case domain.StageOnHold:
		switch {
		case r < 85:
			c = domain.Resume{}
		case r < 92 && w.measured(s) != "":
			c = w.correction(s, "Audit: ")
		default:
			c = domain.CancelRoadmapItem{Reason: "Abandoned: " + w.words(5, false)}
		}
	}
	return w.itemStep(id, c, ctx)
}

// correction corrects the value of a random measured update of s.
func (w *Workload) correction(s domain.RoadmapItem, why string) domain.CorrectMeasurement {
	id := w.measured(s)
	u, _ := s.Update(id)
	v := float64(w.rng.IntN(20000)) + 0.5
	if v == u.Value {
		v++
	}
	return domain.CorrectMeasurement{UpdateID: id, Value: v, Reason: why + w.words(5, false)}
}

// measured returns the id of a random measured update of s, or "".
func (w *Workload) measured(s domain.RoadmapItem) string {
	var ids []string
	for _, u := range s.Updates {
		if u.Measured {
			ids = append(ids, u.ID)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	return ids[w.rng.IntN(len(ids))]
}

func (w *Workload) update(it *workItem) domain.SubmitRoadmapUpdate {
	s := it.state
	u := domain.SubmitRoadmapUpdate{UpdateID: w.uuid(), Narrative: w.words(15+w.rng.IntN(25), false), MilestonesReached: []string{}, Evidence: []domain.Evidence{}}
	done := float64(len(s.Updates)+1) / float64(it.updates)
	if w.rng.IntN(5) > 0 {
		p := min(100, max(0, int(done*100)+w.rng.IntN(21)-14))
		u.ProgressPercent = &p
	}
	if in := s.Indicator; in != nil && w.rng.IntN(3) > 0 {
		v := in.Baseline.Value + (in.Target.Value-in.Baseline.Value)*(done+w.rng.Float64()*0.3-0.2)
		u.Measurement = &domain.Measurement{Value: math.Round(v*10) / 10, Period: w.clock.Format("2006-01")}
	}
	for _, m := range s.Milestones {
		if !s.MilestoneReached(m.ID) && w.rng.IntN(4) == 0 {
			u.MilestonesReached = append(u.MilestonesReached, m.ID)
			break
		}
	}
	if w.rng.IntN(2) == 0 {
		var sum [32]byte
		binary.LittleEndian.PutUint64(sum[:], w.rng.Uint64())
		binary.LittleEndian.PutUint64(sum[8:], w.rng.Uint64())
		u.Evidence = append(u.Evidence, domain.Evidence{URI: "https://docs.example.org/" + w.uuid() + ".pdf", SHA256: fmt.Sprintf("%x", sum)})
	}
	return u
}

// uuid returns a version-4 UUID drawn from the workload's generator.
func (w *Workload) uuid() string {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[:8], w.rng.Uint64())
	binary.LittleEndian.PutUint64(u[8:], w.rng.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

const workloadWords = `city green roof transit bus lane bicycle water rain heat tree park housing
	school market budget energy solar waste recycling district neighbourhood culture museum library youth
	mobility air quality noise flood river coast street light public space dialogue council plan survey
	pilot network partner citizen data open finance fund grant climate resilience`

// words returns n words of the workload's vocabulary joined by spaces; title capitalises them.
func (w *Workload) words(n int, title bool) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		word := w.vocab[w.rng.IntN(len(w.vocab))]
		if title {
			word = strings.ToUpper(word[:1]) + word[1:]
		}
		b.WriteString(word)
	}
	return b.String()
}

// Encode turns a step into the events to append, stamped and chained the way the command engine
// does it (metadata with actor, role, city, command and correlation ids, schema version and the
// hash chain; event ids derived from the command id), so that a log written from a workload looks
// like one written through the engine. Encode every step, in the order Next returned them.
func (w *Workload) Encode(codec *domain.Codec, s Step) ([]eventstore.EventData, error) {
	rev := s.Expected + 1
	if s.New {
		rev = 0
	}
	prev := w.hashes[s.Stream]
	cmdID := uuid.MustParse(w.uuid())
	md := eventstore.Metadata{
		Actor: s.Context.Actor, Role: string(s.Context.Role), City: s.Context.City,
		CommandID: cmdID.String(), CorrelationID: cmdID.String(), CausationID: cmdID.String(),
	}
	out := make([]eventstore.EventData, len(s.Events))
	for i, e := range s.Events {
		typ, data, version, err := codec.Encode(e)
		if err != nil {
			return nil, fmt.Errorf("workload: encode %T: %w", e, err)
		}
		md.SchemaVersion, md.PrevHash, md.Hash = version, prev, ""
		hash, err := eventstore.HashEvent(s.Stream, rev, typ, data, md)
		if err != nil {
			return nil, fmt.Errorf("workload: %w", err)
		}
		md.Hash = hash
		meta, err := json.Marshal(md)
		if err != nil {
			return nil, fmt.Errorf("workload: encode metadata: %w", err)
		}
		out[i] = eventstore.EventData{ID: eventstore.EventID(cmdID, i, hash), Type: typ, Data: data, Metadata: meta}
		prev = hash
		rev++
	}
	w.hashes[s.Stream] = prev
	return out, nil
}

// WriteWorkload appends at least n events of the workload seeded with seed to store, through
// writers concurrent appenders (each owning a share of the streams, so every stream keeps its
// order; $all interleaves the streams). Each append carries one step's events at the exact
// expected revision. It returns the number of events appended.
func WriteWorkload(ctx context.Context, store eventstore.Store, codec *domain.Codec, n int, seed uint64, writers int) (int, error) {
	writers = max(writers, 1)
	w := NewWorkload(seed)
	type job struct {
		stream   string
		expected eventstore.ExpectedRevision
		events   []eventstore.EventData
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	queues := make([]chan job, writers)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan job, 256)
		wg.Go(func() {
			for j := range queues[i] {
				if ctx.Err() != nil {
					continue
				}
				if _, err := store.Append(ctx, j.stream, j.expected, j.events); err != nil {
					cancel(fmt.Errorf("write workload: %w", err))
				}
			}
		})
	}
	written := 0
	var err error
	for written < n && ctx.Err() == nil {
		var s Step
		if s, err = w.Next(); err != nil {
			break
		}
		var events []eventstore.EventData
		if events, err = w.Encode(codec, s); err != nil {
			break
		}
		expected := eventstore.NoStream()
		if !s.New {
			expected = eventstore.Exact(s.Expected)
		}
		h := fnv.New32a()
		h.Write([]byte(s.Stream))
		select {
		case queues[int(h.Sum32()%uint32(writers))] <- job{stream: s.Stream, expected: expected, events: events}:
			written += len(events)
		case <-ctx.Done():
		}
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if err != nil {
		return written, err
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return written, cause
	}
	return written, ctx.Err()
}
