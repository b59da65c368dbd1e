package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/sqlite"
	cschttp "github.com/metropolis/csc/http"
	"github.com/metropolis/csc/projections"
)

// The crash-durability test (issue 8, item 2) and the write workload it shares with the soak test.

// Sizes of the crash test: rounds of load that each end in a SIGKILL, and concurrent writers.
const (
	crashRounds  = 20
	crashWriters = 8
	// crashSeed is the default seed of the kill moments, keys and bodies; CSC_CRASH_SEED overrides it
	// (the seed is logged, so a failing run can be repeated with it).
	crashSeed = 20260314
)

// TestCrashDurability runs csc serve as a separate process on a data folder, drives concurrent
// commands with Idempotency-Keys, kills the process with SIGKILL at a random moment of each round,
// restarts it and retries every unacknowledged command with its key. After the rounds it checks, with
// the server stopped cleanly:
//   - every acknowledged command's event is in the log exactly once, at the revision and position the
//     acknowledgement named, and nothing else is (no command's event twice, no phantom command);
//   - retries of acknowledged commands are answered as replays with the first answer's revision and
//     position and append nothing;
//   - csc verify passes;
//   - the read models of the restarted server (after writes on top of the catch-up) equal a fresh
//     replay of the file: csc replay --format json for the progress, projections.BuildAsOf for the
//     item list.
//
// The kill moments, keys and bodies come from a seed (logged; CSC_CRASH_SEED repeats a run); which
// requests are in flight at a kill depends on timing. A SIGKILL leaves the page cache alone, so this
// proves that an acknowledged command was committed before its answer and that recovery and retries
// neither lose nor double anything; it does not simulate a power cut.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: builds csc and runs it 20 times (skipped with -short)")
	}
	seed := uint64(crashSeed)
	if v := os.Getenv("CSC_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CSC_CRASH_SEED=%q: %v", v, err)
		}
		seed = n
	}
	t.Logf("seed %d (repeat with CSC_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	bin := buildCSC(t)
	dir := filepath.Join(t.TempDir(), "data")
	var (
		writers   []*loadWriter
		readToken string // the coordinator's, from tokens.json
		stats     crashStats
	)

	for round := 1; round <= crashRounds; round++ {
		// Now and then, a kill while the server starts (opening and recovering the store, catching
		// up the projections), before it serves anything.
		if round > 1 && rng.IntN(4) == 0 {
			p := startCSC(t, bin, dir)
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			p.kill(t)
			stats.startKills++
		}
		p := startCSC(t, bin, dir)
		url := p.waitServing(t)
		if writers == nil {
			tf := readTokens(t, dir)
			readToken = tf.Coordinator
			for i := range crashWriters {
				city := domain.FoundingCities()[i%len(domain.FoundingCities())].ID
				writers = append(writers, newLoadWriter(city, tf.Members[city], tf.Coordinator, seed, uint64(i)))
			}
		}
		client := newAPIClient(url, readToken)

		// Retry a few acknowledged commands: each must be answered as a replay of its first answer.
		checkReplays(t, client, writers, rng, 3, &stats)

		delay := time.Duration(20+rng.IntN(700)) * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, w := range writers {
			wg.Go(func() { w.run(ctx, client, round, -1) })
		}
		time.Sleep(delay)
		p.kill(t)
		wg.Wait()
		cancel()
		client.close()

		pending := 0
		for _, w := range writers {
			if w.pending != nil {
				pending++
			}
			if w.failed != nil {
				t.Fatalf("round %d: %v\nserver log (end):\n%s", round, w.failed, p.log.tail(4000))
			}
		}
		stats.unacked += pending
		p.checkNoRace(t)
		t.Logf("round %2d: killed after %v; %d commands acknowledged so far, %d unacknowledged at the kill",
			round, delay, countAcks(writers), pending)
	}

	// The last start: retry what is pending, write a little more (so that the read models are updated
	// live, not only caught up), then compare the read models with a fresh replay.
	p := startCSC(t, bin, dir)
	url := p.waitServing(t)
	client := newAPIClient(url, readToken)
	defer client.close()
	checkReplays(t, client, writers, rng, 10, &stats)
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Go(func() { w.run(context.Background(), client, crashRounds+1, len(lifecycle())) })
	}
	wg.Wait()
	for _, w := range writers {
		if w.failed != nil || w.pending != nil {
			t.Fatalf("after the last start: failed %v, pending %v\nserver log (end):\n%s", w.failed, w.pending, p.log.tail(4000))
		}
	}
	for _, w := range writers {
		for _, a := range w.acks {
			if a.retried {
				stats.retried++
				if a.replayed {
					stats.committedUnacked++
				}
			}
		}
	}
	acks := allAcks(writers)
	head := lastPosition(acks)
	compareReadModels(t, bin, dir, client, head)

	if err := p.stop(); err != nil {
		t.Fatalf("csc serve after SIGTERM: %v\n%s", err, p.log.tail(4000))
	}
	p.checkNoRace(t)
	checkLog(t, dir, acks)
	verifyOutput := runCSC(t, bin, "verify", "--data", dir, "--quiet")
	if !strings.Contains(verifyOutput, "result    OK") {
		t.Errorf("csc verify:\n%s", verifyOutput)
	}
	t.Logf("%d rounds, %d kills during start; %d commands acknowledged, head %s; %d unacknowledged at a kill, "+
		"%d retried (%d of them had been committed before the kill: answered as replays); %d retries of acknowledged commands replayed",
		crashRounds, stats.startKills, len(acks), head, stats.unacked, stats.retried, stats.committedUnacked, stats.replayChecks)
}

