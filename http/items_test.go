package http_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	cschttp "github.com/metropolis/csc/http"
)

// badInput is a request that must be refused with status and problem type code, appending nothing.
type badInput struct {
	name   string
	body   any // a string is sent as is
	header map[string]string
	status int
	code   string
	field  string // a field error expected in the problem's errors ("" : none checked)
}

// commonBadInput applies to every write route that takes a JSON body.
func commonBadInput() []badInput {
	return []badInput{
		{name: "malformed JSON", body: `{"title": `, status: 400, code: cschttp.ProblemBadRequest},
		{name: "not an object", body: `[1, 2]`, status: 400, code: cschttp.ProblemBadRequest},
		{name: "two values", body: `{} {}`, status: 400, code: cschttp.ProblemBadRequest},
		{name: "unknown field", body: `{"surprise": 1}`, status: 400, code: cschttp.ProblemBadRequest, field: "surprise"},
		{name: "wrong content type", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}, status: 415, code: cschttp.ProblemUnsupportedMedia},
		{name: "no content type", body: `{}`, header: map[string]string{"Content-Type": ""}, status: 415, code: cschttp.ProblemUnsupportedMedia},
		{name: "over 1 MiB", body: `{"reason": "` + strings.Repeat("x", cschttp.MaxBodyBytes) + `"}`, status: 413, code: cschttp.ProblemPayloadTooLarge},
		{name: "bad idempotency key", body: `{}`, header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, status: 400, code: cschttp.ProblemBadRequest},
		{name: "bad If-Match", body: `{}`, header: map[string]string{"If-Match": "3"}, status: 400, code: cschttp.ProblemBadRequest},
	}
}

