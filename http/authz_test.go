package http_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/metropolis/csc/domain"
	cschttp "github.com/metropolis/csc/http"
)

// everyone is every kind of caller of the matrix: no token, a Berlin member (the city of every item
// in the matrix), a Madrid member (another city), and the other roles.
var everyone = []who{nobody, berlin, madrid, coordinator, auditor, admin}

// authzRow is one route of the authorisation matrix: how to make a valid request on fresh state, the
// status it gets when allowed, and who is allowed. Everyone else gets 403, and a caller without a token
// gets 401, except on public routes.
type authzRow struct {
	request func(ts *testServer) req
	ok      int
	allowed []who // nil: public (no token needed)
}

var (
	readers     = []who{berlin, madrid, coordinator, auditor, admin}
	logReaders  = []who{coordinator, auditor, admin}
	memberWrite = []who{berlin, coordinator, admin} // items of Berlin: a Madrid member is refused
	coordWrite  = []who{coordinator, admin}
)

// cityCounter makes unique city slugs for the join rows.
var cityCounter atomic.Int64

func authzMatrix() map[string]authzRow {
	item := func(stage domain.Stage, action string, body func(updateID string) any) func(ts *testServer) req {
		return func(ts *testServer) req {
			id, upd := ts.itemIn(stage)
			var b any
			if body != nil {
				b = body(upd)
			}
			return req{method: "POST", path: "/v1/roadmap-items/" + id + "/" + action, body: b}
		}
	}
	fixed := func(method, path string) func(*testServer) req {
		return func(*testServer) req { return req{method: method, path: path} }
	}
	read := func(stage domain.Stage, suffix string) func(ts *testServer) req {
		return func(ts *testServer) req {
			id, _ := ts.itemIn(stage)
			return req{method: "GET", path: "/v1/roadmap-items/" + id + suffix + "?minPosition=" + fmt.Sprint(ts.head())}
		}
	}
	fields := func(string) any {
		p := proposal("berlin")
		delete(p, "city")
		p["title"] = "Green roofs and facades"
		return p
	}
	return map[string]authzRow{
		"GET /healthz":      {request: fixed("GET", "/healthz"), ok: 200},
		"GET /readyz":       {request: fixed("GET", "/readyz"), ok: 200},
		"GET /metrics":      {request: fixed("GET", "/metrics"), ok: 200},
		"GET /openapi.json": {request: fixed("GET", "/openapi.json"), ok: 200},

		"GET /v1/cities": {request: fixed("GET", "/v1/cities"), ok: 200, allowed: readers},
		"POST /v1/cities": {ok: 201, allowed: coordWrite, request: func(*testServer) req {
			slug := fmt.Sprintf("city-%d", cityCounter.Add(1))
			return req{method: "POST", path: "/v1/cities", body: map[string]any{"id": slug, "name": "Montréal", "country": "CA"}}
		}},
		"POST /v1/members": {ok: 201, allowed: coordWrite, request: func(*testServer) req {
			return req{method: "POST", path: "/v1/members", body: map[string]any{"city": "berlin", "name": "Ana", "expertise": "science"}}
		}},
		"DELETE /v1/members/{id}": {ok: 200, allowed: coordWrite, request: func(ts *testServer) req {
			var wr cschttp.WriteResult
			ts.must(201, req{method: "POST", path: "/v1/members", as: coordinator,
				body: map[string]any{"city": "berlin", "name": "Ana", "expertise": "science"}}).json(ts.t, &wr)
			return req{method: "DELETE", path: "/v1/members/" + wr.ID, body: map[string]any{"reason": "left"}}
		}},

		"POST /v1/roadmap-items": {ok: 201, allowed: memberWrite, request: func(*testServer) req {
			return req{method: "POST", path: "/v1/roadmap-items", body: proposal("berlin")}
		}},
		"GET /v1/roadmap-items":                {request: fixed("GET", "/v1/roadmap-items?city=berlin"), ok: 200, allowed: readers},
		"GET /v1/roadmap-items/{id}":           {request: read(domain.StageProposed, ""), ok: 200, allowed: readers},
		"GET /v1/roadmap-items/{id}/history":   {request: read(domain.StageApproved, "/history"), ok: 200, allowed: readers},
		"POST /v1/roadmap-items/{id}/revise":   {request: item(domain.StageProposed, "revise", fields), ok: 200, allowed: memberWrite},
		"POST /v1/roadmap-items/{id}/approve":  {request: item(domain.StageProposed, "approve", nil), ok: 200, allowed: coordWrite},
		"POST /v1/roadmap-items/{id}/reject":   {request: item(domain.StageProposed, "reject", reason), ok: 200, allowed: coordWrite},
		"POST /v1/roadmap-items/{id}/start":    {request: item(domain.StageApproved, "start", nil), ok: 200, allowed: memberWrite},
		"POST /v1/roadmap-items/{id}/hold":     {request: item(domain.StageInProgress, "hold", reason), ok: 200, allowed: memberWrite},
		"POST /v1/roadmap-items/{id}/resume":   {request: item(domain.StageOnHold, "resume", nil), ok: 200, allowed: memberWrite},
		"POST /v1/roadmap-items/{id}/complete": {request: item(domain.StageInProgress, "complete", nil), ok: 200, allowed: memberWrite},
		"POST /v1/roadmap-items/{id}/cancel":   {request: item(domain.StageApproved, "cancel", reason), ok: 200, allowed: memberWrite},
		"POST /v1/roadmap-items/{id}/request-changes": {request: item(domain.StageProposed, "request-changes",
			func(string) any { return map[string]any{"comment": "more detail"} }), ok: 200, allowed: coordWrite},
		"POST /v1/roadmap-items/{id}/updates": {request: item(domain.StageInProgress, "updates",
			func(string) any { u := update(); u["milestonesReached"] = []string{"m2"}; return u }), ok: 201, allowed: memberWrite},
		"POST /v1/roadmap-items/{id}/corrections": {request: item(domain.StageInProgress, "corrections",
			func(upd string) any { return map[string]any{"updateId": upd, "value": 5200, "reason": "recounted"} }), ok: 200, allowed: memberWrite},

		"GET /v1/progress":        {request: fixed("GET", "/v1/progress"), ok: 200, allowed: readers},
		"GET /v1/progress/{city}": {request: fixed("GET", "/v1/progress/berlin"), ok: 200, allowed: readers},
		"GET /v1/matrix":          {request: fixed("GET", "/v1/matrix"), ok: 200, allowed: readers},
		"GET /v1/activity":        {request: fixed("GET", "/v1/activity?limit=5"), ok: 200, allowed: readers},

		"GET /v1/events":           {request: fixed("GET", "/v1/events?limit=5"), ok: 200, allowed: logReaders},
		"GET /v1/streams/{stream}": {request: fixed("GET", "/v1/streams/collaboratory-csc"), ok: 200, allowed: logReaders},
		"GET /v1/events/live": {ok: 200, allowed: logReaders, request: func(*testServer) req {
			return req{method: "GET", path: "/v1/events/live", stream: true}
		}},
	}
}