// crashStats counts what the crash test saw.
type crashStats struct {
	startKills       int // kills before the server served
	unacked          int // commands unacknowledged at a kill (summed over rounds)
	retried          int // acknowledged commands that needed a retry
	committedUnacked int // of those, the ones committed before the kill (the retry was a replay)
	replayChecks     int // retries of acknowledged commands, all replays
}

// checkReplays resends up to n acknowledged commands, chosen by rng, and requires each answer to be a
// replay of the first: 2xx, Idempotent-Replayed, the same revision and position, and no new event.
func checkReplays(t *testing.T, c *apiClient, writers []*loadWriter, rng *rand.Rand, n int, stats *crashStats) {
	t.Helper()
	acks := allAcks(writers)
	if len(acks) == 0 {
		return
	}
	for range n {
		a := acks[rng.IntN(len(acks))]
		res, replayed, err := c.write(context.Background(), a.cmd)
		if err != nil {
			t.Fatalf("retry of acknowledged %s %s: %v", a.cmd.op, a.cmd.key, err)
		}
		if !replayed || res.Revision != a.res.Revision || res.Position != a.res.Position || res.ID != a.res.ID {
			t.Fatalf("retry of acknowledged %s %s: %+v (replayed %v), first answer %+v", a.cmd.op, a.cmd.key, res, replayed, a.res)
		}
		stats.replayChecks++
	}
}