// TestBadInput sends bad input to every write route and checks the problem and that the log did not
// grow.
func TestBadInput(t *testing.T) {
	ts := startServer(t, "")
	withoutCity := func(edit func(map[string]any)) map[string]any {
		p := proposal("berlin")
		delete(p, "city")
		edit(p)
		return p
	}
	routes := []struct {
		name  string
		path  func(ts *testServer) string // on fresh state
		empty bool                        // the body may be empty
		bad   []badInput
	}{
		{name: "propose", path: func(*testServer) string { return "/v1/roadmap-items" }, bad: []badInput{
			{name: "no body", body: "", status: 400, code: cschttp.ProblemBadRequest},
			{name: "item id sent", body: mapWith(proposal("berlin"), "itemId", uuid.NewString()), status: 400, code: cschttp.ProblemBadRequest, field: "itemId"},
			{name: "missing title", body: mapWith(proposal("berlin"), "title", ""), status: 422, code: cschttp.ProblemValidation, field: "title"},
			{name: "unknown theme", body: mapWith(proposal("berlin"), "theme", "sport"), status: 422, code: cschttp.ProblemValidation, field: "theme"},
			{name: "unknown city", body: mapWith(proposal("berlin"), "city", "atlantis"), status: 403, code: cschttp.ProblemForbidden},
			{name: "bad date", body: mapWith(proposal("berlin"), "dueDate", "2028-13-01"), status: 400, code: cschttp.ProblemBadRequest},
			{name: "wrong type", body: mapWith(proposal("berlin"), "sdgTargets", "11.6"), status: 400, code: cschttp.ProblemBadRequest, field: "sdgTargets"},
			{name: "due before start", body: mapWith(proposal("berlin"), "dueDate", "2026-01-01"), status: 422, code: cschttp.ProblemValidation, field: "dueDate"},
		}},
		{name: "revise", path: itemPath(domain.StageProposed, "revise"), bad: []badInput{
			{name: "city sent", body: proposal("berlin"), status: 400, code: cschttp.ProblemBadRequest, field: "city"},
			{name: "no milestones title", body: withoutCity(func(p map[string]any) {
				p["milestones"] = []map[string]any{{"id": "m1", "title": "", "due": "2026-09-30"}}
			}), status: 422, code: cschttp.ProblemValidation, field: "milestones[0].title"},
		}},
		{name: "approve", path: itemPath(domain.StageProposed, "approve"), empty: true},
		{name: "request-changes", path: itemPath(domain.StageProposed, "request-changes"), bad: []badInput{
			{name: "no comment", body: `{}`, status: 422, code: cschttp.ProblemValidation, field: "comment"},
		}},
		{name: "reject", path: itemPath(domain.StageProposed, "reject"), bad: []badInput{
			{name: "blank reason", body: `{"reason": "  "}`, status: 422, code: cschttp.ProblemValidation, field: "reason"},
		}},
		{name: "start", path: itemPath(domain.StageApproved, "start"), empty: true},
		{name: "updates", path: itemPath(domain.StageInProgress, "updates"), bad: []badInput{
			{name: "progress over 100", body: mapWith(update(), "progressPercent", 101), status: 422, code: cschttp.ProblemValidation, field: "progressPercent"},
			{name: "unknown milestone", body: mapWith(update(), "milestonesReached", []string{"m9"}), status: 422, code: cschttp.ProblemValidation, field: "milestonesReached[0]"},
			{name: "update id sent", body: mapWith(update(), "updateId", uuid.NewString()), status: 400, code: cschttp.ProblemBadRequest, field: "updateId"},
			{name: "percent not integer", body: mapWith(update(), "progressPercent", 20.5), status: 400, code: cschttp.ProblemBadRequest, field: "progressPercent"},
		}},
		{name: "corrections", path: itemPath(domain.StageInProgress, "corrections"), bad: []badInput{
			{name: "unknown update", body: map[string]any{"updateId": uuid.NewString(), "value": 1, "reason": "x"}, status: 404, code: cschttp.ProblemNotFound},
			{name: "no reason", body: map[string]any{"updateId": uuid.NewString(), "value": 1}, status: 422, code: cschttp.ProblemValidation, field: "reason"},
		}},
		{name: "hold", path: itemPath(domain.StageInProgress, "hold"), bad: []badInput{
			{name: "no reason", body: `{}`, status: 422, code: cschttp.ProblemValidation, field: "reason"},
		}},
		{name: "resume", path: itemPath(domain.StageOnHold, "resume"), empty: true},
		{name: "complete", path: itemPath(domain.StageInProgress, "complete"), empty: true},
		{name: "cancel", path: itemPath(domain.StageApproved, "cancel"), bad: []badInput{
			{name: "no reason", body: `{}`, status: 422, code: cschttp.ProblemValidation, field: "reason"},
		}},
		{name: "lifecycle", path: itemPath(domain.StageCompleted, "approve"), empty: true, bad: []badInput{
			{name: "approve a completed item", body: nil, status: 409, code: cschttp.ProblemLifecycle},
		}},
		{name: "unknown item", path: func(*testServer) string { return "/v1/roadmap-items/" + uuid.NewString() + "/approve" }, empty: true, bad: []badInput{
			{name: "approve", body: nil, status: 404, code: cschttp.ProblemNotFound},
		}},
		{name: "not an item id", path: func(*testServer) string { return "/v1/roadmap-items/NOT-A-UUID/approve" }, empty: true, bad: []badInput{
			{name: "approve", body: nil, status: 404, code: cschttp.ProblemNotFound},
		}},
		{name: "join", path: func(*testServer) string { return "/v1/cities" }, bad: []badInput{
			{name: "bad country", body: map[string]any{"id": "montreal", "name": "Montréal", "country": "can"}, status: 422, code: cschttp.ProblemValidation, field: "city.country"},
			{name: "founding city again", body: map[string]any{"id": "berlin", "name": "Berlin", "country": "DE"}, status: 409, code: cschttp.ProblemAlreadyExists},
		}},
		{name: "register", path: func(*testServer) string { return "/v1/members" }, bad: []badInput{
			{name: "unknown expertise", body: map[string]any{"city": "berlin", "name": "Ana", "expertise": "magic"}, status: 422, code: cschttp.ProblemValidation, field: "expertise"},
			{name: "city not taking part", body: map[string]any{"city": "atlantis", "name": "Ana", "expertise": "mayor"}, status: 422, code: cschttp.ProblemValidation, field: "city"},
		}},
		{name: "remove", path: func(*testServer) string { return "/v1/members/" + uuid.NewString() }, bad: []badInput{
			{name: "unknown member", body: map[string]any{"reason": "left"}, status: 404, code: cschttp.ProblemNotFound},
		}},
	}
	for _, rt := range routes {
		cases := rt.bad
		if !rt.empty {
			cases = append(commonBadInput(), cases...)
		} else {
			cases = append(cases, badInput{name: "unknown field", body: `{"x": 1}`, status: 400, code: cschttp.ProblemBadRequest, field: "x"},
				badInput{name: "wrong content type", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}, status: 415, code: cschttp.ProblemUnsupportedMedia})
		}
		for _, bc := range cases {
			t.Run(rt.name+"/"+bc.name, func(t *testing.T) {
				ts := ts.with(t)
				path := rt.path(ts)
				method := http.MethodPost
				if strings.HasPrefix(path, "/v1/members/") {
					method = http.MethodDelete
				}
				before := ts.head()
				r := ts.do(req{method: method, path: path, as: coordinatorFor(rt.name), body: bc.body, header: bc.header})
				if r.status != bc.status {
					t.Fatalf("status %d, want %d: %s", r.status, bc.status, r.body)
				}
				p := r.problem(t)
				if p.Type != cschttp.ProblemTypePrefix+bc.code || p.Status != bc.status || p.Title == "" || p.Detail == "" {
					t.Errorf("problem %+v, want type %s and status %d with a title and a detail", p, bc.code, bc.status)
				}
				if bc.field != "" && !hasField(p, bc.field) {
					t.Errorf("problem errors %+v do not name field %s", p.Errors, bc.field)
				}
				if after := ts.head(); after != before {
					t.Errorf("bad input appended %d events", after-before)
				}
			})
		}
	}
}

