package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/sqlite"
	"github.com/metropolis/csc/projections"
)

// csc bench: named measurements, each producing rows, rendered as one Markdown report (BENCHMARKS.md).
//
// The machines are shared and noisy, so a timing is never reported alone: every row is either a raw
// baseline (the fsync rate of the scratch disk, the raw scan rate of a log, a query's latency at a
// small history) or carries the baseline it is compared to, measured in the same run right next to
// it, and the ratio between the two. Goals are ratios where the issues allow ("64 writers reach at
// least 10× the raw fsync rate", "a rebuild reaches 70 % of the raw scan rate"); goals the issues
// state as absolute figures ("p99 ≤ 25 ms") are judged on the figure (the median of the rounds'),
// shown next to its baseline.
// The report says whether each was met.

// benchLoad is one measured workload: Writers concurrent writers (or clients) sharing N operations.
type benchLoad struct {
	Writers int
	N       int
}

// benchSizes are the amounts of work of a run.
type benchSizes struct {
	Fsync   int         // iterations of the stand-alone write + fsync loop
	Bracket int         // iterations of the fsync loops run just before and just after each compared figure
	Rounds  int         // times each compared figure is measured; the report shows the median round
	Appends []benchLoad // one-event durable appends through the store
	Engine  []benchLoad // commands through the command engine
	// History is the number of events of the workload log (projections.WriteWorkload) written once
	// per run: the rebuild reads it, and the HTTP load's large history is a copy of it.
	History int
	HTTP    benchHTTPLoad
}

// benchHTTPLoad is the HTTP load: Clients concurrent clients for Time against a real server, on a
// fresh log of SmallHistory events and on a copy of the run's workload log.
type benchHTTPLoad struct {
	Clients      int
	Time         time.Duration
	SmallHistory int
}

// fullSizes take one to a few seconds per round on a disk doing ~2,000 fsync/s; the HTTP load runs
// 10 s per round and history size.
func fullSizes() benchSizes {
	return benchSizes{
		Fsync: 2000, Bracket: 300, Rounds: 3,
		Appends: []benchLoad{{Writers: 1, N: 1500}, {Writers: 64, N: 40_000}},
		Engine:  []benchLoad{{Writers: 1, N: 1500}, {Writers: 64, N: 20_000}},
		History: 1_000_000,
		HTTP:    benchHTTPLoad{Clients: 64, Time: 10 * time.Second, SmallHistory: 1000},
	}
}

// quickSizes check that everything runs, in seconds; their figures are rougher.
func quickSizes() benchSizes {
	return benchSizes{
		Fsync: 300, Bracket: 100, Rounds: 1,
		Appends: []benchLoad{{Writers: 1, N: 300}, {Writers: 64, N: 5000}},
		Engine:  []benchLoad{{Writers: 1, N: 300}, {Writers: 64, N: 3000}},
		History: 50_000,
		HTTP:    benchHTTPLoad{Clients: 64, Time: 2 * time.Second, SmallHistory: 1000},
	}
}

// benchEnv is what a measurement gets to work with.
type benchEnv struct {
	dir      string   // scratch folder, on the disk whose fsync rate is the baseline
	drivers  []string // the SQLite drivers compiled into this binary
	sizes    benchSizes
	progress io.Writer // one line per round measured
	// log is the run's workload log, written by the first measurement that needs it (historyLog);
	// nil when the environment has none.
	log *benchLog
}

// benchBase is the figure a row is compared to, measured in the same run, next to the row's figure.
type benchBase struct {
	Name  string // e.g. "raw fsync"
	Value float64
	Unit  string
	When  string // when it was measured, relative to the figure; "" for "around it"
}

// benchRow is one figure of the report.
type benchRow struct {
	Key    string // unique within a run
	Name   string
	Driver string // "" when the figure does not depend on the SQLite driver
	Value  float64
	Unit   string // e.g. "appends/s"
	Sample string // the work timed, e.g. "40,000 appends"
	// Base is what Value is compared to; nil for a raw figure. With several rounds, Value and Base are
	// those of the round with the median ratio, Ratios holds the ratio of every round and Values the
	// value of every round.
	Base   *benchBase
	Ratios []float64
	Values []float64
	// Goal is the least Value/Base ratio wanted, GoalMax the greatest; 0 means no such goal.
	Goal, GoalMax float64
	// AtLeast and AtMost are goals on the figure itself, in Unit, for the issues' goals stated as
	// absolute figures ("p99 ≤ 25 ms"); 0 means no such goal. They are judged on the median of Values
	// when there are several rounds (the round with the median ratio need not have the median
	// figure), else on Value. The report shows them next to the baseline measured in the same run,
	// which tells how far the machine is from the one they were set for.
	AtLeast, AtMost float64
}

// ratio returns Value/Base.
func (r benchRow) ratio() (float64, bool) {
	if r.Base == nil || !(r.Base.Value > 0) {
		return 0, false
	}
	return r.Value / r.Base.Value, true
}

// benchVerdict is one goal of a row, judged.
type benchVerdict struct {
	Want  string // the goal: "≥ 10.0×", "≤ 25 ms"
	Got   string // what is judged: "12.5× raw fsync (median of 3 rounds: …)", "3,200 commands/s"
	Known bool   // false when the goal is a ratio and no baseline was measured
	Met   bool
}

// verdicts judges the row's goals, ratio goals first.
func (r benchRow) verdicts() []benchVerdict {
	var out []benchVerdict
	x, ok := r.ratio()
	got := ""
	if ok {
		got = benchRatioText(x) + " " + r.Base.Name + r.spread()
	}
	if r.Goal > 0 {
		out = append(out, benchVerdict{Want: "≥ " + benchRatioText(r.Goal), Got: got, Known: ok, Met: ok && x >= r.Goal})
	}
	if r.GoalMax > 0 {
		out = append(out, benchVerdict{Want: "≤ " + benchRatioText(r.GoalMax), Got: got, Known: ok, Met: ok && x <= r.GoalMax})
	}
	v, figure := r.Value, benchFigure(r.Value)+" "+r.Unit
	if len(r.Values) > 1 {
		v = benchMedian(r.Values)
		figure = fmt.Sprintf("%s %s (median of %d rounds: %s–%s)", benchFigure(v), r.Unit, len(r.Values),
			benchFigure(slices.Min(r.Values)), benchFigure(slices.Max(r.Values)))
	}
	if r.AtLeast > 0 {
		out = append(out, benchVerdict{Want: "≥ " + benchFigure(r.AtLeast) + " " + r.Unit, Got: figure, Known: true, Met: v >= r.AtLeast})
	}
	if r.AtMost > 0 {
		out = append(out, benchVerdict{Want: "≤ " + benchFigure(r.AtMost) + " " + r.Unit, Got: figure, Known: true, Met: v <= r.AtMost})
	}
	return out
}

// benchMeasurement is a named step of a run (--only selects by name).
type benchMeasurement struct {
	name  string
	about string // what is measured and how, for the report
	run   func(ctx context.Context, env benchEnv) ([]benchRow, error)
}

// appendsGoal is the goal: durable appends/s with 64 writers at least 10× the raw fsync rate.
const (
	appendsGoal        = 10
	appendsGoalWriters = 64
)

// fsyncBaseName names the raw fsync baseline in the report.
const fsyncBaseName = "raw fsync"