// compareReadModels waits until the server's read models include head, then compares its progress
// with csc replay --format json and its item list with read models built from the file, each at the
// moment the server evaluated them (the asOf of its answer): a fresh replay must give the same.
func compareReadModels(t *testing.T, bin, dir string, c *apiClient, head eventstore.Position) {
	t.Helper()
	var progress cschttp.Progress
	c.get(t, "/v1/progress?minPosition="+head.String(), &progress)
	if progress.Position != head.String() {
		t.Fatalf("progress at position %s, want the head %s", progress.Position, head)
	}
	var replay Replay
	out := runCSC(t, bin, "replay", "--format", "json", "--as-of", progress.AsOf, "--data", dir, "--quiet")
	if err := json.Unmarshal([]byte(out), &replay); err != nil {
		t.Fatalf("csc replay output: %v\n%s", err, out)
	}
	if replay.Position != head.String() {
		t.Errorf("csc replay is at position %s, want %s", replay.Position, head)
	}
	if diff := cmp.Diff(replay.Progress, progress.Cities); diff != "" {
		t.Errorf("progress of the server differs from csc replay (-replay +server):\n%s", diff)
	}

	st, err := sqlite.Open(filepath.Join(dir, storeFile), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	models, err := projections.BuildAsOf(context.Background(), st, domain.NewCodec(), projections.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	if models.Position() != head {
		t.Fatalf("read models built from the file are at %s, want %s", models.Position(), head)
	}
	after, items := "", 0
	for {
		var page cschttp.ItemList
		c.get(t, "/v1/roadmap-items?limit=500&minPosition="+head.String()+"&after="+after, &page)
		at, err := time.Parse(time.RFC3339Nano, page.AsOf)
		if err != nil {
			t.Fatal(err)
		}
		want := models.Items(projections.ItemFilter{After: after, Limit: 500}, at)
		if diff := cmp.Diff(want, page.Items); diff != "" {
			t.Fatalf("items after %q differ from a fresh replay (-replay +server):\n%s", after, diff)
		}
		items += len(page.Items)
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if items == 0 {
		t.Fatal("the server lists no roadmap items")
	}
}

// checkLog opens the file read-only and checks the events against the acknowledgements: each
// acknowledged command has exactly one event (every command of the workload decides one), in its
// item's stream at the acknowledged revision and position; every other event belongs to the launch.
func checkLog(t *testing.T, dir string, acks []ack) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, storeFile), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	byCommand := map[string][]eventstore.RecordedEvent{}
	total := 0
	for ev, err := range st.ReadAll(context.Background(), eventstore.Position{}) {
		if err != nil {
			t.Fatal(err)
		}
		var md eventstore.Metadata
		if err := json.Unmarshal(ev.Metadata, &md); err != nil {
			t.Fatalf("event %s: metadata: %v", ev.Position, err)
		}
		byCommand[md.CommandID] = append(byCommand[md.CommandID], ev)
		total++
	}
	launch := launchCommandID(domain.PilotSlug).String()
	if len(byCommand[launch]) == 0 {
		t.Errorf("no launch events in the log")
	}
	seen := map[string]bool{launch: true}
	for _, a := range acks {
		seen[a.cmd.key] = true
		evs := byCommand[a.cmd.key]
		if len(evs) != 1 {
			t.Errorf("acknowledged %s %s has %d events in the log, want 1", a.cmd.op, a.cmd.key, len(evs))
			continue
		}
		ev := evs[0]
		if ev.Stream != domain.ItemStream(a.res.ID) || ev.Revision != a.res.Revision || ev.Position.String() != a.res.Position {
			t.Errorf("acknowledged %s %s: event in %s at revision %d, position %s; acknowledged %s, revision %d, position %s",
				a.cmd.op, a.cmd.key, ev.Stream, ev.Revision, ev.Position, domain.ItemStream(a.res.ID), a.res.Revision, a.res.Position)
		}
	}
	for id, evs := range byCommand {
		if !seen[id] {
			t.Errorf("%d events of command %q, which was never acknowledged (first at %s)", len(evs), id, evs[0].Position)
		}
	}
	if want := len(byCommand[launch]) + len(acks); total != want {
		t.Errorf("the log has %d events, want %d (launch and one per acknowledged command)", total, want)
	}
}

// lastPosition is the greatest position among acks.
func lastPosition(acks []ack) eventstore.Position {
	var head eventstore.Position
	for _, a := range acks {
		p, err := eventstore.ParsePosition(a.res.Position)
		if err == nil && head.Before(p) {
			head = p
		}
	}
	return head
}

// ---- the csc process ----

// buildCSC builds the csc binary into a temporary folder, with the race detector when this test
// binary has it (the server's data races then show in its log: see checkNoRace) and the same tags.
func buildCSC(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "csc")
	args := []string{"build", "-o", bin}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "-race" && s.Value == "true":
				args = append(args, "-race")
			case s.Key == "-tags" && s.Value != "":
				args = append(args, "-tags", s.Value)
			}
		}
	}
	cmd := exec.Command("go", append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	return bin
}