// coordinatorFor is who sends the bad input of a route: the Berlin member where members may write
// (so that the member's checks run too), else the coordinator.
func coordinatorFor(route string) who {
	switch route {
	case "propose", "revise", "updates", "corrections", "hold", "cancel", "start", "resume", "complete":
		return berlin
	}
	return coordinator
}

func itemPath(stage domain.Stage, action string) func(ts *testServer) string {
	return func(ts *testServer) string {
		id, _ := ts.itemIn(stage)
		return "/v1/roadmap-items/" + id + "/" + action
	}
}

func mapWith(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

func hasField(p cschttp.Problem, field string) bool {
	for _, f := range p.Errors {
		if f.Field == field && f.Code != "" && f.Message != "" {
			return true
		}
	}
	return false
}

// TestIdempotency: the same key and body give the same answer and append nothing; the same key with
// another body is 422; a key that is not a UUID works alike; without a key every request is new.
func TestIdempotency(t *testing.T) {
	ts := startServer(t, "")
	cases := []struct {
		name string
		key  string
	}{
		{"uuid key", uuid.NewString()},
		{"free key", "order-4711"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := ts.with(t)
			hdr := map[string]string{"Idempotency-Key": c.key}
			first := ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin"), header: hdr})
			head := ts.head()
			again := ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin"), header: hdr})
			if string(again.body) != string(first.body) || again.header.Get("Location") != first.header.Get("Location") ||
				again.header.Get("ETag") != first.header.Get("ETag") || again.header.Get(cschttp.PositionHeader) != first.header.Get(cschttp.PositionHeader) {
				t.Errorf("retry answered %s %v, first %s %v", again.body, again.header, first.body, first.header)
			}
			if again.header.Get(cschttp.ReplayedHeader) != "true" || first.header.Get(cschttp.ReplayedHeader) != "" {
				t.Errorf("replay marker: first %q, retry %q", first.header.Get(cschttp.ReplayedHeader), again.header.Get(cschttp.ReplayedHeader))
			}
			if ts.head() != head {
				t.Errorf("the retry appended %d events", ts.head()-head)
			}
			other := ts.do(req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: mapWith(proposal("berlin"), "title", "Other"), header: hdr})
			if other.status != 422 || other.problem(t).Type != cschttp.ProblemTypePrefix+cschttp.ProblemIdempotencyMismatch {
				t.Errorf("same key, other body: %d %s", other.status, other.body)
			}
			// The key also makes an action idempotent.
			var wr cschttp.WriteResult
			first.json(t, &wr)
			path := "/v1/roadmap-items/" + wr.ID + "/approve"
			akey := map[string]string{"Idempotency-Key": c.key + "-approve"}
			a1 := ts.must(200, req{method: "POST", path: path, as: coordinator, header: akey})
			a2 := ts.must(200, req{method: "POST", path: path, as: coordinator, header: akey})
			if string(a1.body) != string(a2.body) {
				t.Errorf("approve retry answered %s, first %s", a2.body, a1.body)
			}
			if ts.head() != head+1 {
				t.Errorf("log grew by %d, want 1", ts.head()-head)
			}
		})
	}
	t.Run("no key", func(t *testing.T) {
		ts := ts.with(t)
		var a, b cschttp.WriteResult
		ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin")}).json(t, &a)
		ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin")}).json(t, &b)
		if a.ID == b.ID {
			t.Errorf("two proposals without a key made one item %s", a.ID)
		}
	})
}

