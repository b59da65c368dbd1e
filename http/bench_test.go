package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/sqlite"
	cschttp "github.com/metropolis/csc/http"
	"github.com/metropolis/csc/projections"
)

// BenchmarkServeCommands drives the whole write path over loopback: a real server on a SQLite file
// (WAL, synchronous=FULL: every answered command is fsynced) with the live projections running, the
// metrics registered and the request log at warn, as csc serve runs it; concurrent clients run item
// lifecycles (propose, approve, start, ten updates, complete) as csc loadgen does. One op is one
// command answered 2xx.
//
// Besides ns/op (wall time per command with all clients running) it reports commands/s, the command
// round trip p50/p99, and CPU-µs/cmd: the process's CPU time (getrusage) per command, server and
// clients together. The client goroutines run under the pprof label side=client, so a CPU profile
// separates the two sides: go tool pprof -tagignore side=client shows the server alone.
func BenchmarkServeCommands(b *testing.B) {
	for _, clients := range []int{64, 1} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			env := startBenchServer(b)
			runCommandLoad(b, env, clients)
		})
	}
}

// benchEnv is a server for a benchmark, with what the clients need.
type benchEnv struct {
	url   string
	token string
	reg   *prometheus.Registry
}

// startBenchServer starts the API as csc serve does (SQLite store in a temporary folder, both
// engines with metrics, the projections runner, a warn-level log) on 127.0.0.1:0.
func startBenchServer(b *testing.B) benchEnv {
	b.Helper()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := sqlite.Open(filepath.Join(b.TempDir(), "events.db"), sqlite.Options{Registerer: reg, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	codec := domain.NewCodec()
	items, err := eventstore.NewEngine[domain.RoadmapItem, domain.Event](store, codec, domain.RoadmapItem{}, domain.EvolveItem,
		eventstore.EngineOptions{Name: "roadmap_item", Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	collab, err := eventstore.NewEngine[domain.Collaboratory, domain.Event](store, codec, domain.Collaboratory{}, domain.EvolveCollaboratory,
		eventstore.EngineOptions{Name: "collaboratory", Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	launch(b, collab)
	tokens, err := cschttp.NewTokens([]byte(testSecret), nil)
	if err != nil {
		b.Fatal(err)
	}
	runner := projections.NewRunner(store, codec, projections.Options{Registerer: reg, Logger: log})
	runCtx, stopRunner := context.WithCancel(context.Background())
	runnerDone := make(chan error, 1)
	go func() { runnerDone <- runner.Run(runCtx) }()
	server, err := cschttp.NewServer(cschttp.Config{
		Store: store, Codec: codec, Items: items, Collaboratory: collab, Projections: runner, Tokens: tokens,
		Registerer: reg, Gatherer: reg, Logger: log,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := server.Open("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := server.Close(ctx); err != nil {
			b.Errorf("close server: %v", err)
		}
		stopRunner()
		if err := <-runnerDone; err != nil && !errors.Is(err, context.Canceled) {
			b.Errorf("projections: %v", err)
		}
		if err := store.Close(); err != nil {
			b.Errorf("close store: %v", err)
		}
	})
	token, err := tokens.Issue(cschttp.Principal{Subject: "bench", Role: domain.RoleCoordinator}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return benchEnv{url: server.URL(), token: token, reg: reg}
}

// runCommandLoad runs b.N commands from clients concurrent clients and reports the figures.
func runCommandLoad(b *testing.B, env benchEnv, clients int) {
	transport := &http.Transport{MaxIdleConns: 2 * clients, MaxIdleConnsPerHost: 2 * clients}
	b.Cleanup(transport.CloseIdleConnections)
	hc := &http.Client{Transport: transport}
	cities := domain.FoundingCities()
	proposals := make([][]byte, len(cities))
	for i, c := range cities {
		proposals[i] = mustJSON(b, benchProposal(c.ID))
	}
	updates := make([][]byte, 10)
	for i := range updates {
		updates[i] = mustJSON(b, cschttp.UpdateRequest{ProgressPercent: new(10 * (i + 1)),
			Measurement: &domain.Measurement{Value: float64(150 + i*50), Period: "2026-05"},
			Narrative:   fmt.Sprintf("Update %d.", i+1)})
	}

	var (
		left    atomic.Int64 // commands still to send
		mu      sync.Mutex
		lat     []time.Duration
		errOnce sync.Once
		failure error
		wg      sync.WaitGroup
	)
	left.Store(int64(b.N))
	fail := func(err error) { errOnce.Do(func() { failure = err; left.Store(-1 << 40) }) }
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go pprof.Do(context.Background(), pprof.Labels("side", "client"), func(context.Context) {
			defer wg.Done()
			cl := benchClient{hc: hc, url: env.url, auth: "Bearer " + env.token}
			own := make([]time.Duration, 0, b.N/clients+1)
			step := func(path string, body []byte) (string, bool) {
				if left.Add(-1) < 0 {
					return "", false
				}
				t := time.Now()
				id, err := cl.post(path, body)
				if err != nil {
					fail(err)
					return "", false
				}
				own = append(own, time.Since(t))
				return id, true
			}
			defer func() {
				mu.Lock()
				lat = append(lat, own...)
				mu.Unlock()
			}()
			for {
				id, ok := step("/v1/roadmap-items", proposals[c%len(proposals)])
				if !ok {
					return
				}
				item := "/v1/roadmap-items/" + id
				for _, a := range []string{"/approve", "/start"} {
					if _, ok := step(item+a, nil); !ok {
						return
					}
				}
				for _, u := range updates {
					if _, ok := step(item+"/updates", u); !ok {
						return
					}
				}
				if _, ok := step(item+"/complete", nil); !ok {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	if failure != nil {
		b.Fatal(failure)
	}
	if len(lat) != b.N {
		b.Fatalf("%d commands answered, want %d", len(lat), b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cmds/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "CPU-µs/cmd")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99+99)/100-1].Microseconds())/1000, "p99-ms")
	if n, sum := histogram(b, env.reg, "csc_eventstore_sqlite_batch_appends"); n > 0 {
		b.ReportMetric(sum/float64(n), "appends/commit")
	}
}

// histogram returns the count and sum of the histogram name in reg (0, 0 when it has none).
func histogram(b *testing.B, reg *prometheus.Registry, name string) (uint64, float64) {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	return 0, 0
}

// benchClient posts commands as a lean client would: pre-built bodies, kept-alive connections.
type benchClient struct {
	hc   *http.Client
	url  string
	auth string
}

// post sends body (none when nil) to path and returns the written ID of a 2xx answer.
func (c benchClient) post(path string, body []byte) (string, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(http.MethodPost, c.url+path, rd)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", c.auth)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("POST %s: %s: %s", path, resp.Status, b)
	}
	var wr cschttp.WriteResult
	if err := json.Unmarshal(b, &wr); err != nil {
		return "", fmt.Errorf("POST %s: %w", path, err)
	}
	return wr.ID, nil
}

func benchProposal(city string) cschttp.ProposeRequest {
	return cschttp.ProposeRequest{City: city, ItemFields: domain.ItemFields{
		Title: "Load test item", Description: "An item proposed by the benchmark.", Theme: domain.ThemeEcology,
		SDGTargets: []string{"11.6"},
		Indicator: &domain.Indicator{Name: "Trees planted", Unit: "trees", Direction: domain.DirectionIncrease,
			Baseline: domain.YearValue{Value: 100, Year: 2026}, Target: domain.YearValue{Value: 600, Year: 2027}},
		Milestones: []domain.Milestone{{ID: "m1", Title: "Half way", Due: mustDate("2026-11-30")}},
		Budget:     &domain.Budget{Amount: 100000, Currency: "EUR", FundingSource: "City budget"},
		StartDate:  mustDate("2026-05-01"), DueDate: mustDate("2027-05-01"),
	}}
}

func mustDate(s string) domain.Date {
	d, err := domain.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func mustJSON(b *testing.B, v any) []byte {
	b.Helper()
	enc, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return enc
}

// processCPU returns the CPU time (user and system) the process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
