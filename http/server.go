// Package http is the CSC HTTP API (v1): routes on github.com/gorilla/mux, bearer-token roles, commands
// through the command engine with idempotency keys and If-Match, reads from the projections with asOf and
// minPosition, RFC 9457 problem responses, the raw event log and its Server-Sent Events feed, health,
// readiness, Prometheus metrics and the OpenAPI document.
//
// The package is named http and imports net/http unaliased; callers alias it (cschttp). It builds
// nothing concrete: cmd/csc hands it the store, the engines, the projections runner, the token keys and
// the metrics registry.
package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/projections"
)

// Server timeouts and limits. SSE responses extend their write deadline as they go (see handleLive).
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
	// MaxBodyBytes bounds request bodies: a larger one is refused with 413.
	MaxBodyBytes = 1 << 20
)

// Defaults of the Config durations.
const (
	DefaultReadWait  = 5 * time.Second
	DefaultHeartbeat = 15 * time.Second
)

// ItemEngine and CollaboratoryEngine are the command engines of the two aggregates.
type (
	ItemEngine          = eventstore.Engine[domain.RoadmapItem, domain.Event]
	CollaboratoryEngine = eventstore.Engine[domain.Collaboratory, domain.Event]
)

// Config is what a Server is built from. Store, Codec, Items, Collaboratory, Projections and Tokens are
// required.
type Config struct {
	Store         eventstore.Store
	Codec         *domain.Codec
	Items         *ItemEngine
	Collaboratory *CollaboratoryEngine
	Projections   *projections.Runner
	Tokens        *Tokens

	// Slug names the collaboratory the server serves (its stream is domain.CollaboratoryStream(Slug));
	// domain.PilotSlug when empty.
	Slug string
	// Registerer receives the HTTP metrics; Gatherer is what /metrics exposes. Either may be nil (no
	// HTTP metrics; /metrics answers 404).
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Logger receives one line per request and every failure; nil discards.
	Logger *slog.Logger
	// Now is the clock of decisions (Context.Now) and of reads without asOf; time.Now when nil.
	Now func() time.Time
	// NewID makes command IDs for writes without an Idempotency-Key; a UUIDv7 when nil (see
	// proposalItemID). Every call must return a new ID (a proposal's item stream, named after it,
	// is taken not to exist yet).
	NewID func() uuid.UUID
	// ReadWait bounds how long a read with minPosition waits for the read models (504 after);
	// DefaultReadWait when 0.
	ReadWait time.Duration
	// Heartbeat is the interval of SSE heartbeats; DefaultHeartbeat when 0.
	Heartbeat time.Duration
	// AsOfBuilds bounds the as-of read models (?asOf=) being built at once across the server (each
	// replays the log and holds a whole set of read models); DefaultAsOfBuilds when 0. A read waits
	// for a slot at most ReadWait, then gets 503 with Retry-After.
	AsOfBuilds int
	// BuildAsOf builds read models as of a moment; projections.BuildAsOf on Store and Codec when nil.
	BuildAsOf BuildAsOfFunc
}

// Server is the HTTP API. Build it with NewServer, serve with Open (or mount Handler), stop with Close.
type Server struct {
	keys      keySchemas // the request types' field names, for decodeBody
	store     eventstore.Store
	codec     *domain.Codec
	items     *ItemEngine
	collab    *CollaboratoryEngine
	runner    *projections.Runner
	tokens    *Tokens
	slug      string
	log       *slog.Logger
	now       func() time.Time
	newID     func() uuid.UUID
	readWait  time.Duration
	heartbeat time.Duration
	asOf      *asOfCache   // read models built as of moments
	buffers   bufferPool   // scratch buffers of writes
	promHTTP  http.Handler // serves /metrics; nil: none
	metrics   *metrics     // nil: none

	router  *mux.Router
	table   routeTable // the API's routes, matched without the router's expressions (routing.go)
	handler http.Handler
	openapi []byte // the OpenAPI document, built from the routes

	// streams is cancelled when the server shuts down, ending SSE responses (which never go idle).
	streams    context.Context
	stopStream context.CancelFunc

	mu  sync.Mutex
	srv *http.Server
	ln  net.Listener
}