// cleanEnv is the process environment without the CSC_ variables, so that only flags configure csc.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "CSC_") })
}

// runCSC runs a csc command to completion and returns its standard output; a non-zero exit fails t.
func runCSC(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("csc %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// cscProcess is a running csc serve.
type cscProcess struct {
	cmd  *exec.Cmd
	log  *processLog
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, once done
}

// startCSC starts csc serve on the data folder, listening on a free loopback port.
func startCSC(t *testing.T, bin, dir string) *cscProcess {
	t.Helper()
	p := &cscProcess{log: newProcessLog(), done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", dir, "--log-level", "info")
	p.cmd.Env = cleanEnv()
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// startTimeout bounds the wait for a start (a race-instrumented binary on a busy machine is slow).
const startTimeout = 2 * time.Minute

// waitServing waits until the server logs its URL and returns it.
func (p *cscProcess) waitServing(t *testing.T) string {
	t.Helper()
	select {
	case url := <-p.log.serving:
		return url
	case <-p.done:
		t.Fatalf("csc serve exited before serving: %v\n%s", p.err, p.log.tail(4000))
	case <-time.After(startTimeout):
		t.Fatalf("csc serve did not serve within %v\n%s", startTimeout, p.log.tail(4000))
	}
	return ""
}

// kill sends SIGKILL and waits for the process to end.
func (p *cscProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	<-p.done
}

// stop sends SIGTERM and returns the exit error (nil for status 0).
func (p *cscProcess) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	<-p.done
	return p.err
}

// checkNoRace fails t when the race detector reported in the server's log.
func (p *cscProcess) checkNoRace(t *testing.T) {
	t.Helper()
	if p.log.contains("WARNING: DATA RACE") {
		t.Fatalf("the server reported a data race:\n%s", p.log.tail(20000))
	}
}

// processLog collects a process's standard error and reports the URL of its "csc serving" line.
type processLog struct {
	serving chan string
	// servingLine is the line csc serve logs once it listens, with its URL.
	servingLine *regexp.Regexp

	mu    sync.Mutex
	buf   bytes.Buffer
	line  []byte // the unfinished last line
	found bool
}

func newProcessLog() *processLog {
	return &processLog{serving: make(chan string, 1), servingLine: regexp.MustCompile(`msg="csc serving" url=(\S+)`)}
}

func (l *processLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(b)
	if !l.found {
		l.line = append(l.line, b...)
		for {
			i := bytes.IndexByte(l.line, '\n')
			if i < 0 {
				break
			}
			if m := l.servingLine.FindSubmatch(l.line[:i]); m != nil {
				l.found = true
				l.serving <- string(m[1])
				l.line = nil
				break
			}
			l.line = l.line[i+1:]
		}
	}
	return len(b), nil
}

func (l *processLog) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.buf.Bytes(), []byte(s))
}

// tail returns the last n bytes of the log.
func (l *processLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// ---- the write workload (shared with the soak test) ----

// lifecycle is what a writer does to each of its items, in order: each entry is a command that
// appends exactly one event.
func lifecycle() []string {
	return []string{"propose", "approve", "start", "update", "update", "update", "complete"}
}

// loadCommand is one write request.
type loadCommand struct {
	op    string // an entry of lifecycle
	path  string
	token string
	key   string // the Idempotency-Key: a UUID, so that it is the command ID recorded in the metadata
	body  []byte // nil for the commands that carry nothing
}

// ack is an acknowledged command: the first 2xx answer to it.
type ack struct {
	cmd      loadCommand
	res      cschttp.WriteResult
	replayed bool // the answer was a replay (the command had been committed by an earlier attempt)
	retried  bool // the command was sent before and not acknowledged then
	round    int
}

// loadWriter proposes roadmap items for one city and takes each through its lifecycle. Its keys come
// from its own seeded source. It is used by one goroutine at a time.
type loadWriter struct {
	city, member, coordinator string // the city and the tokens of its member and of the coordinator
	rng                       *rand.Rand

	item    string // the item being worked on ("" until its proposal is acknowledged)
	step    int    // the next entry of lifecycle
	items   int    // items proposed so far
	pending *loadCommand
	retry   bool  // pending was sent and not acknowledged
	keep    bool  // keep every ack in acks (else only count them)
	acks    []ack // the acknowledged commands, in order (with keep)
	acked   int   // the number of acknowledged commands
	failed  error
	// onAck, when set, is told of each acknowledged command.
	onAck func(op string, res cschttp.WriteResult)
}

func newLoadWriter(city, member, coordinator string, seed, stream uint64) *loadWriter {
	return &loadWriter{city: city, member: member, coordinator: coordinator, rng: rand.New(rand.NewPCG(seed, stream+100)), keep: true}
}

// key returns a version-4 UUID from the writer's source.
func (w *loadWriter) key() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], w.rng.Uint64())
	binary.LittleEndian.PutUint64(b[8:], w.rng.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuid.UUID(b).String()
}