// TestIfMatch: a write with the current revision succeeds and answers the next ETag; a stale one is
// 412 and appends nothing.
func TestIfMatch(t *testing.T) {
	ts := startServer(t, "")
	id, _ := ts.itemIn(domain.StageProposed)
	base := "/v1/roadmap-items/" + id
	r := ts.do(req{method: "POST", path: base + "/request-changes", as: coordinator, body: map[string]any{"comment": "x"},
		header: map[string]string{"If-Match": `"7"`}})
	if r.status != 412 || r.problem(t).Type != cschttp.ProblemTypePrefix+cschttp.ProblemStaleRevision {
		t.Fatalf("stale If-Match: %d %s", r.status, r.body)
	}
	ok := ts.must(200, req{method: "POST", path: base + "/request-changes", as: coordinator, body: map[string]any{"comment": "x"},
		header: map[string]string{"If-Match": `"0"`}})
	if ok.header.Get("ETag") != `"1"` {
		t.Errorf("ETag %q, want \"1\"", ok.header.Get("ETag"))
	}
	head := ts.head()
	p := proposal("berlin")
	delete(p, "city")
	stale := ts.do(req{method: "POST", path: base + "/revise", as: berlin, body: p, header: map[string]string{"If-Match": `"0"`}})
	if stale.status != 412 {
		t.Errorf("revise with a stale If-Match: %d %s", stale.status, stale.body)
	}
	if ts.head() != head {
		t.Errorf("a stale write appended %d events", ts.head()-head)
	}
	ts.must(200, req{method: "POST", path: base + "/revise", as: berlin, body: p, header: map[string]string{"If-Match": `"1"`, "Idempotency-Key": "rev"}})
	// If-Match: * is no condition.
	ts.must(200, req{method: "POST", path: base + "/approve", as: coordinator, header: map[string]string{"If-Match": "*"}})
}

// TestConcurrentIfMatch: 32 writers send a command with the same If-Match at once: exactly one wins,
// every other gets 412 (or 409 for a lifecycle refusal decided after the winner), and the log grows by one.
func TestConcurrentIfMatch(t *testing.T) {
	ts := startServer(t, "")
	id, _ := ts.itemIn(domain.StageInProgress)
	var wr cschttp.WriteResult
	ts.must(200, req{method: "POST", path: "/v1/roadmap-items/" + id + "/hold", as: berlin, body: map[string]any{"reason": "r"}}).json(t, &wr)
	head := ts.head()
	const writers = 32
	statuses := make([]int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := update()
			u["milestonesReached"] = []string{}
			u["narrative"] = fmt.Sprintf("writer %d", i)
			path := "/v1/roadmap-items/" + id + "/resume"
			var body any
			if i%2 == 1 {
				path = "/v1/roadmap-items/" + id + "/cancel"
				body = map[string]any{"reason": fmt.Sprintf("writer %d", i)}
			}
			r := ts.do(req{method: "POST", path: path, as: berlin, body: body, header: map[string]string{"If-Match": fmt.Sprintf(`"%d"`, wr.Revision)}})
			statuses[i] = r.status
		}()
	}
	wg.Wait()
	won := 0
	for i, s := range statuses {
		switch {
		case s/100 == 2:
			won++
		case s != http.StatusPreconditionFailed:
			t.Errorf("writer %d: status %d, want 2xx or 412", i, s)
		}
	}
	if won != 1 {
		t.Errorf("%d writers succeeded with the same If-Match, want exactly 1 (statuses %v)", won, statuses)
	}
	if ts.head() != head+1 {
		t.Errorf("the log grew by %d, want 1", ts.head()-head)
	}
}