// benchMeasurements lists the measurements in the order they run. Further figures are added here as
// further measurements.
func benchMeasurements() []benchMeasurement {
	return []benchMeasurement{
		{
			name: "fsync",
			about: "Raw fsync rate of the scratch disk: a loop appending a 512-byte record to one file " +
				"and fsyncing it (sqlite.MeasureFsync). Every other timing is compared with this loop, " +
				"run again just before and just after it (the mean of the two is its baseline), so " +
				"that a disk that other processes load for a while does not skew the ratio.",
			run: runFsyncBench,
		},
		{
			name: "appends",
			about: "Durable appends through the SQLite store (sqlite.MeasureAppends, a fresh file each " +
				"time): each writer appends one event (about 550 bytes) at a time to its own stream, with " +
				"its exact expected revision, and waits until the group commit holding it is fsynced. " +
				"N appends are shared by the writers; the figure is N over the wall time. The ceiling " +
				"rows run the same 64-writer workload with the writer's fsync skipped " +
				"(sqlite.MeasureAppendCeiling: same statements, transactions and WAL writes, nothing " +
				"durable): no group commit can make durable appends faster than that on the same CPU.",
			run: runAppendsBench,
		},
		{
			name: "engine",
			about: "Commands through the command engine (eventstore.Engine) on the SQLite store, with the " +
				"real domain deciders: each client drives roadmap items of its city through their " +
				"lifecycle (propose, approve as coordinator, start, 5 updates with a measurement and " +
				"evidence, complete), one event per command, each command acknowledged once durable. " +
				"The clients share N commands; the figure is N over the wall time.",
			run: runEngineBench,
		},
		{
			name: "rebuild",
			about: "Rebuild of every read model from the run's workload log, and the raw scan rate of the " +
				"same file. The log is written once per run (projections.WriteWorkload, seed 1: the pilot " +
				"launched, cities joining, members coming and going, roadmap items through their whole " +
				"lifecycle with revisions, updates, measurements, corrections and evidence, every event " +
				"decided by the domain and chained as the engine does) into a SQLite file in the scratch " +
				"folder. After one untimed scan that warms the page cache and one untimed rebuild that " +
				"warms the heap (the first rebuild of a process takes its memory from the OS page by " +
				"page: 1.6-2.7× the CPU of the next ones in-process), raw scans " +
				"(sqlite.MeasureScan: every row in position order, raw column bytes, no decoding) and " +
				"rebuilds (projections.MeasureRebuild: the pipeline of Rebuild and BuildAsOf, from the " +
				"store's read of $all (ReadAllViews: payloads as read-only views, not copies) through " +
				"parallel decoding to indexed models) alternate, so that noise " +
				"hits both; a round's rebuild is compared with the scan just before it. The memory row " +
				"is the highest heap (live and unswept objects, sampled every 2 ms) during the rebuild, " +
				"against the heap after a garbage collection once built, with only the models left: the " +
				"read models' own size.",
			run: runRebuildBench,
		},
		{
			name: "memory",
			about: "Peak heap of the auditor's and operator's bulk commands on the run's workload log " +
				"(see rebuild), each run once, in-process, as the binary runs it: `csc export --format " +
				"jsonl` into a file, and `csc copy` into a new SQLite file (appends, then the target's " +
				"verification). The heap (live and unswept objects) is sampled every 2 ms from a " +
				"garbage collection before the command to its end, and compared with the read models' " +
				"own heap: the heap after a garbage collection once a rebuild (projections.MeasureRebuild) " +
				"has built them. The rebuild's own peak is the rebuild measurement's memory row.",
			run: runMemoryBench,
		},
		{
			name: "http",
			about: "`csc loadgen`'s load against a real `csc serve` stack (SQLite store, engines, " +
				"projections, HTTP API with tokens and metrics) on 127.0.0.1: concurrent clients run " +
				"item lifecycles (propose, approve, start, 10 updates, complete; each command " +
				"acknowledged once durable) for a fixed time, while one client reads `GET /v1/progress` " +
				"about once per millisecond and the same query is timed on the read model alone, " +
				"in-process. Latencies are client-side round trips over loopback; client and server " +
				"share the process and the CPUs, so each client is lean: one keep-alive connection, " +
				"requests written by hand, responses read with net/http's parser on the client's own " +
				"goroutine. The small history is seeded through the engines into " +
				"a fresh file; the large one is a copy of the run's workload log (see rebuild), made " +
				"afresh for each round. Each round runs the small history, then the large one, with " +
				"fsync loops before, between and after; command latencies are compared with the time " +
				"of one fsync, and the large history's query latency with the small one's of the same " +
				"round.",
			run: runHTTPBench,
		},
	}
}

// selectBenchMeasurements returns the measurements named in only (all when only is empty), in run
// order.
func selectBenchMeasurements(all []benchMeasurement, only []string) ([]benchMeasurement, error) {
	if len(only) == 0 {
		return all, nil
	}
	var names []string
	for _, m := range all {
		names = append(names, m.name)
	}
	for _, name := range only {
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("unknown measurement %q (known: %s)", name, strings.Join(names, ", "))
		}
	}
	var out []benchMeasurement
	for _, m := range all {
		if slices.Contains(only, m.name) {
			out = append(out, m)
		}
	}
	return out, nil
}

func runFsyncBench(_ context.Context, env benchEnv) ([]benchRow, error) {
	rate, err := sqlite.MeasureFsync(env.dir, env.sizes.Fsync)
	if err != nil {
		return nil, err
	}
	return []benchRow{{
		Key: "fsync", Name: fsyncBaseName + " (write + fsync loop)", Value: rate, Unit: "fsync/s",
		Sample: benchCount(env.sizes.Fsync, "fsync", "fsyncs"),
	}}, nil
}

func runAppendsBench(ctx context.Context, env benchEnv) ([]benchRow, error) {
	var rows []benchRow
	for _, drv := range env.drivers {
		for _, l := range env.sizes.Appends {
			row := benchRow{
				Key:    fmt.Sprintf("appends/%s/%d", drv, l.Writers),
				Name:   "durable appends, " + benchCount(l.Writers, "writer", "writers"),
				Driver: drv, Unit: "appends/s", Sample: benchCount(l.N, "append", "appends"),
			}
			if l.Writers == appendsGoalWriters {
				row.Goal = appendsGoal
			}
			err := env.vsFsync(&row, func() (float64, error) {
				return sqlite.MeasureAppends(ctx, env.dir, drv, l.Writers, l.N)
			})
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", drv, benchCount(l.Writers, "writer", "writers"), err)
			}
			rows = append(rows, row)
			if l.Writers != appendsGoalWriters {
				continue
			}
			ceiling := benchRow{
				Key:    fmt.Sprintf("appends-ceiling/%s/%d", drv, l.Writers),
				Name:   "appends with the writer's fsync skipped (the ceiling of a group commit), " + benchCount(l.Writers, "writer", "writers"),
				Driver: drv, Unit: "appends/s", Sample: benchCount(l.N, "append", "appends"),
			}
			err = env.vsFsync(&ceiling, func() (float64, error) {
				return sqlite.MeasureAppendCeiling(ctx, env.dir, drv, l.Writers, l.N)
			})
			if err != nil {
				return nil, fmt.Errorf("%s, %s, fsync skipped: %w", drv, benchCount(l.Writers, "writer", "writers"), err)
			}
			rows = append(rows, ceiling)
		}
	}
	return rows, nil
}