// next returns the command to send: the pending one, else the next of the lifecycle.
func (w *loadWriter) next() loadCommand {
	if w.pending != nil {
		return *w.pending
	}
	steps := lifecycle()
	c := loadCommand{op: steps[w.step], token: w.member, key: w.key()}
	item := "/v1/roadmap-items/" + w.item
	switch c.op {
	case "propose":
		c.path = "/v1/roadmap-items"
		c.body = mustJSON(proposeBody(w.city, fmt.Sprintf("Item %d of %s", w.items+1, w.city)))
	case "approve":
		c.path, c.token = item+"/approve", w.coordinator
	case "start":
		c.path = item + "/start"
	case "update":
		n := w.step - slices.Index(steps, "update") + 1 // 1, 2, 3
		c.path = item + "/updates"
		c.body = mustJSON(map[string]any{
			"progressPercent": 25 * n, "measurement": map[string]any{"value": 10000 * n, "period": fmt.Sprintf("2026-Q%d", n)},
			"milestonesReached": []string{fmt.Sprintf("m%d", n)}, "narrative": fmt.Sprintf("Step %d done.", n),
			"evidence": []map[string]any{{"uri": fmt.Sprintf("https://example.org/%s/%d.pdf", w.city, n), "sha256": strings.Repeat("0", 64)}},
		})
	case "complete":
		c.path = item + "/complete"
	}
	w.pending = &c
	return c
}

// done records the answer to the pending command and moves on.
func (w *loadWriter) done(res cschttp.WriteResult, replayed bool, round int) {
	c := *w.pending
	if w.keep {
		w.acks = append(w.acks, ack{cmd: c, res: res, replayed: replayed, retried: w.retry, round: round})
	}
	w.acked++
	w.pending, w.retry = nil, false
	if c.op == "propose" {
		w.item = res.ID
		w.items++
	}
	if w.onAck != nil {
		w.onAck(c.op, res)
	}
	w.step = (w.step + 1) % len(lifecycle())
	if w.step == 0 {
		w.item = ""
	}
}