// TestRestartKeepsEverything writes, stops the server, starts a new one on the same folder, and finds
// the same log, the same read models and the same idempotent answers.
func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	hdr := map[string]string{"Idempotency-Key": "restart-1"}
	first := ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin"), header: hdr})
	var wr cschttp.WriteResult
	first.json(t, &wr)
	ts.must(200, req{method: "POST", path: "/v1/roadmap-items/" + wr.ID + "/approve", as: coordinator})
	head := ts.head()
	events := ts.must(200, req{method: "GET", path: "/v1/events?limit=1000", as: auditor}).body
	progress := ts.must(200, req{method: "GET", path: "/v1/progress/berlin?minPosition=" + fmt.Sprint(head), as: coordinator})
	ts.close()

	ts2 := startServer(t, dir)
	if ts2.head() != head {
		t.Fatalf("after restart the log has %d events, want %d", ts2.head(), head)
	}
	if got := ts2.must(200, req{method: "GET", path: "/v1/events?limit=1000", as: auditor}).body; string(got) != string(events) {
		t.Errorf("the log changed across the restart")
	}
	var before, after cschttp.CityProgress
	progress.json(t, &before)
	ts2.must(200, req{method: "GET", path: "/v1/progress/berlin", as: coordinator}).json(t, &after)
	before.AsOf, after.AsOf = "", ""
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("progress before the restart %+v, after %+v", before, after)
	}
	again := ts2.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin"), header: hdr})
	if string(again.body) != string(first.body) || ts2.head() != head {
		t.Errorf("a retry after the restart answered %s (first %s) and the log has %d events (was %d)", again.body, first.body, ts2.head(), head)
	}
}

// TestProposalItemIDs checks the IDs of proposed items. Without an Idempotency-Key the server makes
// a UUIDv7 command ID and the item ID keeps its time: a UUIDv8 whose first 48 bits are the Unix
// milliseconds of the proposal, so that item streams sort in the order they were proposed. With a
// key, the item ID is the UUIDv5 of the key's command ID, as it always was, even for a UUIDv7 key.
func TestProposalItemIDs(t *testing.T) {
	ts := startServer(t, "")
	propose := func(header map[string]string) uuid.UUID {
		t.Helper()
		var res cschttp.WriteResult
		ts.must(http.StatusCreated, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin"), header: header}).json(t, &res)
		id, err := uuid.Parse(res.ID)
		if err != nil {
			t.Fatalf("item ID %q: %v", res.ID, err)
		}
		return id
	}
	var prev uuid.UUID
	for i := range 20 {
		before := time.Now().UnixMilli()
		id := propose(nil)
		after := time.Now().UnixMilli()
		if id.Version() != 8 || id.Variant() != uuid.RFC4122 {
			t.Fatalf("item ID %s: version %d, variant %v; want a UUIDv8", id, id.Version(), id.Variant())
		}
		if ms := unixMilli(id); ms < before || ms > after {
			t.Fatalf("item ID %s carries %d ms, want the time of its proposal (%d..%d)", id, ms, before, after)
		}
		if i > 0 && unixMilli(id) > unixMilli(prev) && domain.ItemStream(id.String()) < domain.ItemStream(prev.String()) {
			t.Fatalf("item %s, proposed after %s, sorts before it", id, prev)
		}
		prev = id
	}
	key := uuid.Must(uuid.NewV7())
	want := uuid.NewSHA1(key, []byte("roadmap-item"))
	if got := propose(map[string]string{cschttp.IdempotencyKeyHeader: key.String()}); got != want {
		t.Fatalf("with Idempotency-Key %s: item ID %s, want the UUIDv5 %s", key, got, want)
	}
}

// unixMilli is the 48-bit Unix time in milliseconds at the start of a UUIDv7 or of a UUIDv8 made so.
func unixMilli(id uuid.UUID) int64 {
	var ms int64
	for _, b := range id[:6] {
		ms = ms<<8 | int64(b)
	}
	return ms
}

// TestStaleIfMatchOnTheCollaboratory: a stale If-Match on a collaboratory write names the
// collaboratory, not an item.
func TestStaleIfMatchOnTheCollaboratory(t *testing.T) {
	ts := startServer(t, "")
	r := ts.do(req{method: "POST", path: "/v1/cities", as: coordinator, header: map[string]string{"If-Match": `"5"`},
		body: map[string]any{"id": "lagos", "name": "Lagos", "country": "NG"}})
	p := r.problem(t)
	if r.status != 412 || !strings.Contains(p.Detail, "the collaboratory is at revision") {
		t.Errorf("stale If-Match on POST /v1/cities: %d %q", r.status, p.Detail)
	}
	id, _ := ts.itemIn(domain.StageProposed)
	r = ts.do(req{method: "POST", path: "/v1/roadmap-items/" + id + "/approve", as: coordinator, header: map[string]string{"If-Match": `"7"`}})
	if p := r.problem(t); r.status != 412 || !strings.Contains(p.Detail, "the item is at revision 0") {
		t.Errorf("stale If-Match on an item: %d %q", r.status, p.Detail)
	}
}

// TestMalformedValuesNameTheField: a date that does not parse, and an unknown field at any depth,
// are 400 problems whose errors[] carry the field's full JSON path and a stable code.
func TestMalformedValuesNameTheField(t *testing.T) {
	ts := startServer(t, "")
	before := ts.head()
	with := func(edit func(map[string]any)) map[string]any {
		p := proposal("berlin")
		edit(p)
		return p
	}
	milestone := func(key string, value any) func(map[string]any) {
		return func(p map[string]any) { p["milestones"].([]map[string]any)[1][key] = value }
	}
	for _, c := range []struct {
		name        string
		body        any
		field, code string
	}{
		{"an impossible day", with(func(p map[string]any) { p["dueDate"] = "2027-02-30" }), "dueDate", "format"},
		{"a timestamp", with(func(p map[string]any) { p["startDate"] = "2027-12-31T00:00:00Z" }), "startDate", "format"},
		{"a number", with(func(p map[string]any) { p["dueDate"] = 20271231 }), "dueDate", "format"},
		{"a nested date", with(milestone("due", "2027-13-01")), "milestones[1].due", "format"},
		{"a nested unknown field", with(milestone("extra", 1)), "milestones[1].extra", "unknown_field"},
		{"an unknown field deeper", with(func(p map[string]any) { p["indicator"].(map[string]any)["target"].(map[string]any)["x"] = 1 }),
			"indicator.target.x", "unknown_field"},
		{"an unknown top-level field", with(func(p map[string]any) { p["extra"] = true }), "extra", "unknown_field"},
	} {
		r := ts.do(req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: c.body})
		p := r.problem(t)
		if r.status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != c.field || p.Errors[0].Code != c.code ||
			!strings.HasPrefix(p.Errors[0].Message, c.field+": ") {
			t.Errorf("%s: %d %+v, want 400 with errors [{%s %s}]", c.name, r.status, p, c.field, c.code)
		}
	}
	if ts.head() != before {
		t.Errorf("bad input appended %d events", ts.head()-before)
	}
}