// NewServer checks cfg and builds the routes.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Codec == nil || cfg.Items == nil || cfg.Collaboratory == nil ||
		cfg.Projections == nil || cfg.Tokens == nil {
		return nil, errors.New("new http server: Store, Codec, Items, Collaboratory, Projections and Tokens are required")
	}
	s := &Server{
		store: cfg.Store, codec: cfg.Codec, items: cfg.Items, collab: cfg.Collaboratory,
		runner: cfg.Projections, tokens: cfg.Tokens, slug: cfg.Slug, log: cfg.Logger, now: cfg.Now,
		newID: cfg.NewID, readWait: cfg.ReadWait, heartbeat: cfg.Heartbeat,
	}
	if s.slug == "" {
		s.slug = domain.PilotSlug
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = newV7
	}
	if s.readWait <= 0 {
		s.readWait = DefaultReadWait
	}
	if s.heartbeat <= 0 {
		s.heartbeat = DefaultHeartbeat
	}
	if cfg.Gatherer != nil {
		s.promHTTP = promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError),
		})
	}
	if cfg.Registerer != nil {
		m, err := newMetrics(cfg.Registerer)
		if err != nil {
			return nil, fmt.Errorf("new http server: %w", err)
		}
		s.metrics = m
	}
	build := cfg.BuildAsOf
	if build == nil {
		build = func(ctx context.Context, at projections.AsOf) (*projections.Models, error) {
			return projections.BuildAsOf(ctx, s.store, s.codec, at)
		}
	}
	builds := cfg.AsOfBuilds
	if builds <= 0 {
		builds = DefaultAsOfBuilds
	}
	s.asOf = newAsOfCache(build, builds, s.readWait, s.metrics)
	s.streams, s.stopStream = context.WithCancel(context.Background())

	// Paths are not cleaned and redirected (dispatch refuses unclean paths with a 404).
	s.router = mux.NewRouter().SkipClean(true)
	s.router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, errNotFound("no route "+r.URL.Path))
	})
	s.router.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeAllow(w, s.router, r)
		s.problem(w, r, &requestError{status: http.StatusMethodNotAllowed, code: ProblemMethodNotAllowed,
			detail: "method " + r.Method + " is not allowed on " + r.URL.Path})
	})
	s.router.Use(markRoute)
	routes := s.routes()
	doc, err := openAPIDocument(routes)
	if err != nil {
		return nil, fmt.Errorf("new http server: %w", err)
	}
	s.openapi = doc
	for _, rt := range routes {
		h := s.authenticate(rt.access, rt.handler)
		methods := []string{rt.method}
		if rt.method == http.MethodGet {
			methods = append(methods, http.MethodHead) // same headers, no body (net/http drops it)
		}
		s.router.Handle(rt.path, h).Methods(methods...).Name(rt.name)
		s.table.add(rt.method, rt.path, h)
	}
	s.router.MatcherFunc(dashboardPath).Handler(s.dashboard()) // GET / and /dashboard/*: dashboard.go
	s.handler = s.observe(http.HandlerFunc(s.dispatch))
	return s, nil
}

// route is one endpoint of the API.
type route struct {
	name    string // the OpenAPI operationId
	method  string
	path    string // the mux path template
	access  access
	handler http.HandlerFunc
}

