package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	cschttp "github.com/metropolis/csc/http"
)

// TestReadyz: 503 while the read models have not caught up (here: their runner has not started),
// 200 once they have.
func TestReadyz(t *testing.T) {
	ts := startServer(t, "", serverOptions{holdRunner: true})
	var h cschttp.Health
	ts.must(503, req{method: "GET", path: "/readyz"}).json(t, &h)
	if h.Status != "catching_up" {
		t.Errorf("readyz before the catch-up: %+v", h)
	}
	ts.must(200, req{method: "GET", path: "/healthz"})
	ts.runProjections()
	ts.waitForReadModels()
	ts.must(200, req{method: "GET", path: "/readyz"}).json(t, &h)
	if h.Status != "ok" || h.Position != fmt.Sprint(ts.head()) {
		t.Errorf("readyz after the catch-up: %+v, head %d", h, ts.head())
	}
}

// TestReadYourWrites: a read with the CSC-Position of a write sees it; a read with a position the
// log never reaches is 504 after the bounded wait.
func TestReadYourWrites(t *testing.T) {
	ts := startServer(t, "", serverOptions{readWait: 50 * time.Millisecond})
	w := ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin")})
	r := ts.must(200, req{method: "GET", path: "/v1/progress?minPosition=" + w.header.Get(cschttp.PositionHeader), as: coordinator})
	var p cschttp.Progress
	r.json(t, &p)
	read, err1 := eventstore.ParsePosition(p.Position)
	wrote, err2 := eventstore.ParsePosition(w.header.Get(cschttp.PositionHeader))
	if err1 != nil || err2 != nil || read.Before(wrote) {
		t.Errorf("read at position %s after a write at %s (%v, %v)", p.Position, w.header.Get(cschttp.PositionHeader), err1, err2)
	}
	late := ts.do(req{method: "GET", path: "/v1/progress?minPosition=999999", as: coordinator})
	if late.status != 504 || late.problem(t).Type != cschttp.ProblemTypePrefix+cschttp.ProblemTimeout {
		t.Errorf("unreachable minPosition: %d %s", late.status, late.body)
	}
	for _, q := range []string{"minPosition=x", "asOf=yesterday"} {
		if r := ts.do(req{method: "GET", path: "/v1/progress?" + q, as: coordinator}); r.status != 400 {
			t.Errorf("%s: %d, want 400", q, r.status)
		}
	}
}

// TestRouting: unknown routes are 404 problems, wrong methods 405 problems with Allow; request IDs go
// in and out.
func TestRouting(t *testing.T) {
	ts := startServer(t, "")
	r := ts.do(req{method: "GET", path: "/v2/nothing", as: coordinator})
	if r.status != 404 || r.problem(t).Type != cschttp.ProblemTypePrefix+cschttp.ProblemNotFound {
		t.Errorf("unknown route: %d %s", r.status, r.body)
	}
	r = ts.do(req{method: "PUT", path: "/v1/progress", as: coordinator})
	if r.status != 405 || r.problem(t).Type != cschttp.ProblemTypePrefix+cschttp.ProblemMethodNotAllowed || r.header.Get("Allow") != "GET" {
		t.Errorf("wrong method: %d %s, Allow %q", r.status, r.body, r.header.Get("Allow"))
	}
	r = ts.do(req{method: "GET", path: "/healthz", header: map[string]string{cschttp.RequestIDHeader: "trace-42"}})
	if r.header.Get(cschttp.RequestIDHeader) != "trace-42" {
		t.Errorf("request ID %q, want the client's trace-42", r.header.Get(cschttp.RequestIDHeader))
	}
	r = ts.do(req{method: "GET", path: "/healthz"})
	if _, err := uuid.Parse(r.header.Get(cschttp.RequestIDHeader)); err != nil {
		t.Errorf("made request ID %q: %v", r.header.Get(cschttp.RequestIDHeader), err)
	}
	p := ts.do(req{method: "GET", path: "/v1/progress/atlantis", as: coordinator}).problem(t)
	if p.Status != 404 || p.RequestID == "" || p.Instance != "/v1/progress/atlantis" {
		t.Errorf("unknown city: %+v", p)
	}
}

// TestMetrics: the HTTP metrics are labelled by route template, never by raw path; the engine's,
// the store's, the projections' and the process's metrics are exposed too.
func TestMetrics(t *testing.T) {
	ts := startServer(t, "")
	id, _ := ts.itemIn(domain.StageApproved)
	ts.do(req{method: "GET", path: "/v1/roadmap-items/" + id, as: coordinator})
	ts.do(req{method: "GET", path: "/no/such/route"})
	body := string(ts.must(200, req{method: "GET", path: "/metrics"}).body)
	for _, want := range []string{
		`csc_http_requests_total{code="201",method="POST",route="/v1/roadmap-items"} 1`,
		`csc_http_requests_total{code="200",method="POST",route="/v1/roadmap-items/{id}/approve"} 1`,
		`route="/v1/roadmap-items/{id}"`,
		`route="unmatched"`,
		`csc_http_request_duration_seconds_bucket{method="POST",route="/v1/roadmap-items",le=`,
		`csc_engine_commands_total{aggregate="roadmap_item",command="propose",outcome="ok"} 1`,
		`csc_engine_command_duration_seconds_bucket{aggregate="roadmap_item",command="approve",le=`,
		`csc_engine_events_appended_total{aggregate="roadmap_item",type="csc.roadmap.item_approved"} 1`,
		`csc_eventstore_sqlite_append_duration_seconds_bucket`,
		`csc_projection_position`,
		`csc_projection_lag_events`,
		`csc_projection_lag_seconds`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, id) {
		t.Error("a raw path (an item ID) is in the metrics")
	}
	if r := ts.do(req{method: "GET", path: "/metrics"}); r.status != http.StatusOK {
		t.Errorf("metrics: %d", r.status)
	}
}
