package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	cschttp "github.com/metropolis/csc/http"
	"github.com/metropolis/csc/projections"
)

// serveConfig is what csc serve runs with: flags, defaulted from the environment.
type serveConfig struct {
	addr     string // CSC_ADDR, ":8080"
	data     string // CSC_DATA, "./csc-data"
	store    string // CSC_STORE, "" (the embedded store in the data folder)
	logLevel string // CSC_LOG_LEVEL, "info"
	demo     bool
	secret   string // CSC_TOKEN_SECRET (environment only: flags show up in ps)
}

func (m *Main) parseServe(args []string) (serveConfig, error) {
	cfg := serveConfig{secret: m.Getenv("CSC_TOKEN_SECRET")}
	fs := flag.NewFlagSet("csc serve", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.StringVar(&cfg.addr, "addr", m.getenv("CSC_ADDR", ":8080"), "listen address (env CSC_ADDR)")
	fs.StringVar(&cfg.data, "data", m.getenv("CSC_DATA", "./csc-data"), "data folder: store, token secret, tokens.json (env CSC_DATA)")
	fs.StringVar(&cfg.store, "store", m.getenv("CSC_STORE", ""), "store: empty for <data>/events.db, a file path, sqlite:<path>, or esdb://host:2113?tls=false (env CSC_STORE)")
	fs.StringVar(&cfg.logLevel, "log-level", m.getenv("CSC_LOG_LEVEL", "info"), "debug, info, warn or error (env CSC_LOG_LEVEL)")
	fs.BoolVar(&cfg.demo, "demo", false, "also seed sample roadmap items and updates in every founding city")
	if err := parse(fs, args, m.Stdout); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usagef("serve: log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// runServe starts the server and returns once it listens.
func (m *Main) runServe(ctx context.Context, args []string) error {
	if m.app != nil {
		return errors.New("serve: a server is already running")
	}
	cfg, err := m.parseServe(args)
	if err != nil {
		return err
	}
	level, err := parseLevel(cfg.logLevel)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: level}))
	a, err := m.startApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	m.app = a
	log.Info("csc serving", "url", a.server.URL(), "store", a.storeName, "tokens", a.tokensPath,
		"hint", "curl -H \"Authorization: Bearer $(jq -r .coordinator "+a.tokensPath+")\" "+a.server.URL()+"/v1/progress")
	return nil
}

// app is a running server and everything it owns.
type app struct {
	log        *slog.Logger
	store      eventstore.Store
	storeName  string
	codec      *domain.Codec
	items      *cschttp.ItemEngine
	collab     *cschttp.CollaboratoryEngine
	tokens     *cschttp.Tokens
	runner     *projections.Runner
	stopRunner context.CancelFunc
	runnerDone chan struct{}
	server     *cschttp.Server
	registry   *prometheus.Registry
	tokensPath string
	unlock     func() error // releases the data folder's lock
}

