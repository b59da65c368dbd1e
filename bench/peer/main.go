// Command peer measures CSC's SQLite event store against a peer on the same append workload, for
// BENCHMARKS.md: github.com/hallgren/eventsourcing's SQL event store
// (github.com/hallgren/eventsourcing/eventstore/sql) on the same SQLite driver (modernc.org/sqlite)
// with the same pragmas (WAL journal, synchronous=FULL, our busy timeout).
//
// It runs in its own Go module (github.com/metropolis/csc/bench) so that the main module does not
// depend on the peer, and writes its figures as JSON for `csc bench --peer FILE`, which adds them to
// the report's table; `make bench` runs both.
//
// For 1 and 64 writers it alternates, over several rounds, our store (sqlite.MeasureAppends) and
// the peer (each writer saves one event at a time to an aggregate of its own, with the peer's version
// check, and waits for Save to return), each on a fresh file in the scratch folder, with the raw
// fsync loop (sqlite.MeasureFsync) run just before and just after each measurement.
//
// Usage:
//
//	cd bench && go run ./peer --out /tmp/peer.json [--dir DIR] [--quick] [--n1 N] [--n64 N]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/metropolis/csc/eventstore/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

// peerFormat names the JSON layout; cmd/csc (bench_peer.go) reads this one only.
const peerFormat = "csc-bench-peer/1"

// The modules whose versions the file records.
const (
	peerCoreModule  = "github.com/hallgren/eventsourcing/core"
	peerStoreModule = "github.com/hallgren/eventsourcing/eventstore/sql"
	driverModule    = "modernc.org/sqlite"
)

// peerFile is what the program writes.
type peerFile struct {
	Format    string    `json:"format"`
	Command   string    `json:"command"`
	Date      time.Time `json:"date"`
	GoVersion string    `json:"go_version"`
	Dir       string    `json:"dir"` // the scratch folder's parent
	// PeerModules are the peer's modules in the binary, with their versions.
	PeerModules []module `json:"peer_modules"`
	Driver      driver   `json:"driver"`
	Pragmas     []string `json:"pragmas"` // of every connection, both stores
	Loads       []load   `json:"loads"`
}

type module struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

type driver struct {
	Name    string `json:"name"` // the driver name of eventstore/sqlite, e.g. "modernc"
	Module  string `json:"module"`
	Version string `json:"version"`
}

// load is one writer count: every round and the medians.
type load struct {
	Writers int `json:"writers"`
	OursN   int `json:"ours_n"` // appends per measurement of our store
	PeerN   int `json:"peer_n"` // saves per measurement of the peer
	// PeerPool is the peer's database/sql connection limit (0: database/sql's default, unlimited);
	// PeerSetup says how the peer was configured, and why.
	PeerPool  int     `json:"peer_pool"`
	PeerSetup string  `json:"peer_setup"`
	Rounds    []round `json:"rounds"`
	// The medians over the rounds (the lower one of an even count).
	OursVsPeer  float64 `json:"ours_vs_peer_median"`
	PeerVsFsync float64 `json:"peer_vs_fsync_median"`
}

// round is one round of a load: both stores, each with the raw fsync rate around it (the mean of
// the loops run just before and just after it).
type round struct {
	Ours        float64 `json:"ours_appends_per_s"`
	OursFsync   float64 `json:"ours_fsync_per_s"`
	Peer        float64 `json:"peer_appends_per_s"`
	PeerFsync   float64 `json:"peer_fsync_per_s"`
	OursVsPeer  float64 `json:"ours_vs_peer"`
	PeerVsFsync float64 `json:"peer_vs_fsync"`
	OursFirst   bool    `json:"ours_first"` // the order alternates from round to round
}

// config is a parsed command line.
type config struct {
	out, dir        string
	rounds          int
	bracket         int // iterations of each fsync loop around a measurement
	n1, n64         int // our appends per measurement
	peerN1, peerN64 int // the peer's; 0 means the same as ours
	pool            int
	args            []string
}

