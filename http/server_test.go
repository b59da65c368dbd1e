package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/sqlite"
	cschttp "github.com/metropolis/csc/http"
	"github.com/metropolis/csc/projections"
)

// testSecret signs the tokens of the test servers.
const testSecret = "test-secret-0123456789abcdef0123456789abcdef"

// testServer is the whole API on a real SQLite file in a temporary folder, served on 127.0.0.1:0,
// with a client whose every response is validated against the server's OpenAPI document.
type testServer struct {
	t *testing.T // the test the helpers report to (see with)
	*serverEnv
}

// serverEnv is the server and what it runs on, shared by the views of one test server.
type serverEnv struct {
	dir      string
	store    *sqlite.Store
	runner   *projections.Runner
	server   *cschttp.Server
	tokens   *cschttp.Tokens
	registry *prometheus.Registry
	url      string
	client   *http.Client

	stopRunner context.CancelFunc
	runnerDone chan struct{}
	closeOnce  sync.Once
}

// serverOptions adjust a test server.
type serverOptions struct {
	readWait   time.Duration
	heartbeat  time.Duration
	holdRunner bool // do not start the projections (see runProjections)
	asOfBuilds int
	// buildAsOf wraps the server's as-of builds (nil: projections.BuildAsOf as is).
	buildAsOf func(ctx context.Context, at projections.AsOf, build cschttp.BuildAsOfFunc) (*projections.Models, error)
}