// routes is the API's route table: every endpoint, who may call it (before the domain's own checks of
// writes) and its handler.
func (s *Server) routes() []route {
	rs := []route{
		{"healthz", http.MethodGet, "/healthz", public, s.handleHealthz},
		{"readyz", http.MethodGet, "/readyz", public, s.handleReadyz},
		{"metrics", http.MethodGet, "/metrics", public, s.handleMetrics},
		{"openapi", http.MethodGet, "/openapi.json", public, s.handleOpenAPI},

		{"listCities", http.MethodGet, "/v1/cities", anyRole, s.handleListCities},
		{"joinCity", http.MethodPost, "/v1/cities", anyRole, s.handleJoinCity},
		{"registerMember", http.MethodPost, "/v1/members", anyRole, s.handleRegisterMember},
		{"removeMember", http.MethodDelete, "/v1/members/{id}", anyRole, s.handleRemoveMember},

		{"proposeItem", http.MethodPost, "/v1/roadmap-items", anyRole, s.handlePropose},
		{"listItems", http.MethodGet, "/v1/roadmap-items", anyRole, s.handleListItems},
		{"getItem", http.MethodGet, "/v1/roadmap-items/{id}", anyRole, s.handleGetItem},
		{"getItemHistory", http.MethodGet, "/v1/roadmap-items/{id}/history", anyRole, s.handleItemHistory},

		{"getProgress", http.MethodGet, "/v1/progress", anyRole, s.handleProgress},
		{"getCityProgress", http.MethodGet, "/v1/progress/{city}", anyRole, s.handleCityProgress},
		{"getMatrix", http.MethodGet, "/v1/matrix", anyRole, s.handleMatrix},
		{"getActivity", http.MethodGet, "/v1/activity", anyRole, s.handleActivity},

		{"listEvents", http.MethodGet, "/v1/events", logReaders, s.handleEvents},
		{"liveEvents", http.MethodGet, "/v1/events/live", logReaders, s.handleLive},
		{"getStream", http.MethodGet, "/v1/streams/{stream}", logReaders, s.handleStream},
	}
	for _, a := range itemActions() {
		rs = append(rs, route{a.name, http.MethodPost, "/v1/roadmap-items/{id}/" + a.path, anyRole, s.itemAction(a)})
	}
	return rs
}

// Handler returns the API's handler (routes wrapped in request IDs, logging, metrics and recovery).
func (s *Server) Handler() http.Handler { return s.handler }

// Open listens on addr (host:port; port 0 picks one) and serves in the background until Close.
func (s *Server) Open(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.Serve(ln)
	return nil
}

// Serve serves on ln, which the server then owns, in the background until Close. (csc serve binds
// its address before it writes anything, so that a busy port fails a start that has changed nothing.)
func (s *Server) Serve(ln net.Listener) {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(s.stopStream)
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
}

// Addr returns the address the server listens on (nil before Open).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL returns the server's base URL, e.g. "http://127.0.0.1:8080" ("" before Open). An unspecified
// listen host (":8080") is reported as localhost.
func (s *Server) URL() string {
	addr, ok := s.Addr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// Close stops accepting connections, ends SSE streams, and waits for requests in flight to finish
// until ctx ends (then it closes the remaining connections).
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	s.stopStream()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return fmt.Errorf("shut down http server: %w", err)
	}
	return nil
}

// writeAllow sets the Allow header of a 405 answer: the methods of the routes matching the path.
func writeAllow(w http.ResponseWriter, router *mux.Router, r *http.Request) {
	var allowed []string
	_ = router.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		var m mux.RouteMatch
		probe := r.Clone(r.Context())
		methods, err := rt.GetMethods()
		if err != nil {
			return nil
		}
		for _, method := range methods {
			probe.Method = method
			if rt.Match(probe, &m) && m.MatchErr == nil {
				allowed = append(allowed, method)
			}
		}
		return nil
	})
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
	}
}

// handleMetrics serves the Prometheus registry.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if s.promHTTP == nil {
		s.problem(w, r, errNotFound("this server exposes no metrics"))
		return
	}
	s.promHTTP.ServeHTTP(w, r)
}

// Route is a route as registered in the router.
type Route struct {
	Name   string // the OpenAPI operationId
	Method string
	Path   string // the mux path template
}

// Routes walks the router and returns every route registered in it (a GET route also answers HEAD,
// which is not listed).
func (s *Server) Routes() []Route {
	var out []Route
	_ = s.router.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := rt.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, _ := rt.GetMethods()
		for _, m := range methods {
			if m == http.MethodHead {
				continue // every GET route answers HEAD too
			}
			out = append(out, Route{Name: rt.GetName(), Method: m, Path: tpl})
		}
		return nil
	})
	return out
}