// startApp checks the configuration and binds the listen address first, so that a start that cannot
// succeed (a bad setting, a busy port) fails before it writes anything; then it opens the data folder
// and the store, launches the pilot on first start (and writes tokens.json), seeds the demo when
// asked, starts the projections and the HTTP server.
func (m *Main) startApp(ctx context.Context, cfg serveConfig, log *slog.Logger) (a *app, err error) {
	ref, err := parseStoreRef(cfg.store, cfg.data)
	if err != nil {
		return nil, err
	}
	// A store file outside the data folder must be in a folder that exists (the data folder is made).
	if ref.url == "" && filepath.Clean(filepath.Dir(ref.path)) != filepath.Clean(cfg.data) {
		if err := checkStoreFile(ref.path); err != nil {
			return nil, err
		}
	}
	// A token secret in the data folder is read (and checked) before anything is written; a missing
	// one is made only once the store is open.
	secret, secretFrom, err := loadSecret(cfg.secret, cfg.data, false)
	if err != nil && !errors.Is(err, errNoSecret) {
		return nil, err
	}
	// The address is bound now, and the server serves on this listener: a busy port fails the start
	// here, before the data folder is touched.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	defer func() {
		if ln != nil {
			ln.Close()
		}
	}()
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	a = &app{log: log, codec: domain.NewCodec(), registry: prometheus.NewRegistry()}
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			a.shutdown(5 * time.Second) // a failed start: err says why, nothing "stopped cleanly"
		}
	}()

	// One server per store: a second one's read models would miss the first one's writes. The lock is
	// beside the SQLite file (whatever the data folder), or in the data folder for EventStoreDB, where
	// several servers may share the store but not a data folder.
	lock, what := filepath.Join(cfg.data, lockFile), "the data folder "+cfg.data
	if ref.url == "" {
		lock, what = ref.path+".lock", "the event store "+ref.path
	}
	if a.unlock, err = lockFor(lock, what); err != nil {
		return a, err
	}
	a.store, a.storeName, err = openStore(ctx, ref, a.registry, log)
	if err != nil {
		return a, err
	}
	a.items, err = eventstore.NewEngine[domain.RoadmapItem, domain.Event](a.store, a.codec, domain.RoadmapItem{}, domain.EvolveItem,
		eventstore.EngineOptions{Name: "roadmap_item", Registerer: a.registry})
	if err != nil {
		return a, err
	}
	a.collab, err = eventstore.NewEngine[domain.Collaboratory, domain.Event](a.store, a.codec, domain.Collaboratory{}, domain.EvolveCollaboratory,
		eventstore.EngineOptions{Name: "collaboratory", Registerer: a.registry})
	if err != nil {
		return a, err
	}
	if secret == nil {
		if secret, secretFrom, err = loadSecret(cfg.secret, cfg.data, true); err != nil {
			return a, err
		}
	}
	if a.tokens, err = cschttp.NewTokens(secret, m.Now); err != nil {
		return a, err
	}

	// With --demo on a new store, the launch starts the demo's history, years back (see demo.go).
	launchAt := m.Now()
	if cfg.demo {
		launchAt = demoLaunch(launchAt)
	}
	launched, err := launchPilotAt(ctx, a.collab, launchAt, cfg.demo)
	if err != nil {
		return a, err
	}
	if launched {
		log.Info("first start: launched the collaboratory with the founding cities", "collaboratory", domain.PilotSlug,
			"cities", len(domain.FoundingCities()))
	}
	a.tokensPath, err = filepath.Abs(filepath.Join(cfg.data, tokensFile))
	if err != nil {
		return a, err
	}
	wrote, err := writeTokens(a.tokensPath, secret, m.Now)
	if err != nil {
		return a, err
	}
	switch wrote {
	case "":
	case tokensMissing:
		log.Info("wrote tokens for the admin, the coordinator, the auditor and a member of each founding city",
			"file", a.tokensPath, "secret", secretFrom, "ttl", FirstStartTokenTTL.String())
	default:
		log.Warn("rewrote "+tokensFile+" with new tokens: the tokens in it would have been refused", "reason", wrote,
			"file", a.tokensPath, "secret", secretFrom, "ttl", FirstStartTokenTTL.String())
	}
	if cfg.demo {
		n, err := seedDemo(ctx, a.items, a.collab, m.Now())
		if err != nil {
			return a, fmt.Errorf("demo: %w", err)
		}
		log.Info("demo data seeded", "commands", n.commands, "appended", n.appended)
	}

	a.runner = projections.NewRunner(a.store, a.codec, projections.Options{Logger: log, Registerer: a.registry, Now: m.Now})
	runCtx, stop := context.WithCancel(context.Background())
	a.stopRunner, a.runnerDone = stop, make(chan struct{})
	go func() {
		defer close(a.runnerDone)
		if err := a.runner.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("projections stopped: reads are stale until a restart", "err", err)
		}
	}()

	a.server, err = cschttp.NewServer(cschttp.Config{
		Store: a.store, Codec: a.codec, Items: a.items, Collaboratory: a.collab, Projections: a.runner,
		Tokens: a.tokens, Registerer: a.registry, Gatherer: a.registry, Logger: log, Now: m.Now,
	})
	if err != nil {
		return a, err
	}
	// The server takes over the listener bound at the start.
	a.server.Serve(ln)
	ln = nil
	return a, nil
}

// close stops the server (see shutdown) and logs how it stopped.
func (a *app) close(timeout time.Duration) error {
	err := a.shutdown(timeout)
	if err != nil {
		a.log.Error("stopped with errors", "err", err)
	} else {
		a.log.Info("stopped cleanly")
	}
	return err
}

// shutdown drains the HTTP server (bounded by timeout), stops the projections and closes the store.
// It also undoes a start that failed half-way.
func (a *app) shutdown(timeout time.Duration) error {
	var errs []error
	if a.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		if err := a.server.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	if a.stopRunner != nil {
		a.stopRunner()
		<-a.runnerDone
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	if a.unlock != nil {
		if err := a.unlock(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