// TestKeysAreExactAndOnce: encoding/json would take keys in any case and the last of duplicated keys;
// a request body must name each field exactly, once per object.
func TestKeysAreExactAndOnce(t *testing.T) {
	ts := startServer(t, "")
	before := ts.head()
	good, err := json.Marshal(proposal("berlin")) // keys sorted: a map
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) string {
		if !strings.Contains(string(good), old) {
			t.Fatalf("the proposal has no %s: %s", old, good)
		}
		return strings.Replace(string(good), old, new, 1)
	}
	for _, c := range []struct {
		name, body, field, code, message string
	}{
		{"a key in upper case", edit(`{`, `{"TITLE":"Green roofs",`), "TITLE", "unknown_field", "case-sensitive: title"},
		{"a key in another case, nested", edit(`"due":`, `"Due":`), "milestones[0].Due", "unknown_field", "case-sensitive: milestones[0].due"},
		{"a key given twice", edit(`{`, `{"title":"First",`), "title", "duplicate_field", "given twice"},
		{"a nested key given twice", edit(`"due":`, `"id":"m0","due":`), "milestones[0].id", "duplicate_field", "given twice"},
	} {
		r := ts.do(req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: c.body})
		p := r.problem(t)
		if r.status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != c.field || p.Errors[0].Code != c.code ||
			!strings.Contains(p.Errors[0].Message, c.message) {
			t.Errorf("%s: %d %+v, want 400 with errors [{%s %s ...%s...}]", c.name, r.status, p, c.field, c.code, c.message)
		}
	}
	if ts.head() != before {
		t.Errorf("bad input appended %d events", ts.head()-before)
	}
	if r := ts.do(req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: string(good)}); r.status != 201 {
		t.Fatalf("the proposal as sent: %d, want 201", r.status)
	}
}
