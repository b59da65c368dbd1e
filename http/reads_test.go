package http_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/metropolis/csc/domain"
	cschttp "github.com/metropolis/csc/http"
	"github.com/metropolis/csc/projections"
)

// TestReads walks items through their stages over HTTP and reads every read model back: progress
// per city, one city's row, the item list with filters and paging, an item's detail (whose ETag
// serves If-Match), its history, the matrix, the roster, the activity feed, and a read as of a time
// before the last writes.
func TestReads(t *testing.T) {
	ts := startServer(t, "")
	inProgress, _ := ts.itemIn(domain.StageInProgress)
	ts.itemIn(domain.StageProposed)
	ts.itemIn(domain.StageCompleted)
	var madridItem cschttp.WriteResult
	ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: madrid, body: proposal("madrid")}).json(t, &madridItem)
	before := time.Now().UTC()
	time.Sleep(5 * time.Millisecond) // the next writes are recorded after `before` (wall clock, not asserted)
	ts.itemIn(domain.StageRejected)
	head := fmt.Sprint(ts.head())

	var progress cschttp.Progress
	ts.must(200, req{method: "GET", path: "/v1/progress?minPosition=" + head, as: madrid}).json(t, &progress)
	if progress.Position != head || len(progress.Cities) != len(domain.FoundingCities()) {
		t.Fatalf("progress at %s with %d cities: %+v", progress.Position, len(progress.Cities), progress)
	}
	var row projections.CityProgress
	for _, c := range progress.Cities {
		if c.City == "berlin" {
			row = c
		}
	}
	want := projections.StageCounts{Proposed: 1, InProgress: 1, Completed: 1, Rejected: 1}
	if row.Stages != want || row.Name != "Berlin" || !row.Founding || row.Milestones.Total != 4 || row.Milestones.Reached != 2 ||
		len(row.Budget) != 1 || row.Budget[0].Currency != "EUR" || row.Budget[0].Amount != 5000000 {
		t.Errorf("berlin's row: %+v", row)
	}
	var one cschttp.CityProgress
	ts.must(200, req{method: "GET", path: "/v1/progress/berlin", as: berlin}).json(t, &one)
	if one.Stages != want {
		t.Errorf("GET /v1/progress/berlin stages %+v, want %+v", one.Stages, want)
	}

	var list cschttp.ItemList
	ts.must(200, req{method: "GET", path: "/v1/roadmap-items?city=berlin", as: auditor}).json(t, &list)
	if len(list.Items) != 4 || list.Next != "" {
		t.Errorf("berlin's items: %d, next %q", len(list.Items), list.Next)
	}
	ts.must(200, req{method: "GET", path: "/v1/roadmap-items?stage=in_progress", as: auditor}).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != inProgress {
		t.Errorf("items in progress: %+v", list.Items)
	}
	ts.must(200, req{method: "GET", path: "/v1/roadmap-items?limit=2", as: auditor}).json(t, &list)
	if len(list.Items) != 2 || list.Next != list.Items[1].ID {
		t.Fatalf("first page: %d items, next %q", len(list.Items), list.Next)
	}
	seen := len(list.Items)
	for list.Next != "" {
		var page cschttp.ItemList
		ts.must(200, req{method: "GET", path: "/v1/roadmap-items?limit=2&after=" + list.Next, as: auditor}).json(t, &page)
		seen += len(page.Items)
		list = page
	}
	if seen != 5 {
		t.Errorf("paging saw %d items, want 5", seen)
	}
	for _, q := range []string{"stage=done", "theme=sport", "health=fine", "city=Berlin", "limit=0", "after=x"} {
		ts.must(400, req{method: "GET", path: "/v1/roadmap-items?" + q, as: auditor})
	}

	var item cschttp.ItemView
	r := ts.must(200, req{method: "GET", path: "/v1/roadmap-items/" + inProgress, as: coordinator})
	r.json(t, &item)
	if item.Stage != domain.StageInProgress || item.Indicator == nil || len(item.Indicator.Measurements) != 1 ||
		len(item.History) != 4 || r.header.Get("ETag") != fmt.Sprintf(`"%d"`, item.Revision) {
		t.Errorf("item detail: %+v, ETag %s", item, r.header.Get("ETag"))
	}
	held := ts.must(200, req{method: "POST", path: "/v1/roadmap-items/" + inProgress + "/hold", as: berlin,
		body: map[string]any{"reason": "r"}, header: map[string]string{"If-Match": r.header.Get("ETag")}})
	ts.must(404, req{method: "GET", path: "/v1/roadmap-items/" + domain.ItemStream("x"), as: coordinator})

	// The history must show the hold: read at its position (the read models apply it asynchronously).
	var hist cschttp.ItemHistory
	ts.must(200, req{method: "GET", path: "/v1/roadmap-items/" + inProgress + "/history?minPosition=" + held.header.Get(cschttp.PositionHeader),
		as: berlin}).json(t, &hist)
	if len(hist.History) != 5 || hist.History[4].Type != domain.TypeItemPutOnHold || hist.History[0].Actor != berlin.String() {
		t.Errorf("history: %+v", hist.History)
	}

	var mx cschttp.Matrix
	ts.must(200, req{method: "GET", path: "/v1/matrix", as: coordinator}).json(t, &mx)
	if len(mx.Rows) != len(domain.FoundingCities()) || len(mx.Themes) != 4 {
		t.Errorf("matrix: %+v", mx)
	}
	var roster cschttp.Roster
	ts.must(200, req{method: "GET", path: "/v1/cities", as: madrid}).json(t, &roster)
	if len(roster.Cities) != len(domain.FoundingCities()) || roster.Collaboratory != domain.PilotSlug {
		t.Errorf("roster: %+v", roster)
	}
	var feed cschttp.ActivityFeed
	ts.must(200, req{method: "GET", path: "/v1/activity?limit=3", as: madrid}).json(t, &feed)
	if len(feed.Activity) != 3 || feed.Activity[0].Type != domain.TypeItemPutOnHold || feed.Activity[0].Text == "" {
		t.Errorf("activity: %+v", feed.Activity)
	}

	// As of `before`: the rejected item (and everything after) did not exist yet.
	var then cschttp.Progress
	ts.must(200, req{method: "GET", path: "/v1/progress?asOf=" + url.QueryEscape(before.Format(time.RFC3339Nano)), as: auditor}).json(t, &then)
	for _, c := range then.Cities {
		if c.City == "berlin" {
			w := want
			w.Rejected = 0
			if c.Stages != w {
				t.Errorf("berlin as of %s: %+v, want %+v", before, c.Stages, w)
			}
		}
	}
	if then.AsOf != before.Format(time.RFC3339Nano) {
		t.Errorf("asOf %q, want %q", then.AsOf, before.Format(time.RFC3339Nano))
	}
	var old cschttp.ItemView
	ts.must(200, req{method: "GET", path: "/v1/roadmap-items/" + inProgress + "?asOf=" + url.QueryEscape(before.Format(time.RFC3339Nano)), as: auditor}).json(t, &old)
	if old.Stage != domain.StageInProgress || len(old.History) != 4 {
		t.Errorf("the item as of %s: stage %s, %d history entries", before, old.Stage, len(old.History))
	}
}
