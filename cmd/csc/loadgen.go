package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/sqlite"
	cschttp "github.com/metropolis/csc/http"
)

// loadConfig is one load-generator run.
type loadConfig struct {
	history  int           // events in the log before the load starts
	clients  int           // concurrent command clients
	duration time.Duration // how long the load runs
	data     string        // data folder ("" : a temporary one, removed afterwards)
	// cpuProfile, when set, is the file the CPU profile of the load phase is written to. The load's
	// goroutines carry the pprof label loadgen (commands, progress-http, progress-model); the
	// server's goroutines carry none, so go tool pprof -tagignore loadgen=. shows the server alone.
	cpuProfile string
	// rate, when positive, is the load offered in commands/s, shared evenly by the clients (open
	// loop): each client sends its commands on a fixed schedule instead of as fast as answers come
	// back, and a command's latency counts from the moment the schedule gave it (see pacer), so a
	// server that falls behind shows it in the latencies. 0 is the closed loop.
	rate float64
}

// loadResult is what one run measured.
type loadResult struct {
	History       int           // events in the log when the load started
	Seeded        int           // events the run appended directly before starting the server
	SeedRate      float64       // events/s of that seeding (engine and store, no HTTP)
	Clients       int           //
	Rate          float64       // offered commands/s (loadConfig.rate); 0 for the closed loop
	Elapsed       time.Duration // of the load phase
	Commands      int           // commands answered 2xx
	Failed        int           // commands answered otherwise (or not at all)
	CommandsPerS  float64       //
	CmdP50        time.Duration // command round trip (client side, loopback HTTP)
	CmdP99        time.Duration //
	Queries       int           // GET /v1/progress during the load
	QueryP50      time.Duration // progress query round trip (client side)
	QueryP99      time.Duration //
	QueryModelP50 time.Duration // the read model's Progress(now) alone, in-process, during the load
	QueryModelP99 time.Duration //
	// CPUPerCommand is the process's CPU time (server and clients, one process) per command during the
	// load: unlike the rates, it barely depends on what else the machine runs.
	CPUPerCommand time.Duration
	// LoadAverage is the machine's 1-minute load average at the end of the run ("" when unknown).
	LoadAverage string
}

// runLoadgen is "csc loadgen": for each history size it seeds a log directly through the engines into
// a SQLite file, starts a real server on it over loopback, and drives it with concurrent command
// clients (propose, approve, start, updates, complete: one item per client at a time) while one client
// reads /v1/progress in a loop. It prints a Markdown table, and writes it to --out when given.
func (m *Main) runLoadgen(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("csc loadgen", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	events := fs.String("events", "1000,1000000", "comma-separated history sizes (events in the log before the load)")
	clients := fs.Int("clients", 64, "concurrent command clients")
	duration := fs.Duration("duration", 10*time.Second, "load duration per history size")
	data := fs.String("data", "", "data folder to seed and serve (default: a temporary folder per size, removed after)")
	out := fs.String("out", "", "also write the Markdown table to this file")
	rate := fs.Float64("rate", 0, "offered load in commands/s, shared by the clients, sent on a fixed schedule (open loop; latencies count from the scheduled time); 0: each client sends its next command when the last is answered")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of each load phase to this file (with several sizes: <name>-<events><ext>)")
	if err := parse(fs, args, m.Stdout); err != nil {
		return err
	}
	var sizes []int
	for _, f := range strings.Split(*events, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return usagef("loadgen: --events: %q is not a number of events", f)
		}
		sizes = append(sizes, n)
	}
	if *clients < 1 || *duration <= 0 {
		return usagef("loadgen: --clients and --duration must be positive")
	}
	if math.IsNaN(*rate) || math.IsInf(*rate, 0) || *rate < 0 || (*rate > 0 && *rate < 0.001) {
		return usagef("loadgen: --rate must be a number of commands/s (at least 0.001), or 0 for the closed loop")
	}
	var results []loadResult
	for _, n := range sizes {
		fmt.Fprintf(m.Stderr, "loadgen: %d events of history, %d clients, %v\n", n, *clients, *duration)
		prof := *cpuProfile
		if prof != "" && len(sizes) > 1 {
			ext := filepath.Ext(prof)
			prof = strings.TrimSuffix(prof, ext) + "-" + strconv.Itoa(n) + ext
		}
		res, err := m.load(ctx, loadConfig{history: n, clients: *clients, duration: *duration, data: *data, cpuProfile: prof, rate: *rate})
		if err != nil {
			return fmt.Errorf("loadgen at %d events: %w", n, err)
		}
		results = append(results, res)
	}
	table := loadTable(results)
	fmt.Fprint(m.Stdout, table)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(table), 0o644); err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
	}
	return nil
}

