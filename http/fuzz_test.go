package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/sqlite"
	cschttp "github.com/metropolis/csc/http"
	"github.com/metropolis/csc/projections"
)

// FuzzWrite sends every write route of the API arbitrary bodies and headers, through the real handler
// (router, authentication, decoding, the engines) on a real SQLite file. Each fuzzing process builds
// one server (fuzzEnv) and sends it one request per input, in process, with
// Handler().ServeHTTP. The input chooses:
//
//	route    the write route (an index into fuzzRoutes)
//	who      the bearer token: fuzzPeople, or none, or a forged one
//	target   for the routes with an {id}: a roadmap item in a given stage (itemSlots) or a member
//	         (memberSlots), or, one past them, the id string of the input
//	header   bits 0-1 the Content-Type (application/json, with a charset, text/plain, none); bit 2 sends
//	         the Idempotency-Key twice
//	key      the Idempotency-Key ("" sends none)
//	ifMatch  the If-Match header ("" sends none)
//	id       the {id} of the path when target says so
//	body     the request body; "{{update}}" in it stands for the update ID of the target item (so that
//	         corrections can be valid)
//
// The properties: never a 5xx (a panic is answered with 500 by the recovery layer, so it fails too);
// an answer that is not a 2xx appends nothing (the log's head is unchanged) and, for a 4xx, is a
// problem+json whose status is the answer's; a 2xx is a WriteResult whose position is CSC-Position and
// whose revision is the ETag, appending when new and nothing when replayed; every event appended is a
// sound link of its stream's hash chain and decodes; and the reads that show what a write changed
// still answer 200 (checkReads).
//
// A target is in its stage when each input starts: after an input changed it (a 2xx that was not a
// replay), the slot gets a fresh item in that stage. So an input's outcome does not depend on the
// inputs before it, except through the roster and the recorded Idempotency-Keys.
func FuzzWrite(f *testing.F) {
	env := newFuzzEnv(f)
	for _, s := range writeSeeds() {
		if len(s.in.body) > maxFuzzSeed {
			continue // the body-size seeds: TestWriteSeeds runs them; the fuzzer would only slow down
		}
		f.Add(s.in.route, s.in.who, s.in.target, s.in.header, s.in.key, s.in.ifMatch, s.in.id, []byte(s.in.body))
	}
	f.Fuzz(func(t *testing.T, route, who, target, header uint8, key, ifMatch, id string, body []byte) {
		env.send(t, fuzzInput{route: route, who: who, target: target, header: header, key: key, ifMatch: ifMatch, id: id, body: string(body)})
	})
}

// maxFuzzSeed is the largest seed body FuzzWrite starts from.
const maxFuzzSeed = 64 << 10

// TestWriteSeeds runs every seed of FuzzWrite on a fresh server and checks the status each is meant to
// get: the valid seeds must succeed (so that the fuzzer starts from requests that reach the deciders
// and the store), and each near-miss must fail the way its name says.
func TestWriteSeeds(t *testing.T) {
	env := newFuzzEnv(t)
	for _, s := range writeSeeds() {
		t.Run(s.name, func(t *testing.T) {
			if got, answer := env.send(t, s.in); got != s.status {
				t.Errorf("status %d, want %d: %s", got, s.status, answer)
			}
		})
	}
}

// TestFuzzRoutesCoverWrites: fuzzRoutes names every route that is not a GET, with its method and path,
// so that a new write route is fuzzed as soon as it exists.
func TestFuzzRoutesCoverWrites(t *testing.T) {
	env := newFuzzEnv(t)
	var writes []cschttp.Route
	for _, r := range env.server.Routes() {
		if r.Method != http.MethodGet {
			writes = append(writes, r)
		}
	}
	var fuzzed []cschttp.Route
	for _, r := range fuzzRoutes() {
		fuzzed = append(fuzzed, cschttp.Route{Name: r.name, Method: r.method, Path: r.path})
	}
	less := func(a, b cschttp.Route) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(writes, less)
	slices.SortFunc(fuzzed, less)
	if !slices.Equal(writes, fuzzed) {
		t.Errorf("write routes %v\nfuzzed routes %v", writes, fuzzed)
	}
}

// ---- routes, people and targets ----

// targetKind is what a route's {id} names.
type targetKind int

const (
	noTarget targetKind = iota
	itemTarget
	memberTarget
)

type fuzzRoute struct {
	name   string // the operationId
	method string
	path   string // the mux template
	target targetKind
}

