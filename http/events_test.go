package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	cschttp "github.com/metropolis/csc/http"
)

func TestEventLog(t *testing.T) {
	ts := startServer(t, "")
	id, _ := ts.itemIn(domain.StageInProgress) // propose, approve, start, update: 4 events after the launch
	stream := domain.ItemStream(id)

	var all cschttp.EventPage
	ts.must(200, req{method: "GET", path: "/v1/events", as: auditor}).json(t, &all)
	if len(all.Events) != 5 || !all.End || all.Next != "5" {
		t.Fatalf("whole log: %d events, end %v, next %s; want 5, true, 5", len(all.Events), all.End, all.Next)
	}
	for i, ev := range all.Events {
		var md eventstore.Metadata
		if err := json.Unmarshal(ev.Metadata, &md); err != nil || md.Hash == "" {
			t.Errorf("event %d: metadata %s has no hash (%v)", i, ev.Metadata, err)
		}
		if ev.Position != fmt.Sprint(i+1) {
			t.Errorf("event %d at position %s", i, ev.Position)
		}
	}

	var page cschttp.EventPage
	ts.must(200, req{method: "GET", path: "/v1/events?after=1&limit=2", as: coordinator}).json(t, &page)
	if len(page.Events) != 2 || page.Events[0].Position != "2" || page.End || page.Next != "3" {
		t.Errorf("page after 1 limit 2: %+v", page)
	}
	ts.must(200, req{method: "GET", path: "/v1/events?after=" + page.Next + "&limit=2", as: coordinator}).json(t, &page)
	if len(page.Events) != 2 || page.Events[0].Position != "4" || page.Next != "5" {
		t.Errorf("next page: %+v", page)
	}

	ts.must(200, req{method: "GET", path: "/v1/events?type=" + domain.TypeRoadmapItemApproved, as: admin}).json(t, &page)
	if len(page.Events) != 1 || page.Events[0].Type != domain.TypeRoadmapItemApproved || page.Events[0].Stream != stream {
		t.Errorf("by type: %+v", page)
	}
	ts.must(200, req{method: "GET", path: "/v1/events?stream=" + stream, as: admin}).json(t, &page)
	if len(page.Events) != 4 {
		t.Errorf("by stream: %d events, want 4", len(page.Events))
	}

	var sp cschttp.StreamPage
	ts.must(200, req{method: "GET", path: "/v1/streams/" + stream + "?from=1&limit=2", as: auditor}).json(t, &sp)
	if sp.Stream != stream || len(sp.Events) != 2 || sp.Events[0].Revision != 1 || sp.Next != 3 || sp.End {
		t.Errorf("stream page: %+v", sp)
	}
	ts.must(200, req{method: "GET", path: "/v1/streams/" + stream + "?from=9", as: auditor}).json(t, &sp)
	if len(sp.Events) != 0 || !sp.End {
		t.Errorf("past the end of the stream: %+v", sp)
	}

	bad := []struct {
		path   string
		status int
	}{
		{"/v1/events?after=x", 400},
		{"/v1/events?limit=0", 400},
		{"/v1/events?limit=1001", 400},
		{"/v1/streams/" + stream + "?from=-1", 400},
		{"/v1/streams/roadmap-nothing", 404},
		{"/v1/events/live?after=x", 400},
	}
	for _, b := range bad {
		if r := ts.do(req{method: "GET", path: b.path, as: auditor}); r.status != b.status {
			t.Errorf("GET %s: %d, want %d: %s", b.path, r.status, b.status, r.body)
		}
	}
}

// sseEvent is one event of a Server-Sent Events stream.
type sseEvent struct {
	id, event, data string
}

// sseClient reads a Server-Sent Events stream.
type sseClient struct {
	resp       *http.Response
	rd         *bufio.Reader
	heartbeats int
}