// loadTable formats results as Markdown.
func loadTable(results []loadResult) string {
	var b strings.Builder
	b.WriteString("| history (events) | clients | offered | commands/s | command p50 | command p99 | failed | progress p50 (HTTP) | progress p99 (HTTP) | progress p99 (model) | CPU/command | load avg | seeding events/s |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		offered := "closed loop"
		if r.Rate > 0 {
			offered = fmt.Sprintf("%.0f/s", r.Rate)
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %.0f | %s | %s | %d | %s | %s | %s | %s | %s | %.0f |\n",
			r.History, r.Clients, offered, r.CommandsPerS, ms(r.CmdP50), ms(r.CmdP99), r.Failed,
			ms(r.QueryP50), ms(r.QueryP99), ms(r.QueryModelP99), ms(r.CPUPerCommand), r.LoadAverage, r.SeedRate)
	}
	if len(results) == 2 && results[0].QueryP99 > 0 && results[0].QueryModelP99 > 0 {
		fmt.Fprintf(&b, "\nProgress p99 at %d vs %d events: %.2fx over HTTP, %.2fx for the read model alone.\n",
			results[1].History, results[0].History,
			float64(results[1].QueryP99)/float64(results[0].QueryP99),
			float64(results[1].QueryModelP99)/float64(results[0].QueryModelP99))
	}
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

// load runs one history size.
func (m *Main) load(ctx context.Context, cfg loadConfig) (loadResult, error) {
	res := loadResult{Clients: cfg.clients, Rate: cfg.rate}
	dir := cfg.data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "csc-loadgen-*")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	seeded, elapsed, err := seedHistory(ctx, filepath.Join(dir, storeFile), cfg.history, m.Now)
	if err != nil {
		return res, fmt.Errorf("seed: %w", err)
	}
	res.Seeded = seeded
	if seeded > 0 {
		res.SeedRate = float64(seeded) / elapsed.Seconds()
	}

	log := slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := m.startApp(ctx, serveConfig{addr: "127.0.0.1:0", data: dir}, log)
	if err != nil {
		return res, err
	}
	defer a.close(30 * time.Second)
	head, err := a.store.Head(ctx)
	if err != nil {
		return res, err
	}
	res.History = int(head.Commit)
	if err := a.runner.WaitFor(ctx, head); err != nil {
		return res, fmt.Errorf("wait for the read models: %w", err)
	}
	token, err := a.tokens.Issue(cschttp.Principal{Subject: "loadgen", Role: domain.RoleCoordinator}, time.Hour)
	if err != nil {
		return res, err
	}
	// Every client keeps one connection of its own (loadConn), and the bodies are encoded once: the
	// client side shares the process and the CPU with the server, and should spend as little of it
	// as a lean client would.
	bodies, err := newLoadBodies(m.Now().UTC())
	if err != nil {
		return res, err
	}
	lg := &loadClient{host: strings.TrimPrefix(a.server.URL(), "http://"), auth: "Bearer " + token, bodies: bodies}

	loadCtx, stop := context.WithTimeout(ctx, cfg.duration)
	defer stop()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		cmdLat   []time.Duration
		failed   atomic.Int64
		queryLat []time.Duration
		modelLat []time.Duration
	)
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return res, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	// labelled runs f in a new goroutine labelled loadgen=part (see loadConfig.cpuProfile).
	labelled := func(part string, f func()) {
		wg.Add(1)
		go pprof.Do(loadCtx, pprof.Labels("loadgen", part), func(context.Context) {
			defer wg.Done()
			f()
		})
	}
	cpuStart, cpuKnown := processCPU()
	start := time.Now()
	for c := range cfg.clients {
		var p *pacer
		if cfg.rate > 0 {
			// Each client sends every clients/rate seconds; their schedules are spread evenly.
			interval := time.Duration(float64(cfg.clients) / cfg.rate * float64(time.Second))
			p = &pacer{next: start.Add(interval * time.Duration(c) / time.Duration(cfg.clients)), interval: interval, sleep: sleepCtx(loadCtx)}
		}
		labelled("commands", func() {
			lat, fails := lg.commands(loadCtx, domain.FoundingCities()[c%7].ID, p)
			failed.Add(int64(fails))
			mu.Lock()
			cmdLat = append(cmdLat, lat...)
			mu.Unlock()
		})
	}
	labelled("progress-http", func() { // the progress query over HTTP, one at a time, paced like the model query below
		c := lg.conn()
		defer c.close()
		for loadCtx.Err() == nil {
			t := time.Now()
			if err := c.get(loadCtx, "/v1/progress"); err == nil {
				queryLat = append(queryLat, time.Since(t))
			}
			time.Sleep(time.Millisecond)
		}
	})
	labelled("progress-model", func() { // the same query on the read model alone, paced so that it does not steal a core
		for loadCtx.Err() == nil {
			t := time.Now()
			_ = a.runner.Models().Progress(time.Now())
			modelLat = append(modelLat, time.Since(t))
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	res.Elapsed = time.Since(start)
	if cpuEnd, ok := processCPU(); ok && cpuKnown && len(cmdLat) > 0 {
		res.CPUPerCommand = (cpuEnd - cpuStart) / time.Duration(len(cmdLat))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			res.LoadAverage = f[0]
		}
	}
	res.Commands, res.Failed = len(cmdLat), int(failed.Load())
	res.CommandsPerS = float64(res.Commands) / res.Elapsed.Seconds()
	res.CmdP50, res.CmdP99 = percentile(cmdLat, 0.50), percentile(cmdLat, 0.99)
	res.Queries = len(queryLat)
	res.QueryP50, res.QueryP99 = percentile(queryLat, 0.50), percentile(queryLat, 0.99)
	res.QueryModelP50, res.QueryModelP99 = percentile(modelLat, 0.50), percentile(modelLat, 0.99)
	return res, nil
}

// percentile returns the p-quantile (nearest rank) of ds, which it sorts.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(float64(len(ds))*p+0.5) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// loadClient drives the API over HTTP.
type loadClient struct {
	host   string // the server's host:port
	auth   string // the Authorization header
	bodies loadBodies
}

// conn returns a new client connection to the server (dialled on first use).
func (lc *loadClient) conn() *loadConn { return &loadConn{lc: lc} }

// loadConn is one load client's keep-alive HTTP/1.1 connection. It writes each request itself and
// reads the response with net/http's parser (http.ReadResponse), on the caller's goroutine:
// http.Client's transport runs a reader and a writer goroutine per connection, and with 64 clients
// in the server's process those two took 22-27 µs of CPU per command (profiles), most of it handing
// requests and responses between goroutines. A failed exchange closes the connection; the next one
// dials again.
type loadConn struct {
	lc   *loadClient
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	stop func() bool // stops the context watch of the connection
}

// do sends a request (a JSON body unless body is nil) and returns the response's status and body.
func (c *loadConn) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	if c.conn == nil {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.lc.host)
		if err != nil {
			return 0, nil, err
		}
		c.conn, c.br, c.bw = conn, bufio.NewReader(conn), bufio.NewWriter(conn)
		// An ended context unblocks a read or write in progress.
		c.stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	}
	w := c.bw
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(path)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(c.lc.host)
	w.WriteString("\r\nAuthorization: ")
	w.WriteString(c.lc.auth)
	if body != nil {
		w.WriteString("\r\nContent-Type: application/json")
	}
	w.WriteString("\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	w.WriteString("\r\n\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		c.close()
		return 0, nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return 0, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.close()
	}
	return resp.StatusCode, b, err
}