// fuzzRoutes are the write routes. Append only: the index is part of every seed.
func fuzzRoutes() []fuzzRoute {
	item := func(name, action string) fuzzRoute {
		return fuzzRoute{name, http.MethodPost, "/v1/roadmap-items/{id}/" + action, itemTarget}
	}
	return []fuzzRoute{
		{"proposeItem", http.MethodPost, "/v1/roadmap-items", noTarget},       // 0
		item("reviseItem", "revise"),                                          // 1
		item("approveItem", "approve"),                                        // 2
		item("requestChanges", "request-changes"),                             // 3
		item("rejectItem", "reject"),                                          // 4
		item("startItem", "start"),                                            // 5
		item("submitUpdate", "updates"),                                       // 6
		item("correctMeasurement", "corrections"),                             // 7
		item("holdItem", "hold"),                                              // 8
		item("resumeItem", "resume"),                                          // 9
		item("completeItem", "complete"),                                      // 10
		item("cancelItem", "cancel"),                                          // 11
		{"joinCity", http.MethodPost, "/v1/cities", noTarget},                 // 12
		{"registerMember", http.MethodPost, "/v1/members", noTarget},          // 13
		{"removeMember", http.MethodDelete, "/v1/members/{id}", memberTarget}, // 14
	}
}

// Who the requests act as, by the who byte (modulo len(fuzzPeople)+2: then no token, then a forged one).
func fuzzPeople() []cschttp.Principal {
	return []cschttp.Principal{
		{Subject: "member-berlin", Role: domain.RoleMember, City: "berlin"}, // 0
		{Subject: "coordinator", Role: domain.RoleCoordinator},              // 1
		{Subject: "admin", Role: domain.RoleAdmin},                          // 2
		{Subject: "auditor", Role: domain.RoleAuditor},                      // 3
		{Subject: "member-madrid", Role: domain.RoleMember, City: "madrid"}, // 4
	}
}

const (
	whoNobody = 5 // no Authorization header
	whoForged = 6 // a token signed with another key
)

// itemSlot is a roadmap item kept in a stage for the inputs.
type itemSlot struct {
	city  string
	stage domain.Stage
	// extreme gives the item an indicator from -1.7e308 to 1.7e308 over the years 1900..2100.
	extreme bool
}

// itemSlots are the item targets, by the target byte. Append only.
func itemSlots() []itemSlot {
	return []itemSlot{
		{"berlin", domain.StageProposed, false},         // 0
		{"berlin", domain.StageChangesRequested, false}, // 1
		{"berlin", domain.StageApproved, false},         // 2
		{"berlin", domain.StageInProgress, false},       // 3 (with an update)
		{"berlin", domain.StageOnHold, false},           // 4
		{"berlin", domain.StageCompleted, false},        // 5
		{"madrid", domain.StageInProgress, false},       // 6 (another city's item)
		{"berlin", domain.StageInProgress, true},        // 7 (measurements near the float64 limits)
	}
}

// Member targets, by the target byte (then one past them: the input's id).
const (
	memberActive  = 0 // a registered member of Berlin
	memberRemoved = 1 // a member of Berlin already removed
	memberSlots   = 2
)

// fuzzNow is the server's clock: decisions do not depend on when the fuzzer runs.
func fuzzNow() time.Time { return time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC) }

// fuzzSecret signs the tokens of the fuzzed server.
const fuzzSecret = "fuzz-secret-0123456789abcdef0123456789abcdef"

// ---- the server ----

// fuzzEnv is one server on a real SQLite file, with its item and member targets.
type fuzzEnv struct {
	store   *sqlite.Store
	items   *cschttp.ItemEngine
	server  *cschttp.Server
	handler http.Handler
	tokens  []string // by fuzzPeople index
	forged  string

	slots   []fuzzSlot // by itemSlots index
	members [memberSlots]string

	codec    *domain.Codec
	verifier *eventstore.Verifier // has seen the log up to verified
	verified eventstore.Position
}

