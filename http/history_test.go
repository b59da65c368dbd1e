package http_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metropolis/csc/domain"
	cschttp "github.com/metropolis/csc/http"
	"github.com/metropolis/csc/projections"
)

// TestHistoryChanges revises an item's title over HTTP and reads the item's history back: the
// revision lists the title before and after (and nothing else it left alone), the proposal the
// title it was proposed with, and approval the stage before and after. The test client checks the
// answers against the OpenAPI document.
func TestHistoryChanges(t *testing.T) {
	ts := startServer(t, "")
	var wr cschttp.WriteResult
	ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin")}).json(t, &wr)
	id := wr.ID
	ts.must(200, req{method: "POST", path: "/v1/roadmap-items/" + id + "/request-changes", as: coordinator,
		body: map[string]any{"comment": "a bolder title"}})
	revised := proposal("berlin")
	delete(revised, "city")
	revised["title"] = "Green roofs on every school"
	delete(revised, "budget") // after: null
	ts.must(200, req{method: "POST", path: "/v1/roadmap-items/" + id + "/revise", as: berlin, body: revised})
	approved := ts.must(200, req{method: "POST", path: "/v1/roadmap-items/" + id + "/approve", as: coordinator})

	var hist cschttp.ItemHistory
	ts.must(200, req{method: "GET", path: "/v1/roadmap-items/" + id + "/history?minPosition=" + approved.header.Get(cschttp.PositionHeader),
		as: auditor}).json(t, &hist)
	if len(hist.History) != 4 {
		t.Fatalf("history of %d entries, want 4: %+v", len(hist.History), hist.History)
	}
	j := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		entry int
		typ   string
		want  []projections.FieldChange // of the fields named here
	}{
		{0, domain.TypeRoadmapItemProposed, []projections.FieldChange{{Field: "title", After: j(`"Green roofs"`)}}},
		{1, domain.TypeChangesRequested, []projections.FieldChange{{Field: "stage", Before: j(`"proposed"`), After: j(`"changes_requested"`)}}},
		{2, domain.TypeRoadmapItemRevised, []projections.FieldChange{
			{Field: "title", Before: j(`"Green roofs"`), After: j(`"Green roofs on every school"`)},
			{Field: "budget", Before: j(`{"amount":2500000,"currency":"EUR","fundingSource":"City budget"}`), After: j(`null`)},
			{Field: "stage", Before: j(`"changes_requested"`), After: j(`"proposed"`)},
		}},
		{3, domain.TypeRoadmapItemApproved, []projections.FieldChange{{Field: "stage", Before: j(`"proposed"`), After: j(`"approved"`)}}},
	}
	for _, tt := range tests {
		e := hist.History[tt.entry]
		if e.Type != tt.typ {
			t.Errorf("entry %d is %s, want %s", tt.entry, e.Type, tt.typ)
			continue
		}
		got := e.Changes
		if tt.typ == domain.TypeRoadmapItemProposed { // a proposal lists every field: compare the title
			got = nil
			for _, c := range e.Changes {
				if c.Field == "title" {
					got = append(got, c)
				}
			}
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("entry %d (%s) changes (-want +got):\n%s", tt.entry, tt.typ, d)
		}
	}
}