func reason(string) any { return map[string]any{"reason": "because"} }

// TestAuthorizationMatrix calls every route registered in the router as every kind of caller, each on
// fresh state, and checks who is allowed (the route's success status), who is forbidden (403) and
// that a caller without a token is refused (401). A route without a row fails the test.
func TestAuthorizationMatrix(t *testing.T) {
	ts := startServer(t, "")
	matrix := authzMatrix()
	routes := ts.server.Routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		seen[key] = true
		row, ok := matrix[key]
		if !ok {
			t.Errorf("route %s (%s) has no row in the authorisation matrix", key, rt.Name)
			continue
		}
		for _, w := range everyone {
			t.Run(key+"/"+w.String(), func(t *testing.T) {
				ts := ts.with(t)
				want := http.StatusForbidden
				switch {
				case row.allowed == nil || slices.Contains(row.allowed, w):
					want = row.ok
				case w == nobody:
					want = http.StatusUnauthorized
				}
				rq := row.request(ts)
				rq.as = w
				before := ts.head()
				r := ts.do(rq)
				if r.status != want {
					t.Fatalf("%s %s as %v: status %d, want %d: %s", rq.method, rq.path, w, r.status, want, r.body)
				}
				if want >= 400 {
					p := r.problem(t)
					if p.Status != want {
						t.Errorf("problem status %d, want %d", p.Status, want)
					}
					if after := ts.head(); after != before {
						t.Errorf("a refused request appended %d events", after-before)
					}
				}
			})
		}
	}
	for key := range matrix {
		if !seen[key] {
			t.Errorf("the matrix has a row for %s, which is not a route", key)
		}
	}
}