func (ts *testServer) live(ctx context.Context, lastEventID string) *sseClient {
	ts.t.Helper()
	r, err := http.NewRequestWithContext(ctx, "GET", ts.url+"/v1/events/live", nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+ts.token(auditor))
	if lastEventID != "" {
		r.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := ts.client.Do(r)
	if err != nil {
		ts.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		ts.t.Fatalf("live: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ts.t.Cleanup(func() { resp.Body.Close() })
	return &sseClient{resp: resp, rd: bufio.NewReader(resp.Body)}
}

// next returns the next event, counting the heartbeat comments it skips.
func (c *sseClient) next(t *testing.T) sseEvent {
	t.Helper()
	var ev sseEvent
	for {
		line, err := c.rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read live events: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.id != "" || ev.data != "" {
				return ev
			}
		case line == ": heartbeat":
			c.heartbeats++
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// TestLiveEvents: the feed sends recorded events after Last-Event-ID, then new ones as they are
// written, with heartbeats in between; a reconnection with the last ID resumes without gaps or repeats;
// shutting the server down ends the stream (Close does not wait for its timeout).
func TestLiveEvents(t *testing.T) {
	ts := startServer(t, "", serverOptions{heartbeat: 10 * time.Millisecond})
	id, _ := ts.itemIn(domain.StageApproved) // events 2, 3
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	c := ts.live(ctx, "1")
	for _, want := range []string{"2", "3"} {
		ev := c.next(t)
		var rec cschttp.EventRecord
		if err := json.Unmarshal([]byte(ev.data), &rec); err != nil {
			t.Fatal(err)
		}
		if ev.id != want || rec.Position != want || ev.event != rec.Type || rec.Stream != domain.ItemStream(id) {
			t.Errorf("event %+v, want id %s of %s", ev, want, domain.ItemStream(id))
		}
	}
	ts.must(200, req{method: "POST", path: "/v1/roadmap-items/" + id + "/start", as: berlin})
	if ev := c.next(t); ev.id != "4" || ev.event != domain.TypeImplementationStarted {
		t.Errorf("live event %+v, want 4 %s", ev, domain.TypeImplementationStarted)
	}
	// Heartbeats come while nothing is written.
	for c.heartbeats < 2 {
		line, err := c.rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == ": heartbeat\n" {
			c.heartbeats++
		}
	}
	c.resp.Body.Close()

	ts.must(200, req{method: "POST", path: "/v1/roadmap-items/" + id + "/cancel", as: berlin, body: map[string]any{"reason": "r"}})
	resumed := ts.live(ctx, "4")
	if ev := resumed.next(t); ev.id != "5" || ev.event != domain.TypeRoadmapItemCancelled {
		t.Errorf("resumed with event %+v, want 5 %s", ev, domain.TypeRoadmapItemCancelled)
	}
	// Without Last-Event-ID the feed starts at the end: the first event is the next write.
	fresh := ts.live(ctx, "")
	ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin")})
	if ev := fresh.next(t); ev.id != "6" {
		t.Errorf("a fresh feed started with %+v, want event 6", ev)
	}

	closeCtx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	if err := ts.server.Close(closeCtx); err != nil {
		t.Errorf("close with live clients: %v", err)
	}
}

// TestLiveResumePastHead: a resume point the log has not reached is a 400 problem naming the header
// (or the parameter), not a stream that silently skips the next events; the head itself is a
// resume point.
func TestLiveResumePastHead(t *testing.T) {
	ts := startServer(t, "")
	head := ts.head()
	for _, c := range []struct {
		path, header, field string
	}{
		{"/v1/events/live", fmt.Sprint(head + 1), "Last-Event-ID"},
		{"/v1/events/live", "99999", "Last-Event-ID"},
		{"/v1/events/live?after=99999", "", "after"},
		{"/v1/events/live", "x", "Last-Event-ID"},
	} {
		r := ts.do(req{method: "GET", path: c.path, as: auditor, header: map[string]string{"Last-Event-ID": c.header}, stream: true})
		if r.status != 400 {
			t.Errorf("%s with Last-Event-ID %q: %d, want 400", c.path, c.header, r.status)
			continue
		}
		p := r.problem(t)
		if len(p.Errors) != 1 || p.Errors[0].Field != c.field || !strings.Contains(p.Detail, c.field) {
			t.Errorf("%s with Last-Event-ID %q: %+v, want a problem naming %s", c.path, c.header, p, c.field)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feed := ts.live(ctx, fmt.Sprint(head))
	ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin")})
	if ev := feed.next(t); ev.id != fmt.Sprint(head+1) {
		t.Errorf("resumed at the head: first event %s, want %d", ev.id, head+1)
	}
}

// TestRawLogReadParams: the raw-log reads take asOf and minPosition like every read: malformed values
// are 400 problems naming the parameter; minPosition waits (bounded) for the log's head, 504 after;
// asOf answers only the events of the as-of prefix.
func TestRawLogReadParams(t *testing.T) {
	ts := startServer(t, "", serverOptions{readWait: 50 * time.Millisecond})
	for _, path := range []string{"/v1/events", "/v1/streams/collaboratory-csc"} {
		for _, c := range []struct{ query, field string }{{"asOf=bad", "asOf"}, {"minPosition=zzz", "minPosition"}, {"asOf=2026-01-01&minPosition=1", "asOf"}} {
			r := ts.do(req{method: "GET", path: path + "?" + c.query, as: auditor})
			if r.status != 400 || len(r.problem(t).Errors) != 1 || r.problem(t).Errors[0].Field != c.field {
				t.Errorf("%s?%s: %d %s, want a 400 naming %s", path, c.query, r.status, r.body, c.field)
			}
		}
		r := ts.do(req{method: "GET", path: path + "?minPosition=99999", as: auditor})
		if r.status != 504 || r.problem(t).Type != cschttp.ProblemTypePrefix+cschttp.ProblemTimeout {
			t.Errorf("%s with an unreachable minPosition: %d %s", path, r.status, r.body)
		}
	}

	var page cschttp.EventPage
	ts.must(200, req{method: "GET", path: "/v1/events?minPosition=" + fmt.Sprint(ts.head()), as: auditor}).json(t, &page)
	launch := page.Events[len(page.Events)-1]
	time.Sleep(2 * time.Millisecond) // the proposal's recorded time is after the launch's
	var wr cschttp.WriteResult
	ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin")}).json(t, &wr)
	stream := domain.ItemStream(wr.ID)
	asOf := url.QueryEscape(launch.Recorded.Format(time.RFC3339Nano))

	ts.must(200, req{method: "GET", path: "/v1/events?asOf=" + asOf, as: auditor}).json(t, &page)
	if !page.End || len(page.Events) == 0 || page.Events[len(page.Events)-1].Position != launch.Position {
		t.Errorf("events as of the launch: %+v, want up to position %s and the end", page, launch.Position)
	}
	var sp cschttp.StreamPage
	ts.must(200, req{method: "GET", path: "/v1/streams/" + stream + "?asOf=" + asOf, as: auditor}).json(t, &sp)
	if len(sp.Events) != 0 || !sp.End {
		t.Errorf("the item's stream as of before its proposal: %+v, want no events", sp)
	}
	ts.must(200, req{method: "GET", path: "/v1/streams/" + stream + "?asOf=2100-01-01T00:00:00Z", as: auditor}).json(t, &sp)
	if len(sp.Events) != 1 {
		t.Errorf("the item's stream as of 2100: %d events, want 1", len(sp.Events))
	}
	ts.must(200, req{method: "GET", path: "/v1/events?asOf=2100-01-01T00:00:00Z", as: auditor}).json(t, &page)
	if got := page.Events[len(page.Events)-1].Position; got != fmt.Sprint(ts.head()) {
		t.Errorf("events as of 2100 end at %s, want the head %d", got, ts.head())
	}
}