// close closes the connection, if any.
func (c *loadConn) close() {
	if c.conn != nil {
		c.stop()
		c.conn.Close()
		c.conn = nil
	}
}

// loadBodies are the JSON bodies of the load's commands, encoded once for the run.
type loadBodies struct {
	proposals map[string][]byte // by city
	updates   [10][]byte
}

// newLoadBodies encodes a proposal for every founding city and the ten updates of a lifecycle, dated
// today.
func newLoadBodies(today time.Time) (loadBodies, error) {
	b := loadBodies{proposals: make(map[string][]byte)}
	for _, c := range domain.FoundingCities() {
		enc, err := json.Marshal(loadProposal(c.ID, today))
		if err != nil {
			return b, err
		}
		b.proposals[c.ID] = enc
	}
	for i := range b.updates {
		n := i + 1
		enc, err := json.Marshal(cschttp.UpdateRequest{ProgressPercent: ptr(n * 10),
			Measurement: &domain.Measurement{Value: float64(100 + n*50), Period: today.Format("2006-01")},
			Narrative:   fmt.Sprintf("Update %d.", n)})
		if err != nil {
			return b, err
		}
		b.updates[i] = enc
	}
	return b, nil
}

// pacer spaces one client's commands in the open loop (loadConfig.rate).
type pacer struct {
	next     time.Time           // when the next command is due
	interval time.Duration       // between two commands
	sleep    func(time.Duration) // waits (sleepCtx)
}