// fuzzSlot is the current item of an itemSlot.
type fuzzSlot struct {
	id, updateID string
}

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	dir := tb.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := store.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	codec := domain.NewCodec()
	env := &fuzzEnv{store: store, codec: codec, verifier: eventstore.NewVerifier()}
	env.items, err = eventstore.NewEngine[domain.RoadmapItem, domain.Event](store, codec, domain.RoadmapItem{}, domain.EvolveItem,
		eventstore.EngineOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	collab, err := eventstore.NewEngine[domain.Collaboratory, domain.Event](store, codec, domain.Collaboratory{}, domain.EvolveCollaboratory,
		eventstore.EngineOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	stream := domain.CollaboratoryStream(domain.PilotSlug)
	slugs := []string{}
	for _, c := range domain.FoundingCities() {
		slugs = append(slugs, c.ID)
	}
	launch := domain.LaunchCollaboratory{Slug: domain.PilotSlug, Name: "Cities Sustainability Collaboratory", Phase: "2018-2020", FoundingCities: slugs}
	dctx := domain.Context{Now: fuzzNow(), Actor: "fuzz", Role: domain.RoleAdmin}
	if _, err := collab.Execute(context.Background(), stream, eventstore.Command{ID: uuid.New(), Name: launch.CommandName()},
		func(s domain.Collaboratory, _ bool) ([]domain.Event, error) {
			return domain.DecideCollaboratory(s, launch, dctx)
		}); err != nil {
		tb.Fatal(err)
	}

	runner := projections.NewRunner(store, codec, projections.Options{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := runner.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			tb.Errorf("projections stopped: %v", err)
		}
	}()
	tb.Cleanup(func() { stop(); <-done })

	tokens, err := cschttp.NewTokens([]byte(fuzzSecret), fuzzNow)
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range fuzzPeople() {
		tok, err := tokens.Issue(p, time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		env.tokens = append(env.tokens, tok)
	}
	other, err := cschttp.NewTokens([]byte(strings.Repeat("x", len(fuzzSecret))), fuzzNow)
	if err != nil {
		tb.Fatal(err)
	}
	if env.forged, err = other.Issue(fuzzPeople()[2], time.Hour); err != nil {
		tb.Fatal(err)
	}

	env.server, err = cschttp.NewServer(cschttp.Config{
		Store: store, Codec: codec, Items: env.items, Collaboratory: collab, Projections: runner, Tokens: tokens,
		Now: fuzzNow,
	})
	if err != nil {
		tb.Fatal(err)
	}
	env.handler = env.server.Handler()
	tb.Cleanup(func() { _ = env.server.Close(context.Background()) })

	env.slots = make([]fuzzSlot, len(itemSlots()))
	for i := range env.slots {
		env.refreshItem(tb, i)
	}
	env.refreshMember(tb, memberActive)
	env.refreshMember(tb, memberRemoved)
	env.verify(tb)
	return env
}

// verify checks the events appended since the last call: each must be a sound link of its stream's
// hash chain and decode with the codec.
func (e *fuzzEnv) verify(tb testing.TB) {
	tb.Helper()
	for ev, err := range e.store.ReadAll(context.Background(), e.verified) {
		if err != nil {
			tb.Fatal(err)
		}
		if err := e.verifier.Check(ev); err != nil {
			tb.Fatalf("event %s of %s: %v", ev.Position, ev.Stream, err)
		}
		var md eventstore.Metadata
		if err := json.Unmarshal(ev.Metadata, &md); err != nil {
			tb.Fatalf("event %s of %s: metadata: %v", ev.Position, ev.Stream, err)
		}
		if _, err := e.codec.Decode(ev.Type, md.SchemaVersion, ev.Data); err != nil {
			tb.Fatalf("event %s of %s does not decode: %v", ev.Position, ev.Stream, err)
		}
		e.verified = ev.Position
	}
}

// fuzzInput is one request of FuzzWrite (see there).
type fuzzInput struct {
	route, who, target, header uint8
	key, ifMatch, id, body     string
}

// send sends in and checks the properties of FuzzWrite. It returns the status and the answer (0 for an
// input that is not a request a client could send: it is skipped).
func (e *fuzzEnv) send(t *testing.T, in fuzzInput) (int, []byte) {
	t.Helper()
	routes := fuzzRoutes()
	rt := routes[int(in.route)%len(routes)]
	path, slot, member := rt.path, -1, -1
	body := in.body
	switch rt.target {
	case itemTarget:
		id := in.id
		if n := int(in.target) % (len(e.slots) + 1); n < len(e.slots) {
			slot, id = n, e.slots[n].id
			body = strings.ReplaceAll(body, "{{update}}", e.slots[n].updateID)
		}
		path = strings.Replace(path, "{id}", url.PathEscape(id), 1)
	case memberTarget:
		id := in.id
		if n := int(in.target) % (memberSlots + 1); n < memberSlots {
			member, id = n, e.members[n]
		}
		path = strings.Replace(path, "{id}", url.PathEscape(id), 1)
	}
	// What a server on the wire would refuse before the handler (header values with control bytes)
	// or what a client cannot send (a malformed URL) is no input.
	for _, v := range []string{in.key, in.ifMatch} {
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			return 0, nil
		}
	}
	req, err := http.NewRequest(rt.method, "http://csc.test"+path, strings.NewReader(body))
	if err != nil {
		return 0, nil
	}
	switch w := int(in.who) % (len(e.tokens) + 2); w {
	case whoNobody:
	case whoForged:
		req.Header.Set("Authorization", "Bearer "+e.forged)
	default:
		req.Header.Set("Authorization", "Bearer "+e.tokens[w])
	}
	switch in.header & 3 {
	case 0:
		req.Header.Set("Content-Type", "application/json")
	case 1:
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	case 2:
		req.Header.Set("Content-Type", "text/plain")
	}
	// The server trims the optional white space around header values.
	if key := strings.Trim(in.key, " \t"); key != "" {
		req.Header.Add(cschttp.IdempotencyKeyHeader, key)
		if in.header&4 != 0 {
			req.Header.Add(cschttp.IdempotencyKeyHeader, key)
		}
	}
	if m := strings.Trim(in.ifMatch, " \t"); m != "" {
		req.Header.Set("If-Match", m)
	}

	before := e.head(t)
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	after := e.head(t)
	status, answer := rec.Code, rec.Body.Bytes()

	if status >= 500 {
		t.Fatalf("%s %s: status %d: %s", rt.method, path, status, answer)
	}
	if status/100 != 2 {
		if after != before {
			t.Fatalf("%s %s: status %d, but the log moved from %s to %s: %s", rt.method, path, status, before, after, answer)
		}
		if status/100 == 4 {
			var p cschttp.Problem
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("%s %s: status %d with Content-Type %q: %s", rt.method, path, status, ct, answer)
			}
			if err := json.Unmarshal(answer, &p); err != nil || p.Status != status || !strings.HasPrefix(p.Type, cschttp.ProblemTypePrefix) {
				t.Fatalf("%s %s: status %d with problem %+v (%v): %s", rt.method, path, status, p, err, answer)
			}
		}
		return status, answer
	}

	var res cschttp.WriteResult
	if err := json.Unmarshal(answer, &res); err != nil {
		t.Fatalf("%s %s: status %d: %v: %s", rt.method, path, status, err, answer)
	}
	if res.Position != rec.Header().Get(cschttp.PositionHeader) || rec.Header().Get("ETag") != fmt.Sprintf("%q", fmt.Sprint(res.Revision)) {
		t.Fatalf("%s %s: %+v with CSC-Position %q and ETag %q", rt.method, path, res, rec.Header().Get(cschttp.PositionHeader), rec.Header().Get("ETag"))
	}
	replayed := rec.Header().Get(cschttp.ReplayedHeader) == "true"
	switch {
	case replayed && after != before:
		t.Fatalf("%s %s: a replay moved the log from %s to %s", rt.method, path, before, after)
	case !replayed && !before.Before(after):
		t.Fatalf("%s %s: status %d, new, but the log stayed at %s", rt.method, path, status, after)
	}
	e.verify(t)
	e.checkReads(t, res)
	if !replayed {
		if slot >= 0 {
			e.refreshItem(t, slot)
		}
		if member >= 0 {
			e.refreshMember(t, member)
		}
		e.verify(t)
	}
	return status, answer
}

