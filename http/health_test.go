package http_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // the driver of the SQLite file the test edits behind the server

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
	if r.status != 405 || r.problem(t).Type != cschttp.ProblemTypePrefix+cschttp.ProblemMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
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

// TestReadsWhileNotReady: reads of the live read models answer a 503 problem with Retry-After while
// the models are catching up (here: their runner has not started), not empty data.
func TestReadsWhileNotReady(t *testing.T) {
	ts := startServer(t, "", serverOptions{holdRunner: true})
	for _, path := range []string{"/v1/progress", "/v1/progress/berlin", "/v1/matrix", "/v1/cities", "/v1/roadmap-items", "/v1/activity"} {
		r := ts.do(req{method: "GET", path: path, as: coordinator})
		if r.status != 503 || r.header.Get("Retry-After") == "" || r.problem(t).Type != cschttp.ProblemTypePrefix+cschttp.ProblemUnavailable {
			t.Errorf("%s before the catch-up: %d, Retry-After %q: %s", path, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	// An as-of view is built from the store, so it is answered before the catch-up, also when it waits
	// for a position: the log's, not the projections'.
	asOf := url.QueryEscape(time.Now().UTC().Add(time.Hour).Format(time.RFC3339Nano))
	ts.must(200, req{method: "GET", path: fmt.Sprintf("/v1/progress?asOf=%s&minPosition=%d", asOf, ts.head()), as: coordinator})
	ts.runProjections()
	ts.waitForReadModels()
	ts.must(200, req{method: "GET", path: "/v1/progress", as: coordinator})
}

// TestReadyzAfterProjectionsStopped: an event that does not decode, slipped into the SQLite file
// behind the running server, stops the projections at the next write; /readyz then answers a 503
// problem naming the reason, and reads of the read models 503 problems instead of stale data.
func TestReadyzAfterProjectionsStopped(t *testing.T) {
	ts := startServer(t, "", serverOptions{holdRunner: true})
	runCtx, stop := context.WithCancel(context.Background())
	ts.stopRunner, ts.runnerDone = stop, make(chan struct{})
	stopped := make(chan error, 1)
	go func() {
		defer close(ts.runnerDone)
		stopped <- ts.runner.Run(runCtx)
	}()
	ts.waitForReadModels()
	ts.must(200, req{method: "GET", path: "/readyz"})

	db, err := sql.Open("sqlite", filepath.Join(ts.dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := uuid.New()
	_, err = db.Exec(`INSERT INTO events (position, stream, revision, event_id, type, data, metadata, recorded)
		VALUES (?, ?, 0, ?, ?, '{"itemId": 42', '{}', ?)`, ts.head()+1, domain.ItemStream(id.String()), id.String(),
		domain.TypeRoadmapItemProposed, time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		t.Fatal(err)
	}
	ts.do(req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin")})
	if err := <-stopped; err == nil {
		t.Fatal("the projections did not stop on an event that does not decode")
	}

	r := ts.do(req{method: "GET", path: "/readyz"})
	if r.status != 503 || !strings.Contains(r.problem(t).Detail, "stopped") || !strings.Contains(r.problem(t).Detail, domain.TypeRoadmapItemProposed) {
		t.Errorf("readyz after the projections stopped: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/v1/progress", "/v1/progress/berlin", "/v1/matrix", "/v1/roadmap-items?minPosition=1"} {
		r := ts.do(req{method: "GET", path: path, as: coordinator})
		if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(r.problem(t).Detail, "stopped") {
			t.Errorf("%s after the projections stopped: %d %s", path, r.status, r.body)
		}
	}
}

// TestHead: every GET route answers HEAD with the status and headers of its GET, and no body.
func TestHead(t *testing.T) {
	ts := startServer(t, "")
	id, _ := ts.itemIn(domain.StageInProgress)
	n := 0
	for _, rt := range ts.server.Routes() {
		if rt.Method != http.MethodGet {
			continue
		}
		n++
		path := strings.NewReplacer("{id}", id, "{city}", "berlin", "{stream}", "collaboratory-csc").Replace(rt.Path)
		get := ts.do(req{method: "GET", path: path, as: coordinator, stream: rt.Name == "liveEvents"})
		head := ts.do(req{method: "HEAD", path: path, as: coordinator})
		if head.status != get.status || head.status == 405 || len(head.body) != 0 {
			t.Errorf("HEAD %s: %d with %d body bytes; GET: %d", path, head.status, len(head.body), get.status)
		}
		for _, h := range []string{"Content-Type", "ETag", "Cache-Control"} {
			if head.header.Get(h) != get.header.Get(h) {
				t.Errorf("HEAD %s: %s %q, GET: %q", path, h, head.header.Get(h), get.header.Get(h))
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d GET routes", n)
	}
}

// TestUncleanPaths: a path with empty, "." or ".." segments (also encoded) is the 404 problem of an
// unknown route, for every method: never a redirect to its clean form.
func TestUncleanPaths(t *testing.T) {
	ts := startServer(t, "")
	id, _ := ts.itemIn(domain.StageProposed)
	noRedirect := *ts.client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	before := ts.head()
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1/roadmap-items//approve"},
		{"POST", "/v1/roadmap-items/..%2F..%2Fetc/approve"},
		{"POST", "/v1/roadmap-items/" + id + "/./approve"},
		{"POST", "/v1/roadmap-items/x/../" + id + "/approve"},
		{"GET", "/v1//progress"},
		{"GET", "/v1/progress/./berlin"},
		{"DELETE", "/v1/members//"},
	} {
		hr, err := http.NewRequest(c.method, ts.url+c.path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("Authorization", "Bearer "+ts.token(coordinator))
		resp, err := noRedirect.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := response{status: resp.StatusCode, header: resp.Header, body: body}
		if r.status != 404 || r.header.Get("Location") != "" || r.problem(t).Type != cschttp.ProblemTypePrefix+cschttp.ProblemNotFound {
			t.Errorf("%s %s: %d, Location %q: %s", c.method, c.path, r.status, r.header.Get("Location"), r.body)
		}
	}
	if ts.head() != before {
		t.Errorf("unclean paths appended %d events", ts.head()-before)
	}
}
