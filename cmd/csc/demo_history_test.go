package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	cschttp "github.com/metropolis/csc/http"
	"github.com/metropolis/csc/projections"
)

// TestDemoHistory: csc serve --demo writes a history. Every event is recorded as having happened at
// its decision's time (the "at" of its payload, the domain's Context.Now), in the past, in
// chronological order across the whole log; the read models give those times (last update, activity,
// item history); as of a day three months back the API shows fewer items, updates and milestones and
// no item completed yet, and csc replay --as-of shows the same progress from the store.
func TestDemoHistory(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC) // the server's clock (the store keeps its own)
	earlier := now.AddDate(0, -3, 0)
	dir := t.TempDir()
	env := map[string]string{"CSC_DATA": dir, "CSC_ADDR": "127.0.0.1:0"}
	m, _, _ := testMain(env)
	m.Now = func() time.Time { return now }
	url := serve(t, m, "--demo")
	coordinator := readTokens(t, dir).Coordinator
	head, err := m.app.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The log: effective times are the decisions' times, in order, before now.
	effective := map[string][]time.Time{} // stream -> effective time per revision
	var last time.Time
	events, before := 0, 0
	for ev, err := range m.app.store.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			t.Fatal(err)
		}
		var md eventstore.Metadata
		var payload struct {
			At time.Time `json:"at"`
		}
		if err := json.Unmarshal(ev.Metadata, &md); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(ev.Data, &payload); err != nil {
			t.Fatal(err)
		}
		at := eventstore.EffectiveTime(ev, md)
		switch {
		case md.Recorded == nil:
			t.Fatalf("%s@%d (%s) has no recorded time in its metadata", ev.Stream, ev.Revision, ev.Type)
		case !at.Equal(payload.At):
			t.Fatalf("%s@%d (%s) is recorded at %s, decided at %s", ev.Stream, ev.Revision, ev.Type, at, payload.At)
		case !at.Before(now):
			t.Fatalf("%s@%d (%s) is recorded at %s, not before now (%s)", ev.Stream, ev.Revision, ev.Type, at, now)
		case at.Before(last):
			t.Fatalf("%s@%d (%s) at %s comes after an event at %s", ev.Stream, ev.Revision, ev.Type, at, last)
		}
		if events == 0 && ev.Type != domain.TypeCollaboratoryLaunched {
			t.Fatalf("the log starts with %s, want the launch", ev.Type)
		}
		last = at
		effective[ev.Stream] = append(effective[ev.Stream], at)
		events++
		if !at.After(earlier) {
			before++
		}
	}
	if before == 0 || before >= events {
		t.Fatalf("%d of %d events are at or before %s: the test proves nothing", before, events, earlier)
	}

	// Progress now and as of three months back.
	var live, then cschttp.Progress
	call(t, "GET", url+"/v1/progress?minPosition="+head.String(), coordinator, nil, &live)
	call(t, "GET", url+"/v1/progress?asOf="+earlier.Format(time.RFC3339), coordinator, nil, &then)
	if len(live.Cities) != len(domain.FoundingCities()) || len(then.Cities) != len(live.Cities) {
		t.Fatalf("%d cities now and %d then, want %d both times", len(live.Cities), len(then.Cities), len(domain.FoundingCities()))
	}
	thenRows := map[string]projections.CityProgress{}
	for _, c := range then.Cities {
		thenRows[c.City] = c
	}
	for _, nowRow := range live.Cities {
		thenRow := thenRows[nowRow.City]
		items := func(c projections.CityProgress) int {
			s := c.Stages
			return s.Proposed + s.ChangesRequested + s.Approved + s.InProgress + s.OnHold + s.Completed + s.Rejected + s.Cancelled
		}
		if n, m := items(thenRow), items(nowRow); n == 0 || n >= m {
			t.Errorf("%s: %d items then, %d now; want fewer then, but some", nowRow.City, n, m)
		}
		if thenRow.Stages.Completed != 0 || nowRow.Stages.Completed == 0 {
			t.Errorf("%s: %d items completed then, %d now; want none then", nowRow.City, thenRow.Stages.Completed, nowRow.Stages.Completed)
		}
		if thenRow.Milestones.Reached >= nowRow.Milestones.Reached {
			t.Errorf("%s: %d milestones reached then, %d now; want fewer then", nowRow.City, thenRow.Milestones.Reached, nowRow.Milestones.Reached)
		}
		// Last updates are those of the demo's months, not of the moment it ran.
		if lu := thenRow.LastUpdate; lu.After(earlier) || lu.Before(earlier.AddDate(0, -1, 0)) {
			t.Errorf("%s: last update %s as of %s, want within the month before", nowRow.City, lu, earlier)
		}
		if lu := nowRow.LastUpdate; !lu.After(earlier) || lu.After(now.AddDate(0, 0, -2)) {
			t.Errorf("%s: last update %s now (%s), want after %s and days ago", nowRow.City, lu, now, earlier)
		}
	}

	// The activity feed: the demo's times, and as of three months back, the events up to then.
	var feed, feedThen cschttp.ActivityFeed
	call(t, "GET", url+"/v1/activity?limit=1000&minPosition="+head.String(), coordinator, nil, &feed)
	call(t, "GET", url+"/v1/activity?limit=1000&asOf="+earlier.Format(time.RFC3339), coordinator, nil, &feedThen)
	if len(feed.Activity) == 0 || !feed.Activity[0].At.Equal(last) {
		t.Fatalf("the latest activity is %+v, want an entry at %s", feed.Activity[:min(1, len(feed.Activity))], last)
	}
	if len(feedThen.Activity) != min(before, 1000) {
		t.Errorf("%d activity entries as of %s, want %d", len(feedThen.Activity), earlier, min(before, 1000))
	}
	for _, a := range feedThen.Activity {
		if a.At.After(earlier) {
			t.Fatalf("activity as of %s has an entry at %s: %+v", earlier, a.At, a)
		}
	}

	// An item's history: each entry at its event's effective time.
	var items cschttp.ItemList
	call(t, "GET", url+"/v1/roadmap-items?stage=completed&minPosition="+head.String(), coordinator, nil, &items)
	if len(items.Items) == 0 {
		t.Fatal("no completed demo item")
	}
	var hist cschttp.ItemHistory
	call(t, "GET", url+"/v1/roadmap-items/"+items.Items[0].ID+"/history", coordinator, nil, &hist)
	times := effective[domain.ItemStream(items.Items[0].ID)]
	if len(hist.History) != len(times) || len(times) < 5 {
		t.Fatalf("history of %d entries, the stream has %d events (want at least 5)", len(hist.History), len(times))
	}
	for _, h := range hist.History {
		if !h.At.Equal(times[h.Revision]) {
			t.Errorf("history revision %d at %s, its event is recorded at %s", h.Revision, h.At, times[h.Revision])
		}
	}

	// csc replay --as-of on the store agrees with the API.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	r, _, out := testMain(env)
	r.Now = func() time.Time { return now }
	if err := r.Run(ctx, []string{"replay", "--as-of", earlier.Format(time.RFC3339), "--format", "json", "--quiet"}); err != nil {
		t.Fatalf("replay: %v", err)
	}
	var replay Replay
	if err := json.NewDecoder(strings.NewReader(out.String())).Decode(&replay); err != nil {
		t.Fatalf("replay output: %v\n%s", err, out)
	}
	if replay.Events != uint64(before) || !replay.AsOf.Equal(earlier) {
		t.Errorf("replay as of %s: %d events, want %d", replay.AsOf, replay.Events, before)
	}
	if diff := cmp.Diff(then.Cities, replay.Progress); diff != "" {
		t.Errorf("replay --as-of %s and GET /v1/progress?asOf= differ (-api +replay):\n%s", earlier, diff)
	}
}