// checkReads reads what a write changed once the read models include it: the progress, the matrix,
// the item list, the roster, the activity feed and, for an item, the item and its history. A write
// the API accepted must not make a read fail (e.g. a value the read models cannot encode).
func (e *fuzzEnv) checkReads(t *testing.T, res cschttp.WriteResult) {
	t.Helper()
	paths := []string{"/v1/progress", "/v1/matrix", "/v1/roadmap-items?limit=1000", "/v1/cities", "/v1/activity?limit=1000"}
	if st, _, exists, err := e.items.Load(context.Background(), domain.ItemStream(res.ID)); err == nil && exists && st.Stage != "" {
		paths = append(paths, "/v1/roadmap-items/"+res.ID, "/v1/roadmap-items/"+res.ID+"/history")
	}
	for _, p := range paths {
		sep := "?"
		if strings.Contains(p, "?") {
			sep = "&"
		}
		req := httptest.NewRequest(http.MethodGet, "http://csc.test"+p+sep+"minPosition="+url.QueryEscape(res.Position), nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens[setupCoordinator])
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("after the write %+v: GET %s: status %d: %s", res, p, rec.Code, rec.Body)
		}
	}
}

func (e *fuzzEnv) head(tb testing.TB) eventstore.Position {
	tb.Helper()
	p, err := e.store.Head(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// write sends a valid write that must succeed and returns its result.
func (e *fuzzEnv) write(tb testing.TB, who int, method, path string, body any) cschttp.WriteResult {
	tb.Helper()
	var rd *bytes.Reader
	if body == nil {
		rd = bytes.NewReader(nil)
	} else {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, "http://csc.test"+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.tokens[who])
	// A random key: an input cannot have used it before.
	req.Header.Set(cschttp.IdempotencyKeyHeader, uuid.NewString())
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		tb.Fatalf("setup %s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	var res cschttp.WriteResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		tb.Fatal(err)
	}
	return res
}

// Indexes into fuzzPeople of the setup's actors.
const (
	setupBerlin      = 0
	setupCoordinator = 1
	setupMadrid      = 4
)

// refreshItem gives slot i a new item in its stage.
func (e *fuzzEnv) refreshItem(tb testing.TB, i int) {
	tb.Helper()
	s := itemSlots()[i]
	member := setupBerlin
	if s.city == "madrid" {
		member = setupMadrid
	}
	proposal := fuzzProposal(s.city)
	if s.extreme {
		proposal["indicator"] = map[string]any{"name": "Extreme", "unit": "x", "direction": "increase",
			"baseline": map[string]any{"value": -1.7e308, "year": 1900}, "target": map[string]any{"value": 1.7e308, "year": 2100}}
	}
	id := e.write(tb, member, "POST", "/v1/roadmap-items", proposal).ID
	item := "/v1/roadmap-items/" + id
	var updateID string
	switch s.stage {
	case domain.StageChangesRequested:
		e.write(tb, setupCoordinator, "POST", item+"/request-changes", map[string]any{"comment": "Add a budget line."})
	case domain.StageApproved, domain.StageInProgress, domain.StageOnHold, domain.StageCompleted:
		e.write(tb, setupCoordinator, "POST", item+"/approve", nil)
		if s.stage == domain.StageApproved {
			break
		}
		e.write(tb, member, "POST", item+"/start", nil)
		updateID = e.write(tb, member, "POST", item+"/updates", map[string]any{
			"progressPercent": 10, "measurement": map[string]any{"value": 2000, "period": "2026-Q1"},
			"narrative": "Surveys started.", "milestonesReached": []string{}, "evidence": []any{},
		}).UpdateID
		switch s.stage {
		case domain.StageOnHold:
			e.write(tb, member, "POST", item+"/hold", map[string]any{"reason": "Funding paused."})
		case domain.StageCompleted:
			e.write(tb, member, "POST", item+"/complete", nil)
		}
	}
	st, _, _, err := e.items.Load(context.Background(), domain.ItemStream(id))
	if err != nil || st.Stage != s.stage {
		tb.Fatalf("slot %d: item in stage %q (%v), want %q", i, st.Stage, err, s.stage)
	}
	e.slots[i] = fuzzSlot{id: id, updateID: updateID}
}

// refreshMember gives member slot i a new member of Berlin (removed for memberRemoved).
func (e *fuzzEnv) refreshMember(tb testing.TB, i int) {
	tb.Helper()
	id := e.write(tb, setupCoordinator, "POST", "/v1/members", map[string]any{"city": "berlin", "name": "Ana Ruiz", "expertise": "science"}).ID
	if i == memberRemoved {
		e.write(tb, setupCoordinator, "DELETE", "/v1/members/"+id, map[string]any{"reason": "Left the city council."})
	}
	e.members[i] = id
}

// fuzzProposal is a valid proposal body.
func fuzzProposal(city string) map[string]any {
	return map[string]any{
		"city": city, "title": "Green roofs on public buildings", "description": "Cover 40 public buildings with green roofs.",
		"theme": "ecology", "sdgTargets": []string{"11.6", "11.7"},
		"indicator": map[string]any{"name": "Green roof area", "unit": "m2", "direction": "increase",
			"baseline": map[string]any{"value": 1200, "year": 2025}, "target": map[string]any{"value": 40000, "year": 2028}},
		"milestones": []map[string]any{{"id": "m1", "title": "Survey of roofs", "due": "2026-09-30"}},
		"budget":     map[string]any{"amount": 2500000, "currency": "EUR", "fundingSource": "City budget"},
		"startDate":  "2026-04-01", "dueDate": "2028-12-31",
	}
}

// ---- seeds ----

// writeSeed is a seed input of FuzzWrite with the status it gets on a fresh server.
type writeSeed struct {
	name   string
	in     fuzzInput
	status int
}

// writeSeeds are, for every write route, a valid request and near-misses: a wrong token or role, a
// wrong stage, a malformed or invalid body, a bad header.
func writeSeeds() []writeSeed {
	const (
		rPropose, rRevise, rApprove, rRequestChanges, rReject, rStart, rUpdate, rCorrect = 0, 1, 2, 3, 4, 5, 6, 7
		rHold, rResume, rComplete, rCancel, rJoin, rRegister, rRemove                    = 8, 9, 10, 11, 12, 13, 14
		berlin, coord, admin, auditor, madrid                                            = 0, 1, 2, 3, 4
		proposed, changesRequested, approved, inProgress, onHold, completed, madridItem  = 0, 1, 2, 3, 4, 5, 6
		extremeItem, fuzzedItem                                                          = 7, 8
		jsonCT, charsetCT, textCT, noCT, twoKeys                                         = 0, 1, 2, 3, 4
	)
	proposal, err := json.Marshal(fuzzProposal("berlin"))
	if err != nil {
		panic(err)
	}
	fields := strings.Replace(string(proposal), `"city":"berlin",`, "", 1)
	with := func(body, old, new string) string {
		if !strings.Contains(body, old) {
			panic("seed: " + old + " not in " + body)
		}
		return strings.Replace(body, old, new, 1)
	}
	update := `{"progressPercent":40,"measurement":{"value":9000,"period":"2026-Q3"},"milestonesReached":["m1"],` +
		`"narrative":"Survey done.","evidence":[{"uri":"https://example.org/roofs.pdf","sha256":"` + strings.Repeat("ab", 32) + `"}]}`
	in := func(route, who, target, header uint8, body string) fuzzInput {
		return fuzzInput{route: route, who: who, target: target, header: header, body: body}
	}
	keyed := func(i fuzzInput, key, ifMatch string) fuzzInput { i.key, i.ifMatch = key, ifMatch; return i }
	withID := func(i fuzzInput, id string) fuzzInput { i.id = id; return i }
	return []writeSeed{
		// proposeItem
		{"propose", in(rPropose, berlin, 0, jsonCT, string(proposal)), 201},
		{"propose with a key", keyed(in(rPropose, berlin, 0, charsetCT, string(proposal)), "propose-1", ""), 201},
		{"propose replayed", keyed(in(rPropose, berlin, 0, charsetCT, string(proposal)), "propose-1", ""), 201},
		{"propose, key reused with another body", keyed(in(rPropose, berlin, 0, jsonCT, with(string(proposal), "Green roofs", "Blue roofs")), "propose-1", ""), 422},
		{"propose with the key twice", keyed(in(rPropose, berlin, 0, jsonCT|twoKeys, string(proposal)), "propose-2", ""), 400},
		{"propose with a control byte in the key", keyed(in(rPropose, berlin, 0, jsonCT, string(proposal)), "a\x80b", ""), 400},
		{"propose for another city", in(rPropose, madrid, 0, jsonCT, string(proposal)), 403},
		{"propose as auditor", in(rPropose, auditor, 0, jsonCT, string(proposal)), 403},
		{"propose without a token", in(rPropose, whoNobody, 0, jsonCT, string(proposal)), 401},
		{"propose with a forged token", in(rPropose, whoForged, 0, jsonCT, string(proposal)), 401},
		{"propose as text/plain", in(rPropose, berlin, 0, textCT, string(proposal)), 415},
		{"propose without a Content-Type", in(rPropose, berlin, 0, noCT, string(proposal)), 415},
		{"propose without a body", in(rPropose, berlin, 0, jsonCT, ""), 400},
		{"propose null", in(rPropose, berlin, 0, jsonCT, "null"), 422},
		{"propose empty object", in(rPropose, berlin, 0, jsonCT, "{}"), 422},
		{"propose array", in(rPropose, berlin, 0, jsonCT, "[]"), 400},
		{"propose two values", in(rPropose, berlin, 0, jsonCT, string(proposal)+"{}"), 400},
		{"propose cut short", in(rPropose, berlin, 0, jsonCT, string(proposal)[:40]), 400},
		{"propose unknown field", in(rPropose, berlin, 0, jsonCT, with(string(proposal), `"title"`, `"colour":"green","title"`)), 400},
		{"propose title a number", in(rPropose, berlin, 0, jsonCT, with(string(proposal), `"title":"Green roofs on public buildings"`, `"title":7`)), 400},
		{"propose bad date", in(rPropose, berlin, 0, jsonCT, with(string(proposal), "2026-04-01", "2026-02-30")), 400},
		{"propose due before start", in(rPropose, berlin, 0, jsonCT, with(string(proposal), "2028-12-31", "2025-12-31")), 422},
		{"propose unknown theme", in(rPropose, berlin, 0, jsonCT, with(string(proposal), `"ecology"`, `"astrology"`)), 422},
		{"propose unknown target", in(rPropose, berlin, 0, jsonCT, with(string(proposal), `"11.7"`, `"12.1"`)), 422},
		{"propose huge number", in(rPropose, berlin, 0, jsonCT, with(string(proposal), "2500000", "1e400")), 400},
		{"propose unknown city", in(rPropose, coord, 0, jsonCT, with(string(proposal), `"berlin"`, `"atlantis"`)), 422},
		{"propose no city", in(rPropose, berlin, 0, jsonCT, fields), 422},
		{"propose escapes", in(rPropose, berlin, 0, jsonCT, with(string(proposal), "Green roofs", `Gr\u00fcne \"D\u00e4cher\" \\ \u2028\ud83c\udf31 <b>&amp;`)), 201},
		{"propose a lone surrogate", in(rPropose, berlin, 0, jsonCT, with(string(proposal), "Green roofs", `Green \ud800 roofs`)), 201},
		{"propose invalid UTF-8", in(rPropose, berlin, 0, jsonCT, with(string(proposal), "Green roofs", "Green \xff\xfe roofs")), 201},
		{"propose a NUL", in(rPropose, berlin, 0, jsonCT, with(string(proposal), "Green roofs", `Green \u0000 roofs`)), 201},
		{"propose extreme indicator", in(rPropose, berlin, 0, jsonCT, with(with(string(proposal), `"value":1200`, `"value":-1.7e308`), `"value":40000`, `"value":1.7e308`)), 201},
		// reviseItem
		{"revise", in(rRevise, berlin, proposed, jsonCT, fields), 200},
		{"revise after changes requested", in(rRevise, berlin, changesRequested, jsonCT, fields), 200},
		{"revise approved", in(rRevise, berlin, approved, jsonCT, fields), 409},
		{"revise with the city", in(rRevise, berlin, proposed, jsonCT, string(proposal)), 400},
		{"revise no title", in(rRevise, berlin, proposed, jsonCT, with(fields, "Green roofs on public buildings", "")), 422},
		{"revise another city's item", in(rRevise, berlin, madridItem, jsonCT, fields), 403},
		{"revise unknown item", withID(in(rRevise, berlin, fuzzedItem, jsonCT, fields), uuid.NewSHA1(uuid.NameSpaceURL, []byte("no item")).String()), 404},
		{"revise not an item ID", withID(in(rRevise, berlin, fuzzedItem, jsonCT, fields), "item-1"), 404},
		{"revise a dotted path", withID(in(rRevise, berlin, fuzzedItem, jsonCT, fields), "../../cities"), 404}, // an unclean path names no route
		// approveItem
		{"approve", in(rApprove, coord, proposed, noCT, ""), 200},
		{"approve with {}", in(rApprove, admin, proposed, jsonCT, "{}"), 200},
		{"approve at revision 0", keyed(in(rApprove, coord, proposed, noCT, ""), "", `"0"`), 200},
		{"approve at a stale revision", keyed(in(rApprove, coord, proposed, noCT, ""), "", `"3"`), 412},
		{"approve with a weak ETag", keyed(in(rApprove, coord, proposed, noCT, ""), "", `W/"0"`), 400},
		{"approve with If-Match *", keyed(in(rApprove, coord, proposed, noCT, ""), "", `*`), 200},
		{"approve with a field", in(rApprove, coord, proposed, jsonCT, `{"x":1}`), 400},
		{"approve as member", in(rApprove, berlin, proposed, noCT, ""), 403},
		{"approve approved", in(rApprove, coord, approved, noCT, ""), 409},
		{"approve with text/plain body", in(rApprove, coord, proposed, textCT, "{}"), 415},
		{"approve with the largest body", in(rApprove, coord, proposed, jsonCT, "{}"+strings.Repeat(" ", cschttp.MaxBodyBytes-2)), 200},
		{"approve with a body too large", in(rApprove, coord, proposed, jsonCT, "{}"+strings.Repeat(" ", cschttp.MaxBodyBytes-1)), 413},
		// requestChanges
		{"request changes", in(rRequestChanges, coord, proposed, jsonCT, `{"comment":"Add a budget."}`), 200},
		{"request changes without comment", in(rRequestChanges, coord, proposed, jsonCT, `{}`), 422},
		{"request changes on approved", in(rRequestChanges, coord, approved, jsonCT, `{"comment":"Late."}`), 409},
		// rejectItem
		{"reject", in(rReject, coord, proposed, jsonCT, `{"reason":"Out of scope."}`), 200},
		{"reject as member", in(rReject, berlin, proposed, jsonCT, `{"reason":"Out of scope."}`), 403},
		{"reject reason a list", in(rReject, coord, proposed, jsonCT, `{"reason":["a"]}`), 400},
		// startItem
		{"start", in(rStart, berlin, approved, noCT, ""), 200},
		{"start proposed", in(rStart, berlin, proposed, noCT, ""), 409},
		{"start another city's item", in(rStart, madrid, approved, noCT, ""), 403},
		// submitUpdate
		{"update", in(rUpdate, berlin, inProgress, jsonCT, update), 201},
		{"update minimal", in(rUpdate, berlin, inProgress, jsonCT, `{"narrative":"Quiet month."}`), 201},
		{"update over 100 percent", in(rUpdate, berlin, inProgress, jsonCT, with(update, "40", "101")), 422},
		{"update unknown milestone", in(rUpdate, berlin, inProgress, jsonCT, with(update, `["m1"]`, `["m9"]`)), 422},
		{"update milestone twice", in(rUpdate, berlin, inProgress, jsonCT, with(update, `["m1"]`, `["m1","m1"]`)), 422},
		{"update bad period", in(rUpdate, berlin, inProgress, jsonCT, with(update, "2026-Q3", "2026-Q5")), 422},
		{"update bad hash", in(rUpdate, berlin, inProgress, jsonCT, with(update, strings.Repeat("ab", 32), "AB")), 422},
		{"update relative URI", in(rUpdate, berlin, inProgress, jsonCT, with(update, "https://example.org/roofs.pdf", "roofs.pdf")), 422},
		{"update percent a float", in(rUpdate, berlin, inProgress, jsonCT, with(update, "40", "40.5")), 400},
		{"update extreme high", in(rUpdate, berlin, extremeItem, jsonCT, `{"measurement":{"value":1.7e308,"period":"2026"},"narrative":"Max."}`), 201},
		{"update extreme low", in(rUpdate, berlin, extremeItem, jsonCT, `{"measurement":{"value":-1.7e308,"period":"2026"},"narrative":"Min."}`), 201},
		{"correct extreme", in(rCorrect, berlin, extremeItem, jsonCT, `{"updateId":"{{update}}","value":1.7976931348623157e308,"reason":"Max."}`), 200},
		{"update on hold", in(rUpdate, berlin, onHold, jsonCT, update), 409},
		{"update approved", in(rUpdate, berlin, approved, jsonCT, update), 409},
		// correctMeasurement
		{"correct", in(rCorrect, berlin, inProgress, jsonCT, `{"updateId":"{{update}}","value":2100,"reason":"Recounted."}`), 200},
		{"correct unknown update", in(rCorrect, berlin, inProgress, jsonCT, `{"updateId":"`+uuid.NewSHA1(uuid.NameSpaceURL, []byte("no update")).String()+`","value":1,"reason":"x"}`), 404},
		{"correct not a UUID", in(rCorrect, berlin, inProgress, jsonCT, `{"updateId":"u1","value":1,"reason":"x"}`), 422},
		// holdItem, resumeItem, completeItem, cancelItem
		{"hold", in(rHold, berlin, inProgress, jsonCT, `{"reason":"Funding paused."}`), 200},
		{"hold approved", in(rHold, berlin, approved, jsonCT, `{"reason":"Funding paused."}`), 409},
		{"resume", in(rResume, berlin, onHold, noCT, ""), 200},
		{"resume in progress", in(rResume, berlin, inProgress, noCT, ""), 409},
		{"complete", in(rComplete, berlin, inProgress, noCT, ""), 200},
		{"complete completed", in(rComplete, berlin, completed, noCT, ""), 409},
		{"cancel", in(rCancel, berlin, approved, jsonCT, `{"reason":"Merged into another item."}`), 200},
		{"cancel completed", in(rCancel, berlin, completed, jsonCT, `{"reason":"Too late."}`), 409},
		{"cancel deep JSON", in(rCancel, berlin, approved, jsonCT, strings.Repeat("[", 10000)+strings.Repeat("]", 10000)), 400},
		// joinCity
		{"join", keyed(in(rJoin, admin, 0, jsonCT, `{"id":"lisbon","name":"Lisbon","country":"PT"}`), "join-lisbon", ""), 201},
		{"join again", in(rJoin, coord, 0, jsonCT, `{"id":"lisbon","name":"Lisbon","country":"PT"}`), 409},
		{"join a founding city", in(rJoin, coord, 0, jsonCT, `{"id":"berlin","name":"Berlin","country":"DE"}`), 409},
		{"join bad country", in(rJoin, coord, 0, jsonCT, `{"id":"porto","name":"Porto","country":"pt"}`), 422},
		{"join bad slug", in(rJoin, coord, 0, jsonCT, `{"id":"Porto City","name":"Porto","country":"PT"}`), 422},
		{"join as member", in(rJoin, berlin, 0, jsonCT, `{"id":"porto","name":"Porto","country":"PT"}`), 403},
		// registerMember
		{"register", in(rRegister, coord, 0, jsonCT, `{"city":"berlin","name":"Jonas Weber","expertise":"finance"}`), 201},
		{"register in an unknown city", in(rRegister, coord, 0, jsonCT, `{"city":"atlantis","name":"Jonas Weber","expertise":"finance"}`), 422},
		{"register unknown expertise", in(rRegister, coord, 0, jsonCT, `{"city":"berlin","name":"Jonas Weber","expertise":"magic"}`), 422},
		{"register as member", in(rRegister, berlin, 0, jsonCT, `{"city":"berlin","name":"Jonas Weber","expertise":"finance"}`), 403},
		// removeMember
		{"remove", in(rRemove, coord, memberActive, jsonCT, `{"reason":"Left the council."}`), 200},
		{"remove removed", in(rRemove, coord, memberRemoved, jsonCT, `{"reason":"Twice."}`), 404},
		{"remove without a body", in(rRemove, coord, memberActive, noCT, ""), 400},
		{"remove unknown", withID(in(rRemove, coord, memberSlots, jsonCT, `{"reason":"Who?"}`), uuid.NewSHA1(uuid.NameSpaceURL, []byte("no member")).String()), 404},
		{"remove not a member ID", withID(in(rRemove, coord, memberSlots, jsonCT, `{"reason":"Who?"}`), "%00"), 404},
	}
}
