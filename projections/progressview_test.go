package projections

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/memstore"
)

// TestProgressView follows a workload live, one command at a time, and checks each published
// progress view: it is at the runner's position, its rows equal a replay's, the cities the command
// did not change are shared with the previous view (not copied), and a view once published never
// changes.
func TestProgressView(t *testing.T) {
	store, step := workloadStore(t)
	var last eventstore.Position
	for range 200 {
		last = step()
	}
	r := NewRunner(store, domain.NewCodec(), Options{})
	startRunner(t, r)
	waitFor(t, r, last)
	now := june()
	prev := r.Models().ProgressView()
	prevRows := prev.Rows(now)
	shared := 0
	for range 40 {
		p := step()
		waitFor(t, r, p)
		v := r.Models().ProgressView()
		if v.Position() != p {
			t.Fatalf("after the command at %s: view at %s", p, v.Position())
		}
		if d := cmp.Diff(replayed(t, store).Progress(now), v.Rows(now)); d != "" {
			t.Fatalf("view at %s differs from a replay (-replay +view):\n%s", p, d)
		}
		if d := cmp.Diff(prevRows, prev.Rows(now)); d != "" {
			t.Fatalf("the view at %s changed after it was published (-then +now):\n%s", prev.Position(), d)
		}
		rows := v.Rows(now)
		for i := range min(len(prev.cities), len(v.cities)) {
			if v.cities[i] == prev.cities[i] {
				shared++
				if d := cmp.Diff(prevRows[i], rows[i]); d != "" {
					t.Fatalf("city %s: shared with the previous view but its row changed:\n%s", rows[i].City, d)
				}
			}
		}
		prev, prevRows = v, rows
	}
	// Each command changes one or two cities of the seven and more.
	if shared < 40*4 {
		t.Fatalf("40 views shared %d city copies with the view before: want unchanged cities shared", shared)
	}
}

// TestProgressQueriesTakeNoLock checks that progress queries answer while the runner holds the
// models' write lock (as it does while it applies a batch), from the view published before.
func TestProgressQueriesTakeNoLock(t *testing.T) {
	store, step := workloadStore(t)
	for range 300 {
		step()
	}
	m := replayed(t, store)
	now := june()
	want := m.Progress(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	done := make(chan []CityProgress, 1)
	go func() {
		rows := m.Progress(now)
		if _, ok := m.CityProgress(rows[0].City, now); !ok {
			rows = nil
		}
		done <- rows
	}()
	select {
	case got := <-done:
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("progress under the write lock differs (-before +under the lock):\n%s", d)
		}
	case <-time.After(time.Minute):
		t.Fatal("Progress did not answer while the write lock was held: it waits for the runner")
	}
}

// workloadStore returns an in-memory store and a function that runs the next step of a workload
// through the command engine into it, returning the step's position.
func workloadStore(t *testing.T) (eventstore.Store, func() eventstore.Position) {
	ctx := context.Background()
	var clk clock
	store := memstore.New(memstore.Options{Now: clk.now})
	eng := newEngines(t, store)
	w := NewWorkload(7)
	steps := 0
	return store, func() eventstore.Position {
		t.Helper()
		s, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		steps++
		res, err := eng.execute(ctx, s, uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "step-%d", steps)))
		if err != nil {
			t.Fatalf("step %d (%s): %v", steps, s.Stream, err)
		}
		return res.Position
	}
}

// TestProgressViewSeesEveryChange applies events one at a time to indexed models, publishing a view
// after each as the runner does, and compares each view with a fresh fold of the same events. The
// later events are recorded before the earlier ones (a clock set back), so that they change a city's
// counts, or make it join, without moving its lastUpdate.
func TestProgressViewSeesEveryChange(t *testing.T) {
	l := newLog(t)
	member := actor{"m-1", "member"}
	l.add(minute(0), coord(), domain.CollaboratoryLaunched{Collaboratory: "csc", Name: "CSC", FoundingCities: domain.FoundingCities()})
	l.add(minute(20), member, domain.RoadmapItemProposed{ItemID: itemA, City: "berlin", Title: "Green roofs", Description: "Roofs.",
		Theme: domain.ThemeEcology, SDGTargets: []string{"11.6"}, Budget: &domain.Budget{Amount: 10, Currency: "EUR", FundingSource: "City"},
		StartDate: day("2026-01-01"), DueDate: day("2026-12-31")})
	l.add(minute(20), member, domain.RoadmapItemProposed{ItemID: itemB, City: "lima", Title: "Parks", Description: "Parks.",
		Theme: domain.ThemeEcology, SDGTargets: []string{"11.7"}, StartDate: day("2026-01-01"), DueDate: day("2026-03-31")})
	head := len(l.events)
	l.add(minute(10), coord(), domain.RoadmapItemApproved{ItemID: itemA, City: "berlin"})
	l.add(minute(11), member, domain.ImplementationStarted{ItemID: itemA, City: "berlin"})
	l.add(minute(12), member, domain.RoadmapUpdateSubmitted{ItemID: itemA, City: "berlin", UpdateID: "u-1", ProgressPercent: ptr(40), Narrative: "On it."})
	l.add(minute(13), coord(), domain.CityJoined{Collaboratory: "csc", City: domain.City{ID: "lima", Name: "Lima", Country: "PE"}})
	s, err := foldEvents(l.events[:head])
	if err != nil {
		t.Fatal(err)
	}
	m := newModels(s)
	dec := newDecoder(domain.NewCodec())
	now := june()
	for i := head; i < len(l.events); i++ {
		f, err := dec.decode(l.events[i])
		if err != nil {
			t.Fatal(err)
		}
		s.apply(&f)
		m.publishProgress()
		want, err := foldEvents(l.events[:i+1])
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(newModels(want).Progress(now), m.Progress(now)); d != "" {
			t.Fatalf("after event %d (%s): view differs from a fold (-fold +view):\n%s", i, l.events[i].Type, d)
		}
	}
}