// run sends commands until one is not answered (the server died: the command stays pending), the
// context ends, or limit commands were acknowledged (limit < 0: no limit). Any answer but a 2xx
// fails the writer.
func (w *loadWriter) run(ctx context.Context, c *apiClient, round, limit int) {
	for n := 0; (limit < 0 || n < limit) && ctx.Err() == nil; n++ {
		cmd := w.next()
		res, replayed, err := c.write(ctx, cmd)
		var se *statusError
		switch {
		case errors.As(err, &se):
			w.failed = fmt.Errorf("%s %s (key %s, retry %v): %w", cmd.op, cmd.path, cmd.key, w.retry, err)
			return
		case err != nil:
			w.retry = true
			return
		}
		w.done(res, replayed, round)
	}
}

func countAcks(writers []*loadWriter) int {
	n := 0
	for _, w := range writers {
		n += len(w.acks)
	}
	return n
}

func allAcks(writers []*loadWriter) []ack {
	var out []ack
	for _, w := range writers {
		out = append(out, w.acks...)
	}
	return out
}

// proposeBody is a valid proposal with an indicator and three milestones (one per update).
func proposeBody(city, title string) map[string]any {
	return map[string]any{
		"city": city, "title": title, "description": "Cover public buildings with green roofs.",
		"theme": "ecology", "sdgTargets": []string{"11.6", "11.7"},
		"indicator": map[string]any{"name": "Green roof area", "unit": "m2", "direction": "increase",
			"baseline": map[string]any{"value": 1200, "year": 2025}, "target": map[string]any{"value": 40000, "year": 2028}},
		"milestones": []map[string]any{
			{"id": "m1", "title": "Survey of roofs", "due": "2026-09-30"},
			{"id": "m2", "title": "First roofs", "due": "2027-06-30"},
			{"id": "m3", "title": "All roofs", "due": "2028-06-30"},
		},
		"budget":    map[string]any{"amount": 2500000, "currency": "EUR", "fundingSource": "City budget"},
		"startDate": "2026-04-01", "dueDate": "2028-12-31",
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// ---- the HTTP client ----

// apiClient sends the workload's requests to one server.
type apiClient struct {
	base      string
	token     string // for reads (get)
	transport *http.Transport
	http      *http.Client
}

func newAPIClient(base, readToken string) *apiClient {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	return &apiClient{base: base, token: readToken, transport: tr, http: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// close closes the client's idle connections.
func (c *apiClient) close() { c.transport.CloseIdleConnections() }

// statusError is an answer with an unexpected status.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d: %s", e.status, e.body) }

// write sends cmd. It returns the WriteResult of a 2xx answer and whether it was a replay, a
// *statusError for another answer, or the transport's error when there was no answer.
func (c *apiClient) write(ctx context.Context, cmd loadCommand) (cschttp.WriteResult, bool, error) {
	var body io.Reader
	if cmd.body != nil {
		body = bytes.NewReader(cmd.body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+cmd.path, body)
	if err != nil {
		return cschttp.WriteResult{}, false, err
	}
	if cmd.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+cmd.token)
	req.Header.Set(cschttp.IdempotencyKeyHeader, cmd.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return cschttp.WriteResult{}, false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return cschttp.WriteResult{}, false, err // the answer was cut off: not acknowledged
	}
	if resp.StatusCode/100 != 2 {
		return cschttp.WriteResult{}, false, &statusError{status: resp.StatusCode, body: string(b)}
	}
	var res cschttp.WriteResult
	if err := json.Unmarshal(b, &res); err != nil {
		return cschttp.WriteResult{}, false, &statusError{status: resp.StatusCode, body: "undecodable: " + string(b)}
	}
	return res, resp.Header.Get(cschttp.ReplayedHeader) == "true", nil
}

// get reads path with the client's read token into out; any answer but 200 fails t.
func (c *apiClient) get(t *testing.T, path string, out any) {
	t.Helper()
	if err := c.getErr(context.Background(), c.token, path, out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// getErr reads path with token into out.
func (c *apiClient) getErr(ctx context.Context, token, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{status: resp.StatusCode, body: string(b)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode %s: %w", b, err)
	}
	return nil
}