// wait waits until the next command is due, unless it is already late, and returns the time it was
// due: the start of its latency. A client that falls behind sends at once, and its commands keep
// their schedule, so the time they spent waiting for an earlier answer counts in their latency (no
// "coordinated omission").
func (p *pacer) wait(now time.Time) time.Time {
	due := p.next
	if d := due.Sub(now); d > 0 {
		p.sleep(d)
	}
	p.next = due.Add(p.interval)
	return due
}

// sleepCtx sleeps for d, or until ctx ends.
func sleepCtx(ctx context.Context) func(time.Duration) {
	return func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// commands runs item lifecycles for city until ctx ends: propose, approve, start, ten updates,
// complete, one after the other, or on p's schedule when p is not nil. It returns the latency of
// every command answered 2xx and the number of failures.
func (lc *loadClient) commands(ctx context.Context, city string, p *pacer) (lat []time.Duration, failed int) {
	c := lc.conn()
	defer c.close()
	do := func(path string, body []byte) (string, bool) {
		t := time.Now()
		if p != nil {
			if t = p.wait(t); ctx.Err() != nil {
				return "", false
			}
		}
		id, err := c.post(ctx, path, body)
		if err != nil {
			if ctx.Err() == nil {
				failed++
			}
			return "", false
		}
		lat = append(lat, time.Since(t))
		return id, true
	}
	for ctx.Err() == nil {
		id, ok := do("/v1/roadmap-items", lc.bodies.proposals[city])
		if !ok {
			continue
		}
		item := "/v1/roadmap-items/" + id
		if _, ok := do(item+"/approve", nil); !ok {
			continue
		}
		if _, ok := do(item+"/start", nil); !ok {
			continue
		}
		for i := 0; i < len(lc.bodies.updates) && ctx.Err() == nil; i++ {
			do(item+"/updates", lc.bodies.updates[i])
		}
		do(item+"/complete", nil)
	}
	return lat, failed
}

func loadProposal(city string, today time.Time) cschttp.ProposeRequest {
	return cschttp.ProposeRequest{City: city, ItemFields: domain.ItemFields{
		Title: "Load test item", Description: "An item proposed by csc loadgen.", Theme: domain.ThemeEcology,
		SDGTargets: []string{"11.6"},
		Indicator: &domain.Indicator{Name: "Trees planted", Unit: "trees", Direction: domain.DirectionIncrease,
			Baseline: domain.YearValue{Value: 100, Year: today.Year()}, Target: domain.YearValue{Value: 600, Year: today.Year() + 1}},
		Milestones: []domain.Milestone{{ID: "m1", Title: "Half way", Due: domain.DateOf(today.AddDate(0, 6, 0))}},
		Budget:     &domain.Budget{Amount: 100000, Currency: "EUR", FundingSource: "City budget"},
		StartDate:  domain.DateOf(today), DueDate: domain.DateOf(today.AddDate(1, 0, 0)),
	}}
}

// post sends a JSON command (an empty body for nil) and returns the written ID.
func (c *loadConn) post(ctx context.Context, path string, body []byte) (string, error) {
	status, b, err := c.do(ctx, http.MethodPost, path, body)
	if err != nil {
		return "", err
	}
	if status/100 != 2 {
		return "", fmt.Errorf("POST %s: %d %s: %s", path, status, http.StatusText(status), b)
	}
	var wr cschttp.WriteResult
	if err := json.Unmarshal(b, &wr); err != nil {
		return "", err
	}
	return wr.ID, nil
}

// get reads path and discards the body.
func (c *loadConn) get(ctx context.Context, path string) error {
	status, _, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, status, http.StatusText(status))
	}
	return nil
}