// startServer starts a server on the store in dir (a new temporary folder when ""), launching the
// pilot collaboratory when the store is empty.
func startServer(t *testing.T, dir string, opts ...serverOptions) *testServer {
	t.Helper()
	var o serverOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if dir == "" {
		dir = t.TempDir()
	}
	ts := &testServer{t: t, serverEnv: &serverEnv{dir: dir, registry: prometheus.NewRegistry()}}
	var err error
	ts.store, err = sqlite.Open(filepath.Join(dir, "events.db"), sqlite.Options{Registerer: ts.registry})
	if err != nil {
		t.Fatal(err)
	}
	codec := domain.NewCodec()
	items, err := eventstore.NewEngine[domain.RoadmapItem, domain.Event](ts.store, codec, domain.RoadmapItem{}, domain.EvolveItem,
		eventstore.EngineOptions{Name: "roadmap_item", Registerer: ts.registry})
	if err != nil {
		t.Fatal(err)
	}
	collab, err := eventstore.NewEngine[domain.Collaboratory, domain.Event](ts.store, codec, domain.Collaboratory{}, domain.EvolveCollaboratory,
		eventstore.EngineOptions{Name: "collaboratory", Registerer: ts.registry})
	if err != nil {
		t.Fatal(err)
	}
	launch(t, collab)

	ts.tokens, err = cschttp.NewTokens([]byte(testSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts.runner = projections.NewRunner(ts.store, codec, projections.Options{Registerer: ts.registry})
	if !o.holdRunner {
		ts.runProjections()
	}
	var buildAsOf cschttp.BuildAsOfFunc
	if o.buildAsOf != nil {
		store := ts.store
		build := func(ctx context.Context, at projections.AsOf) (*projections.Models, error) {
			return projections.BuildAsOf(ctx, store, codec, at)
		}
		buildAsOf = func(ctx context.Context, at projections.AsOf) (*projections.Models, error) {
			return o.buildAsOf(ctx, at, build)
		}
	}
	ts.server, err = cschttp.NewServer(cschttp.Config{
		Store: ts.store, Codec: codec, Items: items, Collaboratory: collab, Projections: ts.runner, Tokens: ts.tokens,
		Registerer: ts.registry, Gatherer: ts.registry, ReadWait: o.readWait, Heartbeat: o.heartbeat,
		AsOfBuilds: o.asOfBuilds, BuildAsOf: buildAsOf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.server.Open("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ts.url = ts.server.URL()
	ts.client = &http.Client{Transport: &openAPICheck{t: t, next: http.DefaultTransport, router: ts.openAPIRouter()}}
	t.Cleanup(ts.close)
	if !o.holdRunner {
		ts.waitForReadModels()
	}
	return ts
}

// runProjections starts the projections runner.
func (ts *testServer) runProjections() {
	runCtx, stop := context.WithCancel(context.Background())
	ts.stopRunner, ts.runnerDone = stop, make(chan struct{})
	go func() {
		defer close(ts.runnerDone)
		if err := ts.runner.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			ts.t.Errorf("projections stopped: %v", err)
		}
	}()
}

// with returns a view of the server whose helpers report to t (a subtest).
func (ts *testServer) with(t *testing.T) *testServer {
	return &testServer{t: t, serverEnv: ts.serverEnv}
}

// close stops the server, the projections and the store (once; also at the end of the test).
func (ts *testServer) close() {
	ts.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ts.server.Close(ctx); err != nil {
			ts.t.Errorf("close server: %v", err)
		}
		if ts.stopRunner != nil {
			ts.stopRunner()
			<-ts.runnerDone
		}
		if err := ts.store.Close(); err != nil {
			ts.t.Errorf("close store: %v", err)
		}
	})
}

// waitForReadModels waits until the read models include every event in the log.
func (ts *testServer) waitForReadModels() {
	ts.t.Helper()
	head, err := ts.store.Head(context.Background())
	if err != nil {
		ts.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ts.runner.WaitFor(ctx, head); err != nil {
		ts.t.Fatalf("read models did not reach %s: %v", head, err)
	}
}

// launch launches the pilot with the founding cities unless it is launched.
func launch(t testing.TB, collab *cschttp.CollaboratoryEngine) {
	t.Helper()
	stream := domain.CollaboratoryStream(domain.PilotSlug)
	cmd := domain.LaunchCollaboratory{Slug: domain.PilotSlug, Name: "Cities Sustainability Collaboratory", Phase: "2018-2020",
		FoundingCities: []string{"berlin", "buenos-aires", "madrid", "dakar", "guangzhou", "mexico-city", "johannesburg"}}
	dctx := domain.Context{Now: time.Now(), Actor: "test", Role: domain.RoleAdmin}
	_, err := collab.Execute(context.Background(), stream, eventstore.Command{ID: uuid.NewSHA1(uuid.NameSpaceURL, []byte("launch")), Name: "launch"},
		func(s domain.Collaboratory, _ bool) ([]domain.Event, error) {
			return domain.DecideCollaboratory(s, cmd, dctx)
		})
	if err != nil {
		t.Fatal(err)
	}
}

// Roles the tests act as.
type who struct {
	role domain.Role
	city string
}

var (
	nobody      = who{}
	admin       = who{role: domain.RoleAdmin}
	coordinator = who{role: domain.RoleCoordinator}
	auditor     = who{role: domain.RoleAuditor}
	berlin      = who{role: domain.RoleMember, city: "berlin"}
	madrid      = who{role: domain.RoleMember, city: "madrid"}
)

func (w who) String() string {
	switch {
	case w.role == "":
		return "anonymous"
	case w.city != "":
		return string(w.role) + "-" + w.city
	}
	return string(w.role)
}

// token returns a bearer token for w ("" for nobody).
func (ts *testServer) token(w who) string {
	if w.role == "" {
		return ""
	}
	tok, err := ts.tokens.Issue(cschttp.Principal{Subject: w.String(), Role: w.role, City: w.city}, time.Hour)
	if err != nil {
		ts.t.Fatal(err)
	}
	return tok
}

// response is an answer of the server, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) problem(t *testing.T) cschttp.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q, want a problem: %s", r.status, ct, r.body)
	}
	var p cschttp.Problem
	r.json(t, &p)
	return p
}

// req is a request to send: body is JSON-encoded unless it is a string or []byte (sent as is).
type req struct {
	method, path string
	as           who
	body         any
	header       map[string]string
	// stream: return once the headers arrived and close the body (Server-Sent Events never end).
	stream bool
}

// do sends rq and returns the whole answer.
func (ts *testServer) do(rq req) response {
	ts.t.Helper()
	var rd io.Reader
	contentType := ""
	switch b := rq.body.(type) {
	case nil:
	case string:
		rd, contentType = strings.NewReader(b), "application/json"
	case []byte:
		rd, contentType = bytes.NewReader(b), "application/json"
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd, contentType = bytes.NewReader(enc), "application/json"
	}
	hr, err := http.NewRequest(rq.method, ts.url+rq.path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if contentType != "" {
		hr.Header.Set("Content-Type", contentType)
	}
	if tok := ts.token(rq.as); tok != "" {
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range rq.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	resp, err := ts.client.Do(hr)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	if rq.stream && resp.StatusCode == http.StatusOK {
		return response{status: resp.StatusCode, header: resp.Header}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// must sends rq and fails the test unless the answer has status want.
func (ts *testServer) must(want int, rq req) response {
	ts.t.Helper()
	r := ts.do(rq)
	if r.status != want {
		ts.t.Fatalf("%s %s as %v: status %d, want %d: %s", rq.method, rq.path, rq.as, r.status, want, r.body)
	}
	return r
}

// head is the position of the last event in the log: the log's length, as positions count from 1.
func (ts *testServer) head() uint64 {
	ts.t.Helper()
	p, err := ts.store.Head(context.Background())
	if err != nil {
		ts.t.Fatal(err)
	}
	return p.Commit
}

// openAPIRouter loads the server's OpenAPI document (validating it) and routes requests to its
// operations.
func (ts *testServer) openAPIRouter() routers.Router {
	ts.t.Helper()
	resp, err := http.Get(ts.url + "/openapi.json")
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		ts.t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		ts.t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: ts.url}}
	inlineSchemas(doc)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		ts.t.Fatal(err)
	}
	return router
}

// inlineSchemas turns the resolved $refs of the operations' response schemas into inline schemas.
// kin-openapi compiles a JSON Schema 2020-12 validator for every schema it visits when a schema holds
// $refs (falling back to its older validator, which visits every nested schema the same way), which
// makes one response's check take seconds; inline schemas are compiled once per response. The
// schemas themselves do not change.
func inlineSchemas(doc *openapi3.T) {
	var inline func(sr *openapi3.SchemaRef)
	inline = func(sr *openapi3.SchemaRef) {
		if sr == nil || sr.Value == nil {
			return
		}
		sr.Ref = ""
		v := sr.Value
		for _, p := range v.Properties {
			inline(p)
		}
		inline(v.Items)
		inline(v.AdditionalProperties.Schema)
		for _, list := range []openapi3.SchemaRefs{v.AllOf, v.AnyOf, v.OneOf} {
			for _, x := range list {
				inline(x)
			}
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				for _, mt := range resp.Value.Content {
					inline(mt.Schema)
				}
			}
		}
	}
}

// openAPICheck validates every response against the OpenAPI document: the route must be described,
// its status documented, its headers and body as described (SSE bodies are streams: only their status
// and headers are checked).
type openAPICheck struct {
	t      *testing.T
	next   http.RoundTripper
	router routers.Router
}

func (c *openAPICheck) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	route, params, err := c.router.FindRoute(r)
	if err != nil {
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			c.t.Errorf("openapi: %s %s answered %d but is not in the document: %v", r.Method, r.URL.Path, resp.StatusCode, err)
		}
		return resp, nil
	}
	stream := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	var body []byte
	if !stream {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: stream, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(r.Context(), in); err != nil {
		c.t.Errorf("openapi: %s %s answered %d, which the document does not describe: %v\nbody: %s", r.Method, r.URL.Path,
			resp.StatusCode, err, truncate(body, 2000))
	}
	return resp, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// ---- fixtures ----

func proposal(city string) map[string]any {
	return map[string]any{
		"city": city, "title": "Green roofs", "description": "Cover public buildings with green roofs.",
		"theme": "ecology", "sdgTargets": []string{"11.6", "11.7"},
		"indicator": map[string]any{"name": "Green roof area", "unit": "m2", "direction": "increase",
			"baseline": map[string]any{"value": 1200, "year": 2025}, "target": map[string]any{"value": 40000, "year": 2028}},
		"milestones": []map[string]any{{"id": "m1", "title": "Survey", "due": "2026-09-30"}, {"id": "m2", "title": "Ten roofs", "due": "2027-06-30"}},
		"budget":     map[string]any{"amount": 2500000, "currency": "EUR", "fundingSource": "City budget"},
		"startDate":  "2026-04-01", "dueDate": "2028-12-31",
	}
}

func update() map[string]any {
	return map[string]any{
		"progressPercent": 20, "measurement": map[string]any{"value": 5000, "period": "2026-Q3"},
		"milestonesReached": []string{"m1"}, "narrative": "Survey done.",
		"evidence": []map[string]any{{"uri": "https://berlin.de/roofs.pdf", "sha256": strings.Repeat("ab", 32)}},
	}
}

// itemIn proposes a Berlin item and takes it to stage (as the coordinator). In-progress items have one
// measured update; it returns the item ID and that update's ID ("" before in_progress).
func (ts *testServer) itemIn(stage domain.Stage) (itemID, updateID string) {
	ts.t.Helper()
	var wr cschttp.WriteResult
	ts.must(201, req{method: "POST", path: "/v1/roadmap-items", as: berlin, body: proposal("berlin")}).json(ts.t, &wr)
	itemID = wr.ID
	step := func(action string, body any) response {
		return ts.must(statusOf(action), req{method: "POST", path: "/v1/roadmap-items/" + itemID + "/" + action, as: coordinator, body: body})
	}
	switch stage {
	case domain.StageProposed:
		return itemID, ""
	case domain.StageChangesRequested:
		step("request-changes", map[string]any{"comment": "more detail"})
		return itemID, ""
	case domain.StageRejected:
		step("reject", map[string]any{"reason": "out of scope"})
		return itemID, ""
	}
	step("approve", nil)
	if stage == domain.StageApproved {
		return itemID, ""
	}
	step("start", nil)
	step("updates", update()).json(ts.t, &wr)
	updateID = wr.UpdateID
	switch stage {
	case domain.StageOnHold:
		step("hold", map[string]any{"reason": "winter"})
	case domain.StageCompleted:
		step("complete", nil)
	case domain.StageCancelled:
		step("cancel", map[string]any{"reason": "no funds"})
	}
	return itemID, updateID
}

func statusOf(action string) int {
	if action == "updates" {
		return http.StatusCreated
	}
	return http.StatusOK
}