// peerSetupText says how the peer's handle is configured.
func peerSetupText(pool int) string {
	if pool == 0 {
		return "database/sql's default pool (no connection limit)"
	}
	return fmt.Sprintf("database/sql pool limited to %d open connection (db.SetMaxOpenConns(%d)), as the peer's own SQLite "+
		"tests set it for concurrent saves (eventstore/sql sqlite_test.go of its later versions, whose NewSQLiteSingelWriter "+
		"also serializes saves); with database/sql's default pool, 64 writers' deferred transactions (read the last "+
		"version, then insert) fail with SQLITE_BUSY despite the busy timeout", pool, pool)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config{args: args}
	quick := fs.Bool("quick", false, "small sizes, one round: checks that everything runs, rough figures")
	fs.StringVar(&cfg.out, "out", "", "write the figures to this JSON file (- for stdout); required")
	fs.StringVar(&cfg.dir, "dir", os.TempDir(), "create the scratch files in this folder (on the disk to measure)")
	fs.IntVar(&cfg.rounds, "rounds", 3, "rounds per writer count")
	fs.IntVar(&cfg.bracket, "bracket", 300, "iterations of the fsync loops run before and after each measurement")
	fs.IntVar(&cfg.n1, "n1", 1500, "appends per measurement with 1 writer")
	fs.IntVar(&cfg.n64, "n64", 40_000, "appends per measurement with 64 writers")
	fs.IntVar(&cfg.peerN1, "peer-n1", 0, "the peer's saves per measurement with 1 writer (0: as --n1)")
	fs.IntVar(&cfg.peerN64, "peer-n64", 0, "the peer's saves per measurement with 64 writers (0: as --n64)")
	fs.IntVar(&cfg.pool, "peer-pool", 1, "the peer's database/sql connection limit (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *quick {
		// Small sizes for the flags not given explicitly.
		given := make(map[string]bool)
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		for _, q := range []struct{ name, value string }{{"rounds", "1"}, {"bracket", "100"}, {"n1", "300"}, {"n64", "5000"}} {
			if !given[q.name] {
				if err := fs.Set(q.name, q.value); err != nil {
					return err
				}
			}
		}
	}
	if cfg.out == "" {
		return errors.New("--out is required")
	}
	if cfg.rounds < 1 || cfg.bracket < 1 || cfg.pool < 0 {
		return fmt.Errorf("want --rounds and --bracket at least 1 and --peer-pool at least 0, got %d, %d, %d", cfg.rounds, cfg.bracket, cfg.pool)
	}
	for _, l := range cfg.loads() {
		if l.ours < l.writers || l.peer < l.writers {
			return fmt.Errorf("want at least one append per writer, got %d and %d (peer) for %d writers", l.ours, l.peer, l.writers)
		}
	}
	if fi, err := os.Stat(cfg.dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("scratch folder %s: not a folder (%v)", cfg.dir, err)
	}

	f, err := measure(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if cfg.out == "-" {
		_, err := stdout.Write(b)
		return err
	}
	if err := os.WriteFile(cfg.out, b, 0o644); err != nil {
		return fmt.Errorf("write figures: %w", err)
	}
	fmt.Fprintf(stderr, "peer: wrote %s\n", cfg.out)
	return nil
}

// measure runs every round of both writer counts.
func measure(ctx context.Context, cfg config, progress io.Writer) (peerFile, error) {
	f := peerFile{
		Format:    peerFormat,
		Command:   strings.TrimSpace("peer " + strings.Join(cfg.args, " ")),
		Date:      time.Now().UTC().Truncate(time.Second),
		GoVersion: runtime.Version(),
		Dir:       cfg.dir,
		Pragmas:   peerPragmas(),
	}
	versions, err := moduleVersions(peerCoreModule, peerStoreModule, driverModule)
	if err != nil {
		return peerFile{}, err
	}
	f.PeerModules = []module{
		{Path: peerStoreModule, Version: versions[peerStoreModule]},
		{Path: peerCoreModule, Version: versions[peerCoreModule]},
	}
	f.Driver = driver{Name: sqlite.DriverModernc, Module: driverModule, Version: versions[driverModule]}

	for _, l := range cfg.loads() {
		ld := load{Writers: l.writers, OursN: l.ours, PeerN: l.peer, PeerPool: cfg.pool, PeerSetup: peerSetupText(cfg.pool)}
		for i := range cfg.rounds {
			r, err := measureRound(ctx, cfg, l.writers, l.ours, l.peer, i%2 == 0)
			if err != nil {
				return peerFile{}, fmt.Errorf("%d writers, round %d: %w", l.writers, i+1, err)
			}
			fmt.Fprintf(progress, "peer: %d writers, round %d/%d: ours %.0f appends/s (raw fsync %.0f/s around it), peer %.0f appends/s (raw fsync %.0f/s around it): ours/peer %.2f×, peer/fsync %.2f×\n",
				l.writers, i+1, cfg.rounds, r.Ours, r.OursFsync, r.Peer, r.PeerFsync, r.OursVsPeer, r.PeerVsFsync)
			ld.Rounds = append(ld.Rounds, r)
		}
		ld.OursVsPeer = median(ld.Rounds, func(r round) float64 { return r.OursVsPeer })
		ld.PeerVsFsync = median(ld.Rounds, func(r round) float64 { return r.PeerVsFsync })
		f.Loads = append(f.Loads, ld)
	}
	return f, nil
}

// loadSize is the work of one writer count.
type loadSize struct{ writers, ours, peer int }

// loads are the writer counts measured, with the peer's sizes defaulting to ours.
func (cfg config) loads() []loadSize {
	or := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	return []loadSize{
		{writers: 1, ours: cfg.n1, peer: or(cfg.peerN1, cfg.n1)},
		{writers: 64, ours: cfg.n64, peer: or(cfg.peerN64, cfg.n64)},
	}
}

// measureRound measures both stores once, ours first when oursFirst, with a raw fsync loop before,
// between and after them.
func measureRound(ctx context.Context, cfg config, writers, oursN, peerN int, oursFirst bool) (round, error) {
	ours := func() (float64, error) {
		return sqlite.MeasureAppends(ctx, cfg.dir, sqlite.DriverModernc, writers, oursN)
	}
	peer := func() (float64, error) { return measurePeer(ctx, cfg.dir, writers, peerN, cfg.pool) }
	steps := []func() (float64, error){ours, peer}
	if !oursFirst {
		steps = []func() (float64, error){peer, ours}
	}
	before, err := sqlite.MeasureFsync(cfg.dir, cfg.bracket)
	if err != nil {
		return round{}, err
	}
	var figures, fsyncs [2]float64
	for k, step := range steps {
		if figures[k], err = step(); err != nil {
			return round{}, err
		}
		after, err := sqlite.MeasureFsync(cfg.dir, cfg.bracket)
		if err != nil {
			return round{}, err
		}
		fsyncs[k] = (before + after) / 2
		before = after
	}
	r := round{OursFirst: oursFirst}
	if oursFirst {
		r.Ours, r.OursFsync, r.Peer, r.PeerFsync = figures[0], fsyncs[0], figures[1], fsyncs[1]
	} else {
		r.Peer, r.PeerFsync, r.Ours, r.OursFsync = figures[0], fsyncs[0], figures[1], fsyncs[1]
	}
	if !(r.Ours > 0 && r.Peer > 0 && r.OursFsync > 0 && r.PeerFsync > 0) || math.IsInf(r.Ours+r.Peer, 0) {
		return round{}, fmt.Errorf("figures not positive and finite: %+v", r)
	}
	r.OursVsPeer = r.Ours / r.Peer
	r.PeerVsFsync = r.Peer / r.PeerFsync
	return r, nil
}

// median returns the median of value over rounds (the lower one of an even count), as csc bench
// picks its median round.
func median(rounds []round, value func(round) float64) float64 {
	var v []float64
	for _, r := range rounds {
		v = append(v, value(r))
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[(len(v)-1)/2]
}

// moduleVersions returns the versions of the modules at paths, as built into this binary.
func moduleVersions(paths ...string) (map[string]string, error) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil, errors.New("module versions: no build information in the binary")
	}
	out := make(map[string]string)
	for _, dep := range info.Deps {
		if slices.Contains(paths, dep.Path) {
			v := dep.Version
			if dep.Replace != nil {
				v = dep.Replace.Path + " " + dep.Replace.Version
			}
			out[dep.Path] = v
		}
	}
	for _, p := range paths {
		if out[p] == "" {
			return nil, fmt.Errorf("module versions: %s is not in the binary's build information", p)
		}
	}
	return out, nil
}