// seedStep is one command of a seeded item lifecycle and who gives it.
type seedStep struct {
	actor domain.Context
	cmd   domain.ItemCommand
}

// seedHistory appends item lifecycles (propose, approve, start, twenty updates, complete) directly
// through the command engine into the SQLite file at path until its log holds at least events events
// (after launching the pilot). It returns how many it appended and how long that took.
func seedHistory(ctx context.Context, path string, events int, now func() time.Time) (int, time.Duration, error) {
	st, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	codec := domain.NewCodec()
	items, err := eventstore.NewEngine[domain.RoadmapItem, domain.Event](st, codec, domain.RoadmapItem{}, domain.EvolveItem, eventstore.EngineOptions{})
	if err != nil {
		return 0, 0, err
	}
	collab, err := eventstore.NewEngine[domain.Collaboratory, domain.Event](st, codec, domain.Collaboratory{}, domain.EvolveCollaboratory, eventstore.EngineOptions{})
	if err != nil {
		return 0, 0, err
	}
	if _, err := launchPilot(ctx, collab, now()); err != nil {
		return 0, 0, err
	}
	head, err := st.Head(ctx)
	if err != nil {
		return 0, 0, err
	}
	missing := int64(events) - int64(head.Commit)
	if missing <= 0 {
		return 0, 0, nil
	}
	const writers = 64
	var (
		appended atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			city := domain.FoundingCities()[w%7].ID
			member := domain.Context{Actor: memberSubject(city), Role: domain.RoleMember, City: city}
			coord := domain.Context{Actor: "coordinator", Role: domain.RoleCoordinator}
			for appended.Load() < missing && ctx.Err() == nil {
				t := now().UTC()
				itemID := uuid.NewString()
				run := func(dctx domain.Context, cmd domain.ItemCommand) error {
					dctx.Now = t
					res, err := items.Execute(ctx, domain.ItemStream(itemID), eventstore.Command{
						ID: uuid.New(), Name: cmd.CommandName(), Actor: dctx.Actor, Role: string(dctx.Role), City: dctx.City,
					}, func(s domain.RoadmapItem, _ bool) ([]domain.Event, error) { return domain.DecideItem(s, cmd, dctx) })
					appended.Add(int64(res.Appended))
					return err
				}
				p := loadProposal(city, t)
				steps := []seedStep{
					{member, domain.ProposeRoadmapItem{ItemID: itemID, City: city, ItemFields: p.ItemFields}},
					{coord, domain.ApproveRoadmapItem{}},
					{member, domain.StartImplementation{}},
				}
				for i := 1; i <= 20; i++ {
					steps = append(steps, seedStep{member, domain.SubmitRoadmapUpdate{UpdateID: uuid.NewString(),
						ProgressPercent: ptr(i * 5), Narrative: fmt.Sprintf("Seeded update %d.", i),
						Measurement: &domain.Measurement{Value: float64(100 + i*25), Period: t.Format("2006-01")}}})
				}
				steps = append(steps, seedStep{coord, domain.CompleteRoadmapItem{}})
				for _, st := range steps {
					if appended.Load() >= missing {
						return
					}
					if err := run(st.actor, st.cmd); err != nil {
						errOnce.Do(func() { firstErr = err; cancel() })
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return int(appended.Load()), time.Since(start), firstErr
}