func runEngineBench(ctx context.Context, env benchEnv) ([]benchRow, error) {
	var rows []benchRow
	for _, drv := range env.drivers {
		for _, l := range env.sizes.Engine {
			row := benchRow{
				Key:    fmt.Sprintf("engine/%s/%d", drv, l.Writers),
				Name:   "engine commands, " + benchCount(l.Writers, "client", "clients"),
				Driver: drv, Unit: "commands/s", Sample: benchCount(l.N, "command", "commands"),
			}
			err := env.vsFsync(&row, func() (float64, error) {
				return inScratch(env.dir, "engine", func(dir string) (float64, error) {
					return measureEngine(ctx, dir, drv, l.Writers, l.N)
				})
			})
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", drv, benchCount(l.Writers, "client", "clients"), err)
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// vsFsync measures row's figure env.sizes.Rounds times, each round between two short fsync loops on
// the scratch disk whose mean rate is the round's baseline, and sets row's Value and Base to the round
// with the median ratio and Ratios to the ratio of every round. A baseline taken next to each figure
// keeps the ratio meaningful on a disk that other processes load now and then.
func (env benchEnv) vsFsync(row *benchRow, measure func() (float64, error)) error {
	rounds := max(env.sizes.Rounds, 1)
	results := make([]benchRound, 0, rounds)
	for i := range rounds {
		before, err := sqlite.MeasureFsync(env.dir, env.sizes.Bracket)
		if err != nil {
			return err
		}
		value, err := measure()
		if err != nil {
			return err
		}
		after, err := sqlite.MeasureFsync(env.dir, env.sizes.Bracket)
		if err != nil {
			return err
		}
		r := benchRound{value: value, base: (before + after) / 2}
		results = append(results, r)
		if env.progress != nil {
			fmt.Fprintf(env.progress, "bench: %s, round %d/%d: %s %s, %s %s before and %s after: %s\n",
				row.label(), i+1, rounds, benchFigure(value), row.Unit, fsyncBaseName,
				benchFigure(before), benchFigure(after), benchRatioText(value/r.base))
		}
	}
	row.setMedianRound(results, benchBase{Name: fsyncBaseName, Unit: "fsync/s"})
	return nil
}

// benchRound is one round of a compared figure: the figure and its baseline.
type benchRound struct{ value, base float64 }

// setMedianRound sets row's Value, and Base (base with its Value filled in), to those of the round
// with the median value/base ratio, and Ratios to the ratio of every round, in round order.
func (row *benchRow) setMedianRound(rounds []benchRound, base benchBase) {
	if len(rounds) == 0 {
		return
	}
	row.Ratios = make([]float64, len(rounds))
	row.Values = make([]float64, len(rounds))
	for i, r := range rounds {
		row.Ratios[i] = r.value / r.base
		row.Values[i] = r.value
	}
	sorted := slices.SortedFunc(slices.Values(rounds), func(a, b benchRound) int {
		return cmp.Compare(a.value/a.base, b.value/b.base)
	})
	median := sorted[(len(sorted)-1)/2]
	row.Value = median.value
	base.Value = median.base
	row.Base = &base
}

// benchMedian returns the median of values (the lower one of an even count).
func benchMedian(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	return slices.Sorted(slices.Values(values))[(len(values)-1)/2]
}

// label is the row's name with its driver, for progress lines.
func (r benchRow) label() string {
	if r.Driver == "" {
		return r.Name
	}
	return r.Name + " (" + r.Driver + ")"
}

// inScratch runs measure in a fresh folder under dir and removes the folder afterwards, so that one
// measurement's files neither fill the disk nor warm the cache of the next (sqlite.MeasureAppends
// does the same for itself).
func inScratch[T any](dir, prefix string, measure func(dir string) (T, error)) (T, error) {
	sub, err := os.MkdirTemp(dir, prefix+"-")
	if err != nil {
		var zero T
		return zero, fmt.Errorf("scratch folder: %w", err)
	}
	result, err := measure(sub)
	if rmErr := os.RemoveAll(sub); rmErr != nil && err == nil {
		err = fmt.Errorf("remove scratch folder: %w", rmErr)
	}
	return result, err
}

// engineUpdatesPerItem is the number of roadmap updates a benchmark client submits per item.
const engineUpdatesPerItem = 5

// measureEngine opens a SQLite store in dir with driver, lets clients run n roadmap item commands in
// total through an eventstore.Engine with the domain deciders, and returns the commands executed per
// second of wall time. Every command must succeed and append exactly one event.
func measureEngine(ctx context.Context, dir, driver string, clients, n int) (float64, error) {
	if clients < 1 || n < clients {
		return 0, fmt.Errorf("measure engine: want at least 1 client and n >= clients, got %d clients, n %d", clients, n)
	}
	store, err := sqlite.Open(filepath.Join(dir, "engine.db"), sqlite.Options{Driver: driver})
	if err != nil {
		return 0, fmt.Errorf("measure engine: %w", err)
	}
	eng, err := eventstore.NewEngine[domain.RoadmapItem, domain.Event](store, domain.NewCodec(), domain.RoadmapItem{}, domain.EvolveItem, eventstore.EngineOptions{})
	if err != nil {
		store.Close()
		return 0, fmt.Errorf("measure engine: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cities := domain.FoundingCities()
	errs := make([]error, clients)
	appended := make([]int, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for k := range clients {
		quota := n / clients
		if k < n%clients {
			quota++
		}
		c := newItemClient(cities[k%len(cities)].ID, k)
		wg.Go(func() {
			for range quota {
				stream, cmd, dctx := c.next(time.Now())
				res, err := eng.Execute(ctx, stream, eventstore.Command{
					ID: uuid.New(), Name: cmd.CommandName(), Actor: dctx.Actor, Role: string(dctx.Role), City: dctx.City,
				}, func(st domain.RoadmapItem, _ bool) ([]domain.Event, error) {
					return domain.DecideItem(st, cmd, dctx)
				})
				if err != nil {
					errs[k] = fmt.Errorf("client %d: %w", k, err)
					cancel()
					return
				}
				appended[k] += res.Appended
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	closeErr := store.Close()
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("measure engine: %w", err)
	}
	if closeErr != nil {
		return 0, fmt.Errorf("measure engine: %w", closeErr)
	}
	total := 0
	for _, a := range appended {
		total += a
	}
	if total != n {
		return 0, fmt.Errorf("measure engine: %d commands appended %d events, want one each", n, total)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// itemClient is one benchmark client: a member of city's delegation who proposes roadmap items,
// has a coordinator approve them, starts them, reports progress and completes them, one item after
// the other.
type itemClient struct {
	member, coordinator domain.Context
	city                string
	item                string
	step                int // index in the item's command cycle
}

func newItemClient(city string, k int) *itemClient {
	return &itemClient{
		city:        city,
		member:      domain.Context{Actor: fmt.Sprintf("bench-member-%d", k), Role: domain.RoleMember, City: city},
		coordinator: domain.Context{Actor: "bench-coordinator", Role: domain.RoleCoordinator},
	}
}

// benchEvidenceHash is the SHA-256 an update's evidence names (the benchmark stores no documents).
const benchEvidenceHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// next returns the client's next command, its stream and the decision context at now.
func (c *itemClient) next(now time.Time) (stream string, cmd domain.ItemCommand, dctx domain.Context) {
	dctx = c.member
	switch u := c.step - 3; {
	case c.step == 0:
		c.item = uuid.NewString()
		cmd = domain.ProposeRoadmapItem{ItemID: c.item, City: c.city, ItemFields: benchItemFields()}
	case c.step == 1:
		dctx = c.coordinator
		cmd = domain.ApproveRoadmapItem{}
	case c.step == 2:
		cmd = domain.StartImplementation{}
	case u < engineUpdatesPerItem:
		progress := 100 * (u + 1) / (engineUpdatesPerItem + 1)
		var reached []string
		switch u {
		case 1:
			reached = []string{"m1"}
		case 3:
			reached = []string{"m2"}
		}
		cmd = domain.SubmitRoadmapUpdate{
			UpdateID:          uuid.NewString(),
			ProgressPercent:   &progress,
			Measurement:       &domain.Measurement{Value: 24 - float64(u), Period: fmt.Sprintf("2019-Q%d", u%4+1)},
			MilestonesReached: reached,
			Narrative:         "Monitoring stations report lower fine-particle levels along the new bus corridors.",
			Evidence:          []domain.Evidence{{URI: fmt.Sprintf("https://example.org/csc/report-%d.pdf", u), SHA256: benchEvidenceHash}},
		}
	default:
		cmd = domain.CompleteRoadmapItem{}
	}
	c.step = (c.step + 1) % (3 + engineUpdatesPerItem + 1)
	dctx.Now = now
	return domain.ItemStream(c.item), cmd, dctx
}

// benchItemFields are the fields of every benchmark item: a typical proposal with an indicator,
// milestones and a budget.
func benchItemFields() domain.ItemFields {
	return domain.ItemFields{
		Title:       "Clean air along the bus corridors",
		Description: "Electrify the bus fleet on the three busiest corridors and monitor fine particles.",
		Theme:       domain.ThemeEcology,
		SDGTargets:  []string{"11.2", "11.6"},
		Indicator: &domain.Indicator{
			Name: "PM2.5 annual mean", Unit: "µg/m³", Direction: domain.DirectionDecrease,
			Baseline: domain.YearValue{Value: 25, Year: 2018}, Target: domain.YearValue{Value: 15, Year: 2020},
		},
		Milestones: []domain.Milestone{
			{ID: "m1", Title: "First corridor electrified", Due: domain.NewDate(2019, time.June, 30)},
			{ID: "m2", Title: "All corridors electrified", Due: domain.NewDate(2020, time.June, 30)},
		},
		Budget:    &domain.Budget{Amount: 12_500_000, Currency: "EUR", FundingSource: "municipal budget"},
		StartDate: domain.NewDate(2018, time.March, 1),
		DueDate:   domain.NewDate(2020, time.December, 31),
	}
}

// ---- the workload log: rebuild and HTTP load ----

// benchLog is the run's workload log, written on first use and then shared (read-only).
type benchLog struct {
	once   sync.Once
	path   string
	events int
	err    error
}

// historyLog returns the path of the run's workload log of env.sizes.History events (at least) and
// its number of events, writing it into the scratch folder on first use.
func (env benchEnv) historyLog(ctx context.Context) (string, int, error) {
	if env.log == nil {
		return "", 0, errors.New("workload log: the environment has none")
	}
	l := env.log
	l.once.Do(func() {
		l.path, l.events, l.err = writeBenchLog(ctx, filepath.Join(env.dir, "history"), env.sizes.History, env.progress)
	})
	return l.path, l.events, l.err
}

// benchLogWriters is the number of concurrent appenders writing the workload log: more than the
// 64 of the projections benchmarks, for larger group commits (the log is written about 1.3× faster
// with 256 than with 64 on a loaded 2-core machine); the events are the same, only their
// interleaving in $all differs.
const benchLogWriters = 256

// writeBenchLog writes at least n events of the workload seeded with 1 into a SQLite store in a new
// folder dir, closes it (leaving one self-contained file) and returns the file and the events written.
func writeBenchLog(ctx context.Context, dir string, n int, progress io.Writer) (string, int, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", 0, fmt.Errorf("workload log: %w", err)
	}
	path := filepath.Join(dir, storeFile)
	st, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		return "", 0, fmt.Errorf("workload log: %w", err)
	}
	start := time.Now()
	written, err := projections.WriteWorkload(ctx, st, domain.NewCodec(), n, 1, benchLogWriters)
	if closeErr := st.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return "", 0, fmt.Errorf("workload log: %w", err)
	}
	if progress != nil {
		size := ""
		if fi, err := os.Stat(path); err == nil {
			size = fmt.Sprintf(", %.0f MiB", float64(fi.Size())/(1<<20))
		}
		fmt.Fprintf(progress, "bench: wrote the workload log, %s in %s%s (%s)\n",
			benchCount(written, "event", "events"), time.Since(start).Round(time.Millisecond), size, path)
	}
	return path, written, nil
}

// rebuildGoal is issue 3's goal: a rebuild reaches at least 70 % of the raw scan rate of the file.
const rebuildGoal = 0.70

func runRebuildBench(ctx context.Context, env benchEnv) ([]benchRow, error) {
	path, events, err := env.historyLog(ctx)
	if err != nil {
		return nil, err
	}
	var rows []benchRow
	for _, drv := range env.drivers {
		r, err := measureRebuildRounds(ctx, env, path, events, drv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", drv, err)
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// measureRebuildRounds alternates raw scans and rebuilds of the log at path through driver and
// returns the scan, rebuild and memory rows.
func measureRebuildRounds(ctx context.Context, env benchEnv, path string, events int, driver string) ([]benchRow, error) {
	st, err := sqlite.Open(path, sqlite.Options{ReadOnly: true, Driver: driver})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	codec := domain.NewCodec()
	if _, err := sqlite.MeasureScan(ctx, path, driver); err != nil { // warms the page cache, untimed
		return nil, err
	}
	// The first rebuild of a process takes its heap from the OS, page by page; it warms the heap,
	// untimed, as the scan above warms the page cache.
	if _, err := projections.MeasureRebuild(ctx, st, codec); err != nil {
		return nil, err
	}
	scan := benchRow{
		Key: "rebuild/" + driver + "/scan", Name: "raw scan of the workload log (rows read, no decoding)",
		Driver: driver, Unit: "rows/s", Sample: benchCount(events, "row", "rows"),
	}
	rebuild := benchRow{
		Key: "rebuild/" + driver + "/rebuild", Name: "rebuild of every read model from the workload log",
		Driver: driver, Unit: "events/s", Goal: rebuildGoal,
	}
	memory := benchRow{
		Key: "rebuild/" + driver + "/memory", Name: "peak heap during the rebuild",
		Driver: driver, Unit: "MiB",
	}
	rounds := max(env.sizes.Rounds, 1)
	scans := make([]float64, rounds)
	var speed, heap []benchRound
	for i := range rounds {
		if scans[i], err = sqlite.MeasureScan(ctx, path, driver); err != nil {
			return nil, err
		}
		rs, err := projections.MeasureRebuild(ctx, st, codec)
		if err != nil {
			return nil, err
		}
		if rs.ModelsHeap == 0 || rs.Events == 0 {
			return nil, fmt.Errorf("rebuild of %s: %d events, models heap %d bytes: nothing measured", path, rs.Events, rs.ModelsHeap)
		}
		rebuild.Sample = benchCount(int(rs.Events), "event", "events")
		memory.Sample = "rebuild of " + benchCount(int(rs.Events), "event", "events")
		speed = append(speed, benchRound{value: rs.EventsPerSecond, base: scans[i]})
		heap = append(heap, benchRound{value: benchMiB(rs.PeakHeap), base: benchMiB(rs.ModelsHeap)})
		if env.progress != nil {
			fmt.Fprintf(env.progress, "bench: rebuild (%s), round %d/%d: raw scan %s rows/s, rebuild %s events/s (%s) in %s; peak heap %s MiB, models %s MiB\n",
				driver, i+1, rounds, benchFigure(scans[i]), benchFigure(rs.EventsPerSecond), benchRatioText(rs.EventsPerSecond/scans[i]),
				rs.Duration.Round(time.Millisecond), benchFigure(benchMiB(rs.PeakHeap)), benchFigure(benchMiB(rs.ModelsHeap)))
		}
	}
	scan.Value = benchMedian(scans)
	rebuild.setMedianRound(speed, benchBase{Name: "raw scan", Unit: "rows/s", When: "just before it"})
	memory.setMedianRound(heap, benchBase{Name: "read models' heap", Unit: "MiB", When: "after a GC, models built"})
	return []benchRow{scan, rebuild, memory}, nil
}

func benchMiB(bytes uint64) float64 { return float64(bytes) / (1 << 20) }

// runMemoryBench measures the peak heap of csc export and csc copy over the workload log, against the
// read models' heap.
func runMemoryBench(ctx context.Context, env benchEnv) ([]benchRow, error) {
	path, events, err := env.historyLog(ctx)
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(path, sqlite.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	rs, err := projections.MeasureRebuild(ctx, st, domain.NewCodec())
	if closeErr := st.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return nil, err
	}
	if rs.ModelsHeap == 0 {
		return nil, fmt.Errorf("rebuild of %s: models heap 0 bytes: nothing to compare with", path)
	}
	base := benchBase{Name: "read models' heap", Value: benchMiB(rs.ModelsHeap), Unit: "MiB", When: "after a GC, models built by a rebuild"}
	commands := []struct {
		key, name string
		args      func(dir string) []string
	}{
		{"export", "peak heap during csc export (JSONL to a file)", func(dir string) []string {
			return []string{"export", "--store", path, "--format", "jsonl", "--out", filepath.Join(dir, "export.jsonl"), "--quiet"}
		}},
		{"copy", "peak heap during csc copy (SQLite to a new SQLite file, with its verification)", func(dir string) []string {
			return []string{"copy", "--from", path, "--to", filepath.Join(dir, storeFile), "--quiet"}
		}},
	}
	var rows []benchRow
	for _, c := range commands {
		peak, took, err := inScratchPeak(env.dir, c.key, func(dir string) error {
			m := NewMain()
			m.Stdout, m.Stderr = io.Discard, io.Discard
			return m.Run(ctx, c.args(dir))
		})
		if err != nil {
			return nil, fmt.Errorf("csc %s: %w", c.key, err)
		}
		b := base
		rows = append(rows, benchRow{
			Key: "memory/" + c.key, Name: c.name, Driver: sqlite.DriverModernc, Unit: "MiB",
			Value: benchMiB(peak), Base: &b, Ratios: []float64{benchMiB(peak) / b.Value},
			Sample: fmt.Sprintf("csc %s of %s in %s", c.key, benchCount(events, "event", "events"), took.Round(time.Second)),
		})
		if env.progress != nil {
			fmt.Fprintf(env.progress, "bench: csc %s of %s in %s: peak heap %s MiB, read models %s MiB\n",
				c.key, benchCount(events, "event", "events"), took.Round(time.Second), benchFigure(benchMiB(peak)), benchFigure(b.Value))
		}
	}
	return rows, nil
}

// inScratchPeak runs run in a new scratch folder under dir (removed after) and returns the highest
// heap while it ran (projections.PeakHeap) and its duration.
func inScratchPeak(dir, prefix string, run func(dir string) error) (uint64, time.Duration, error) {
	type measured struct {
		peak uint64
		took time.Duration
	}
	m, err := inScratch(dir, prefix, func(scratch string) (measured, error) {
		var m measured
		var err error
		m.peak, _ = projections.PeakHeap(func() {
			start := time.Now()
			err = run(scratch)
			m.took = time.Since(start)
		})
		return m, err
	})
	return m.peak, m.took, err
}

// The goals of issue 4, for 64 clients: commands/s and their p99, and the progress query's p99 and
// how much slower it may be at the large history than at the small one.
const (
	httpGoalClients    = 64
	httpGoalCommands   = 10_000 // commands/s, at least
	httpGoalCommandP99 = 25     // ms, at most
	httpGoalQueryP99   = 1      // ms, at most
	httpGoalQuerySlow  = 1.25   // large history's query p99 over the small one's, at most
)

// httpRound is one round of the HTTP load at one history size, with the fsync rate around it.
type httpRound struct {
	res   loadResult
	fsync float64
}

func runHTTPBench(ctx context.Context, env benchEnv) ([]benchRow, error) {
	logPath, _, err := env.historyLog(ctx)
	if err != nil {
		return nil, err
	}
	load := env.sizes.HTTP
	if load.Clients < 1 || load.Time <= 0 || load.SmallHistory >= env.sizes.History {
		return nil, fmt.Errorf("want clients, a load time and a small history below %d events, got %d clients for %v, %d events",
			env.sizes.History, load.Clients, load.Time, load.SmallHistory)
	}
	// The load generator's server logs its warnings to the progress output; its own output is unused.
	m := NewMain()
	m.Stdout, m.Stderr = io.Discard, io.Discard
	if env.progress != nil {
		m.Stderr = env.progress
	}
	sizes := []int{load.SmallHistory, env.sizes.History}
	rounds := max(env.sizes.Rounds, 1)
	results := make([][]httpRound, len(sizes))
	before, err := sqlite.MeasureFsync(env.dir, env.sizes.Bracket)
	if err != nil {
		return nil, err
	}
	for i := range rounds {
		for k, history := range sizes {
			res, err := inScratch(env.dir, "http", func(dir string) (loadResult, error) {
				if k == 1 {
					if err := copyBenchLog(logPath, filepath.Join(dir, storeFile)); err != nil {
						return loadResult{}, err
					}
				}
				return m.load(ctx, loadConfig{history: history, clients: load.Clients, duration: load.Time, data: dir})
			})
			if err != nil {
				return nil, fmt.Errorf("%s of history: %w", benchCount(history, "event", "events"), err)
			}
			if res.Commands == 0 || res.Queries == 0 || res.QueryModelP99 <= 0 {
				return nil, fmt.Errorf("%s of history: %d commands succeeded (%d failed), %d progress queries answered: nothing to report",
					benchCount(history, "event", "events"), res.Commands, res.Failed, res.Queries)
			}
			after, err := sqlite.MeasureFsync(env.dir, env.sizes.Bracket)
			if err != nil {
				return nil, err
			}
			results[k] = append(results[k], httpRound{res: res, fsync: (before + after) / 2})
			if env.progress != nil {
				fmt.Fprintf(env.progress, "bench: HTTP load at %s of history (%s at the start), round %d/%d: %s commands/s (%d failed), p50 %s, p99 %s; progress p99 %s over HTTP, %s on the model; %s %s before and %s after\n",
					benchCount(history, "event", "events"), benchThousands(strconv.Itoa(res.History)), i+1, rounds, benchFigure(res.CommandsPerS), res.Failed,
					ms(res.CmdP50), ms(res.CmdP99), ms(res.QueryP99), ms(res.QueryModelP99),
					fsyncBaseName, benchFigure(before), benchFigure(after))
			}
			before = after
		}
	}
	var rows, queries []benchRow
	for k, history := range sizes {
		rows = append(rows, httpCommandRows(history, load, results[k])...)
	}
	for _, q := range []struct {
		key, name string
		p99       func(loadResult) time.Duration
	}{
		{"query", "progress query p99 over HTTP during the load", func(r loadResult) time.Duration { return r.QueryP99 }},
		{"query-model", "progress query p99 on the read model during the load", func(r loadResult) time.Duration { return r.QueryModelP99 }},
	} {
		small := benchRow{
			Key:  fmt.Sprintf("http/%d/%s", sizes[0], q.key),
			Name: q.name + ", " + benchCount(sizes[0], "event", "events") + " of history", Driver: sqlite.DriverModernc,
			Unit: "ms", AtMost: httpGoalQueryP99,
		}
		large := small
		large.Key = fmt.Sprintf("http/%d/%s", sizes[1], q.key)
		large.Name = q.name + ", " + benchCount(sizes[1], "event", "events") + " of history"
		large.GoalMax = httpGoalQuerySlow
		var smallP99 []float64
		var vsSmall []benchRound
		for i := range rounds {
			s, l := results[0][i].res, results[1][i].res
			smallP99 = append(smallP99, benchMs(q.p99(s)))
			vsSmall = append(vsSmall, benchRound{value: benchMs(q.p99(l)), base: benchMs(q.p99(s))})
		}
		small.Value = benchMedian(smallP99)
		small.Sample = httpQuerySample(q.key, results[0])
		large.Sample = httpQuerySample(q.key, results[1])
		large.setMedianRound(vsSmall, benchBase{
			Name: "p99 at " + benchCount(sizes[0], "event", "events"), Unit: "ms", When: "in the same round, just before it",
		})
		queries = append(queries, small, large)
	}
	return append(rows, queries...), nil
}

// httpCommandRows are the commands/s, p50 and p99 rows of one history size. The rate is compared
// with the fsync rate around it, the latencies with the time of one fsync (its inverse): a durable
// command takes at least one.
func httpCommandRows(history int, load benchHTTPLoad, rounds []httpRound) []benchRow {
	of := ", " + benchCount(load.Clients, "client", "clients") + ", " + benchCount(history, "event", "events") + " of history"
	key := fmt.Sprintf("http/%d/", history)
	// csc serve opens the embedded store with the default driver.
	rate := benchRow{Key: key + "commands", Name: "HTTP commands" + of, Driver: sqlite.DriverModernc, Unit: "commands/s"}
	p50 := benchRow{Key: key + "p50", Name: "HTTP command p50" + of, Driver: sqlite.DriverModernc, Unit: "ms"}
	p99 := benchRow{Key: key + "p99", Name: "HTTP command p99" + of, Driver: sqlite.DriverModernc, Unit: "ms"}
	if load.Clients == httpGoalClients {
		rate.AtLeast, p99.AtMost = httpGoalCommands, httpGoalCommandP99
	}
	var rates, lat50, lat99 []benchRound
	commands, failed, elapsed, start := 0, 0, time.Duration(0), 0
	for _, r := range rounds {
		fsyncMs := 1000 / r.fsync
		rates = append(rates, benchRound{value: r.res.CommandsPerS, base: r.fsync})
		lat50 = append(lat50, benchRound{value: benchMs(r.res.CmdP50), base: fsyncMs})
		lat99 = append(lat99, benchRound{value: benchMs(r.res.CmdP99), base: fsyncMs})
		commands += r.res.Commands
		failed += r.res.Failed
		elapsed += r.res.Elapsed
		start = max(start, r.res.History)
	}
	rate.setMedianRound(rates, benchBase{Name: fsyncBaseName, Unit: "fsync/s"})
	fsyncTime := benchBase{Name: "one fsync", Unit: "ms"}
	p50.setMedianRound(lat50, fsyncTime)
	p99.setMedianRound(lat99, fsyncTime)
	per := fmt.Sprintf(" in %s per round", (elapsed / time.Duration(len(rounds))).Round(100*time.Millisecond))
	if len(rounds) == 1 {
		per = fmt.Sprintf(" in %s", elapsed.Round(100*time.Millisecond))
	}
	sample := benchCount(commands, "command", "commands") + per
	if failed > 0 {
		sample += ", " + benchCount(failed, "failed", "failed")
	}
	sample += ", " + benchCount(start, "event", "events") + " in the log at the start"
	rate.Sample, p50.Sample, p99.Sample = sample, sample, sample
	return []benchRow{rate, p50, p99}
}

// httpQuerySample describes the progress queries of rounds.
func httpQuerySample(key string, rounds []httpRound) string {
	if key == "query-model" {
		return "Progress(now) about once per ms during the load"
	}
	n := 0
	for _, r := range rounds {
		n += r.res.Queries
	}
	return benchCount(n, "query", "queries") + " during the load"
}

func benchMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// copyBenchLog copies the workload log at src (closed, self-contained) to dst, with its write-ahead
// log if one was left.
func copyBenchLog(src, dst string) error {
	for _, suffix := range []string{"", "-wal"} {
		in, err := os.Open(src + suffix)
		if suffix != "" && errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("copy workload log: %w", err)
		}
		out, err := os.OpenFile(dst+suffix, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			in.Close()
			return fmt.Errorf("copy workload log: %w", err)
		}
		_, err = io.Copy(out, in)
		in.Close()
		if closeErr := out.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			return fmt.Errorf("copy workload log: %w", err)
		}
	}
	return nil
}

// ---- the run ----

// benchConfig is a parsed command line.
type benchConfig struct {
	out   string // report file; "-" writes it to stdout
	dir   string // parent of the scratch folder; "" chooses one
	quick bool
	only  []string
	peer  string   // bench/peer's JSON file whose figures join the report (bench_peer.go); "" for none
	args  []string // the command line, for the report
}

// runBench is "csc bench": it runs the measurements and writes the report.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("csc bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := benchConfig{args: args}
	fs.StringVar(&cfg.out, "out", "BENCHMARKS.md", "write the report to this file (- for stdout)")
	fs.StringVar(&cfg.dir, "dir", "", "create the scratch folder in this folder (default: the system temp folder if it is on the same disk as the working folder, else ./.bench-tmp)")
	fs.BoolVar(&cfg.quick, "quick", false, "small sizes: checks that everything runs, rougher figures")
	only := fs.String("only", "", "run only these measurements (comma-separated): "+strings.Join(benchMeasurementNames(), ", "))
	fs.StringVar(&cfg.peer, "peer", "", "add the peer comparison from this JSON file, written by bench/peer (see make bench)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: csc bench [--out BENCHMARKS.md] [--dir DIR] [--quick] [--only NAME,...] [--peer FILE]")
		fs.PrintDefaults()
	}
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	for name := range strings.SplitSeq(*only, ",") {
		if name = strings.TrimSpace(name); name != "" {
			cfg.only = append(cfg.only, name)
		}
	}
	if _, err := selectBenchMeasurements(benchMeasurements(), cfg.only); err != nil {
		return usagef("bench: --only: %w", err)
	}
	sizes := fullSizes()
	if cfg.quick {
		sizes = quickSizes()
	}

	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	rep, err := runBenchmarks(ctx, cfg, sizes, wd, stderr)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	var buf bytes.Buffer
	renderReport(&buf, rep)
	if cfg.out == "-" {
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	notes, err := keptNotes(cfg.out)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	buf.Write(notes)
	if err := writeFileAtomic(cfg.out, buf.Bytes()); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s\n", cfg.out)
	return nil
}

// keptNotesHeading starts the part of the report file that a run keeps: figures written by hand
// (package benchmarks, the soak test, investigations) below the generated report.
const keptNotesHeading = "## Further figures (kept across runs of csc bench)"

// keptNotes returns the part of the file at path from the line keptNotesHeading on, or nothing when
// the file does not exist or has no such line.
func keptNotes(path string) ([]byte, error) {
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	at := bytes.Index(old, []byte("\n"+keptNotesHeading+"\n"))
	if at < 0 {
		return nil, nil
	}
	return append([]byte("\n"), old[at+1:]...), nil
}

func benchMeasurementNames() []string {
	var names []string
	for _, m := range benchMeasurements() {
		names = append(names, m.name)
	}
	return names
}

// benchReport is everything the report shows.
type benchReport struct {
	Command      string
	Date         time.Time
	Machine      machineInfo
	Build        buildInfo
	Scratch      scratchInfo
	Measurements []benchMeasurement
	Rows         []benchRow
	Quick        bool
	// LoadStart and LoadEnd are the load averages (1, 5, 15 minutes) when the run started and ended:
	// other processes on a shared machine; "" when unknown.
	LoadStart, LoadEnd string
}

// runBenchmarks chooses the scratch folder (relative to the working folder wd), runs the selected
// measurements in it, reporting each row on progress as it is measured, and removes it.
func runBenchmarks(ctx context.Context, cfg benchConfig, sizes benchSizes, wd string, progress io.Writer) (benchReport, error) {
	selected, err := selectBenchMeasurements(benchMeasurements(), cfg.only)
	if err != nil {
		return benchReport{}, err
	}
	peer, err := readPeerBench(cfg.peer)
	if err != nil {
		return benchReport{}, err
	}
	mounts := readMounts()
	scratch, err := chooseScratch(cfg.dir, os.TempDir(), wd, mounts)
	if err != nil {
		return benchReport{}, err
	}
	dir, err := os.MkdirTemp(scratch.Parent, "csc-bench-")
	if err != nil {
		return benchReport{}, fmt.Errorf("scratch folder: %w", err)
	}
	defer os.RemoveAll(dir)

	rep := benchReport{
		Command:      "csc bench " + strings.Join(cfg.args, " "),
		Date:         time.Now().UTC(),
		Machine:      readMachine(os.ReadFile),
		Build:        readBuild(),
		Scratch:      scratch,
		Measurements: peer.addMeasurement(selected),
		Quick:        cfg.quick,
		LoadStart:    loadAverage(os.ReadFile),
	}
	rep.Command = strings.TrimSpace(rep.Command)
	env := benchEnv{dir: dir, drivers: sqlite.Drivers(), sizes: sizes, progress: progress, log: &benchLog{}}
	fmt.Fprintf(progress, "bench: scratch folder %s; drivers %s\n", dir, strings.Join(env.drivers, ", "))
	for _, m := range selected {
		rows, err := m.run(ctx, env)
		if err != nil {
			return benchReport{}, fmt.Errorf("%s: %w", m.name, err)
		}
		for _, r := range rows {
			rep.Rows = append(rep.Rows, r)
			fmt.Fprintf(progress, "bench: %s\n", r.summary())
		}
	}
	rep.Rows = peer.addRows(rep.Rows, progress)
	rep.LoadEnd = loadAverage(os.ReadFile)
	return rep, nil
}

// summary is the row on one line, with its ratio to its baseline.
func (r benchRow) summary() string {
	s := r.label() + ": " + benchFigure(r.Value) + " " + r.Unit + " over " + r.Sample
	if x, ok := r.ratio(); ok {
		s += ", " + benchRatioText(x) + " " + r.Base.Name + r.spread()
	}
	return s
}

// spread describes the rounds behind a compared figure: " (median of 3 rounds: 11.0×–13.1×)", or
// "" for a single round.
func (r benchRow) spread() string {
	if len(r.Ratios) < 2 {
		return ""
	}
	return fmt.Sprintf(" (median of %d rounds: %s–%s)", len(r.Ratios), benchRatioText(slices.Min(r.Ratios)), benchRatioText(slices.Max(r.Ratios)))
}

// writeFileAtomic replaces path with data: a reader sees the old report or the new one, never half.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ---- the machine ----

// machineInfo describes the machine the figures were measured on.
type machineInfo struct {
	CPUModel   string // "" when unknown
	CPUs       int    // usable logical CPUs (what nproc prints)
	GOMAXPROCS int
	MemTotal   uint64 // bytes; 0 when unknown
	OS, Arch   string
	Kernel     string // "" when unknown
	GoVersion  string
}

// readMachine reads the machine's description, from /proc on Linux (through readFile).
func readMachine(readFile func(string) ([]byte, error)) machineInfo {
	m := machineInfo{
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version(),
	}
	if b, err := readFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(b)
	}
	if b, err := readFile("/proc/meminfo"); err == nil {
		m.MemTotal = memTotal(b)
	}
	if b, err := readFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// loadAverage returns the 1, 5 and 15 minute load averages from /proc/loadavg, "" when unknown.
func loadAverage(readFile func(string) ([]byte, error)) string {
	b, err := readFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// cpuModel returns the processor's name from /proc/cpuinfo ("model name" on x86, other keys elsewhere).
func cpuModel(cpuinfo []byte) string {
	values := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if ok && v != "" && values[k] == "" {
			values[k] = v
		}
	}
	for _, k := range []string{"model name", "Hardware", "cpu model", "cpu", "Processor"} {
		if v := values[k]; v != "" {
			return v
		}
	}
	return ""
}

// memTotal returns MemTotal from /proc/meminfo in bytes, 0 when it is missing.
func memTotal(meminfo []byte) uint64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

// buildInfo is how the binary was built: it decides which SQLite drivers are in it.
type buildInfo struct {
	Tags     string // the -tags setting
	CGO      string // the CGO_ENABLED setting
	Revision string // VCS revision, "" when not stamped (go run)
	Modified bool
	Modules  map[string]string // module path -> version, for the drivers
}

// driverModule is the Go module of a SQLite driver.
func driverModule(driver string) string {
	switch driver {
	case sqlite.DriverModernc:
		return "modernc.org/sqlite"
	case sqlite.DriverMattn:
		return "github.com/mattn/go-sqlite3"
	}
	return ""
}

func readBuild() buildInfo {
	b := buildInfo{Modules: make(map[string]string)}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "-tags":
			b.Tags = s.Value
		case "CGO_ENABLED":
			b.CGO = s.Value
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	for _, dep := range info.Deps {
		for _, drv := range []string{sqlite.DriverModernc, sqlite.DriverMattn} {
			if dep.Path == driverModule(drv) {
				b.Modules[dep.Path] = dep.Version
			}
		}
	}
	return b
}

// gcTarget describes the garbage collector's settings in this process: GOGC and the soft memory
// limit as set (csc's main sets its defaults when the environment has none; see gc.go).
func gcTarget() string {
	percent := debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	out := fmt.Sprintf("GOGC=%d", percent)
	if percent < 0 {
		out = "GOGC=off"
	}
	if limit := debug.SetMemoryLimit(-1); limit < math.MaxInt64 {
		out += fmt.Sprintf(", soft memory limit %.1f GiB", float64(limit)/(1<<30))
	}
	return out
}

// ---- the scratch folder ----

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Dev    string // major:minor of the filesystem's device
	Point  string // where it is mounted
	FSType string
	Source string
}

// readMounts reads the mount table; nil when there is none (not Linux).
func readMounts() []mountEntry {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	return parseMountinfo(b)
}

// parseMountinfo parses /proc/self/mountinfo (see proc(5)): "id parent major:minor root point
// options [optional...] - fstype source super-options". Malformed lines are skipped.
func parseMountinfo(b []byte) []mountEntry {
	var out []mountEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 6 || sep < 6 || len(fields) < sep+3 {
			continue
		}
		out = append(out, mountEntry{
			Dev: fields[2], Point: unescapeMount(fields[4]), FSType: fields[sep+1], Source: unescapeMount(fields[sep+2]),
		})
	}
	return out
}

// unescapeMount undoes the octal escapes (\040 for a space, ...) of mountinfo fields.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountOf returns the mount that holds path (absolute, symlinks resolved): the last mounted of the
// longest mount points that contain it.
func mountOf(mounts []mountEntry, path string) (mountEntry, bool) {
	var best mountEntry
	found := false
	for _, m := range mounts {
		if !pathWithin(path, m.Point) {
			continue
		}
		if !found || len(m.Point) >= len(best.Point) {
			best, found = m, true
		}
	}
	return best, found
}

// pathWithin reports whether path is dir or inside it.
func pathWithin(path, dir string) bool {
	if dir == "/" || path == dir {
		return true
	}
	return strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// scratchInfo says where the measurements write and on what disk.
type scratchInfo struct {
	Parent string     // folder the scratch folder is created in
	Mount  mountEntry // the filesystem of Parent; zero when unknown
	// Why explains the choice, e.g. that the temp folder is on the working folder's disk.
	Why string
}

// benchTmpDir is the scratch parent used in the working folder when the temp folder is on another
// disk. It holds a .gitignore that ignores it all.
const benchTmpDir = ".bench-tmp"

// chooseScratch decides where the scratch folder goes: in dir when given; else in tmp when tmp is on
// the same device as wd (the repository, where a store would live); else in wd/.bench-tmp. Without a
// mount table (not Linux) tmp is used and the report says the disk is unknown.
func chooseScratch(dir, tmp, wd string, mounts []mountEntry) (scratchInfo, error) {
	resolve := func(p string) string {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return p
	}
	var s scratchInfo
	wdMount, wdKnown := mountOf(mounts, resolve(wd))
	switch {
	case dir != "":
		s.Parent, s.Why = dir, "chosen with --dir"
	case !wdKnown:
		s.Parent, s.Why = tmp, "the system temp folder (no mount table to compare disks)"
	default:
		tmpMount, ok := mountOf(mounts, resolve(tmp))
		if ok && tmpMount.Dev == wdMount.Dev {
			s.Parent, s.Why = tmp, "the system temp folder, on the same device as the working folder"
			break
		}
		s.Parent, s.Why = filepath.Join(wd, benchTmpDir), "in the working folder: the system temp folder is on another device"
		if err := os.MkdirAll(s.Parent, 0o755); err != nil {
			return scratchInfo{}, fmt.Errorf("scratch folder: %w", err)
		}
		ignore := filepath.Join(s.Parent, ".gitignore")
		if err := os.WriteFile(ignore, []byte("# csc bench scratch files\n*\n"), 0o644); err != nil {
			return scratchInfo{}, fmt.Errorf("scratch folder: %w", err)
		}
	}
	if m, ok := mountOf(mounts, resolve(s.Parent)); ok {
		s.Mount = m
		if wdKnown && m.Dev != wdMount.Dev {
			s.Why += " (not the working folder's device " + wdMount.Dev + ")"
		}
	}
	return s, nil
}

// ---- the report ----

// renderReport writes rep as Markdown.
func renderReport(w io.Writer, rep benchReport) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# Benchmarks\n\n")
	p("Written by `%s` on %s. Regenerate with `make bench`.\n\n", rep.Command, rep.Date.Format("2006-01-02 15:04 MST"))
	p("Timings on shared machines are noisy, so each figure is compared with a baseline measured in the same run " +
		"right next to it: the raw fsync rate of the same disk, just before and just after it; for a rebuild, the raw " +
		"scan of the same file; for a query on a large history, the same query on a small one. Goals are ratios to " +
		"the baseline where the issue states them so; goals stated as absolute figures are judged on the figure " +
		"as measured (the median of the rounds' figures), with its baseline shown next to it.")
	if rep.Quick {
		p(" This was a `--quick` run: small sizes, rough figures.")
	}
	if load, busy := rep.busy(); busy {
		p(" **The machine was busy** (load average %s on %d CPUs): other processes took CPU time and disk "+
			"bandwidth, so these figures, and ratios that need CPU time (group commit), are below what an idle "+
			"machine gives.", load, rep.Machine.CPUs)
	}
	p("\n\n")

	var goals []string
	for _, r := range rep.Rows {
		vs := r.verdicts()
		if len(vs) == 0 {
			continue
		}
		line := "- " + r.label()
		var parts []string
		for _, v := range vs {
			switch {
			case !v.Known:
				parts = append(parts, fmt.Sprintf("goal %s, but no baseline was measured", v.Want))
			case v.Met:
				parts = append(parts, fmt.Sprintf("%s, goal %s: met", v.Got, v.Want))
			default:
				parts = append(parts, fmt.Sprintf("%s, goal %s: **not met**", v.Got, v.Want))
			}
		}
		goals = append(goals, line+": "+strings.Join(parts, "; "))
	}
	if len(goals) > 0 {
		p("## Goals\n\n%s\n\n", strings.Join(goals, "\n"))
	}

	p("## Machine\n\n| | |\n|---|---|\n")
	m := rep.Machine
	cpu := m.CPUModel
	if cpu == "" {
		cpu = "unknown model"
	}
	p("| CPU | %s, %d logical CPUs (nproc), GOMAXPROCS %d |\n", cpu, m.CPUs, m.GOMAXPROCS)
	if m.MemTotal > 0 {
		p("| Memory | %.1f GiB |\n", float64(m.MemTotal)/(1<<30))
	} else {
		p("| Memory | unknown |\n")
	}
	osLine := m.OS + "/" + m.Arch
	if m.Kernel != "" {
		osLine += ", kernel " + m.Kernel
	}
	p("| OS | %s |\n", osLine)
	if rep.LoadStart != "" && rep.LoadEnd != "" {
		p("| Load average (1, 5, 15 min) | %s at the start, %s at the end |\n", rep.LoadStart, rep.LoadEnd)
	}
	p("| Go | %s, garbage-collector target %s |\n", m.GoVersion, gcTarget())
	p("| Build | %s |\n", rep.Build.describe())
	p("| Scratch disk | %s |\n", rep.Scratch.describe())
	p("| SQLite drivers | %s |\n", rep.Build.drivers())
	p("| SQLite settings | WAL journal, synchronous=FULL: the WAL is fsynced before a commit returns and an "+
		"append is acknowledged after its commit; one writer goroutine commits up to %d pending appends per "+
		"transaction (group commit), yielding once before it takes them so that ready appenders join; with "+
		"modernc, the writer's WAL writes of a commit go to the file in one write just before its fsync (mattn "+
		"writes each frame as SQLite does, two writes per page); the WAL is "+
		"checkpointed in the background (PASSIVE, at most every 50 ms) |\n", sqlite.DefaultMaxBatch)
	p("\n")

	p("## Results\n\n")
	p("| Measurement | Driver | Figure | Work timed | Compared to | Ratio | Goal | Met |\n")
	p("|---|---|---:|---|---|---:|---|---|\n")
	for _, r := range rep.Rows {
		drv, vs, ratio, goal, met := "—", "—", "—", "—", "—"
		if r.Driver != "" {
			drv = r.Driver
		}
		if x, ok := r.ratio(); ok {
			when := r.Base.When
			if when == "" {
				when = "around it"
			}
			vs = fmt.Sprintf("%s, %s %s %s", r.Base.Name, benchFigure(r.Base.Value), r.Base.Unit, when)
			ratio = benchRatioText(x) + r.spread()
		}
		if verdicts := r.verdicts(); len(verdicts) > 0 {
			var wants []string
			unknown, missed := false, false
			for _, v := range verdicts {
				wants = append(wants, v.Want)
				unknown = unknown || !v.Known
				missed = missed || (v.Known && !v.Met)
			}
			goal = strings.Join(wants, "; ")
			switch {
			case missed:
				met = "**no**"
			case unknown:
				met = "unknown"
			default:
				met = "yes"
			}
		}
		p("| %s | %s | %s %s | %s | %s | %s | %s | %s |\n", r.Name, drv, benchFigure(r.Value), r.Unit, r.Sample, vs, ratio, goal, met)
	}
	p("\n")

	p("## What is measured\n\n")
	for _, ms := range rep.Measurements {
		p("- **%s**: %s\n", ms.name, ms.about)
	}
	p("\n")
}

// busy reports whether the 1-minute load average at the start or the end of the run exceeded the
// number of CPUs, and the higher of the two.
func (rep benchReport) busy() (string, bool) {
	highest, text := 0.0, ""
	for _, l := range []string{rep.LoadStart, rep.LoadEnd} {
		first, _, _ := strings.Cut(l, " ")
		if v, err := strconv.ParseFloat(first, 64); err == nil && v > highest {
			highest, text = v, first
		}
	}
	return text, rep.Machine.CPUs > 0 && highest > float64(rep.Machine.CPUs)
}

// describe says how the binary was built.
func (b buildInfo) describe() string {
	var parts []string
	tags := b.Tags
	if tags == "" {
		tags = "none"
	}
	parts = append(parts, "build tags: "+tags)
	if b.CGO != "" {
		parts = append(parts, "CGO_ENABLED="+b.CGO)
	}
	if b.Revision != "" {
		rev := "revision " + b.Revision
		if b.Modified {
			rev += " (with local changes)"
		}
		parts = append(parts, rev)
	}
	return strings.Join(parts, ", ")
}

// drivers names the drivers in the binary with their module versions, and those left out.
func (b buildInfo) drivers() string {
	in := sqlite.Drivers()
	var parts []string
	for _, name := range []string{sqlite.DriverModernc, sqlite.DriverMattn} {
		mod := driverModule(name)
		if v := b.Modules[mod]; v != "" {
			mod += " " + v
		}
		if slices.Contains(in, name) {
			parts = append(parts, fmt.Sprintf("%s (%s)", name, mod))
		} else {
			parts = append(parts, fmt.Sprintf("%s (%s) not built: it needs cgo and `-tags csc_mattn`", name, mod))
		}
	}
	return strings.Join(parts, "; ")
}

// describe says where the scratch folder was and on what disk.
func (s scratchInfo) describe() string {
	where := "`" + s.Parent + "`, " + s.Why
	if s.Mount.Dev == "" {
		return where + "; filesystem unknown"
	}
	return fmt.Sprintf("%s; %s %s (device %s) mounted on %s", where, s.Mount.FSType, s.Mount.Source, s.Mount.Dev, s.Mount.Point)
}

// benchFigure prints a rate: whole numbers with thousands separators, small ones with 3 digits.
func benchFigure(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case v >= 100:
		return benchThousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// benchRatioText prints a ratio as "12.4×".
func benchRatioText(x float64) string {
	if x >= 100 {
		return benchThousands(strconv.FormatFloat(math.Round(x), 'f', 0, 64)) + "×"
	}
	if x >= 10 {
		return strconv.FormatFloat(x, 'f', 1, 64) + "×"
	}
	return strconv.FormatFloat(x, 'f', 2, 64) + "×"
}

// benchCount prints "1 writer", "64 writers", "200,000 appends".
func benchCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return benchThousands(strconv.Itoa(n)) + " " + many
}

// benchThousands puts commas between groups of three digits of a whole number.
func benchThousands(digits string) string {
	sign := ""
	if strings.HasPrefix(digits, "-") {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return sign + b.String()
}
