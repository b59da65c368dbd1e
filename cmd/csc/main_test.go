package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/sqlite"
	cschttp "github.com/metropolis/csc/http"
	"github.com/metropolis/csc/projections"
)

// TestMain lets a test run this test binary as the csc program (see TestSignalShutdown).
func TestMain(m *testing.M) {
	if os.Getenv("CSC_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"csc"}, strings.Fields(os.Getenv("CSC_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testMain is a Main on env (nothing else from the process's environment) logging into a buffer.
func testMain(env map[string]string) (*Main, *syncBuffer, *bytes.Buffer) {
	m := NewMain()
	logs, out := &syncBuffer{}, &bytes.Buffer{}
	m.Stdout, m.Stderr = out, logs
	m.Getenv = func(k string) string { return env[k] }
	m.ShutdownTimeout = 10 * time.Second
	return m, logs, out
}

// serve runs "csc serve" with args and returns the base URL; the server is closed at the end of the test.
func serve(t *testing.T, m *Main, args ...string) string {
	t.Helper()
	if err := m.Run(context.Background(), append([]string{"serve"}, args...)); err != nil {
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return m.app.server.URL()
}

// call sends a JSON request with a bearer token and decodes a JSON answer into out (when not nil).
func call(t *testing.T, method, url, token string, body any, out any) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, b, err)
		}
	}
	return resp
}

func readTokens(t *testing.T, dir string) TokensFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, tokensFile))
	if err != nil {
		t.Fatal(err)
	}
	var tf TokensFile
	if err := json.Unmarshal(b, &tf); err != nil {
		t.Fatal(err)
	}
	return tf
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// logLength opens the store read-only and returns its head position.
func logLength(t *testing.T, dir string) uint64 {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, storeFile), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	head, err := st.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return head.Commit
}

// TestFirstStartAndWalkthrough: serve on an empty folder launches the pilot and writes the secret and
// tokens.json (mode 0600) with a token per role and per founding city; the README's walk-through works
// with those tokens; a second start changes nothing; csc token issue makes tokens the server accepts.
func TestFirstStartAndWalkthrough(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"CSC_DATA": dir, "CSC_ADDR": "127.0.0.1:0"}
	m, logs, _ := testMain(env)
	url := serve(t, m)

	tf := readTokens(t, dir)
	if tf.Admin == "" || tf.Coordinator == "" || tf.Auditor == "" || len(tf.Members) != len(domain.FoundingCities()) {
		t.Fatalf("tokens.json: %+v", tf)
	}
	for _, c := range domain.FoundingCities() {
		if tf.Members[c.ID] == "" {
			t.Errorf("no member token for %s", c.ID)
		}
	}
	for _, f := range []string{tokensFile, secretFile} {
		if got := mode(t, filepath.Join(dir, f)); got != 0o600 {
			t.Errorf("%s has mode %o, want 600", f, got)
		}
	}
	if !strings.Contains(logs.String(), url) || !strings.Contains(logs.String(), filepath.Join(dir, tokensFile)) {
		t.Errorf("the log does not say the URL and where the tokens are:\n%s", logs)
	}

	// The README's walk-through.
	var item cschttp.WriteResult
	call(t, "POST", url+"/v1/roadmap-items", tf.Members["berlin"], map[string]any{
		"city": "berlin", "title": "Green roofs on public buildings", "description": "Cover 40 public buildings with green roofs.",
		"theme": "ecology", "sdgTargets": []string{"11.6", "11.7"},
		"indicator":  map[string]any{"name": "Green roof area", "unit": "m2", "direction": "increase", "baseline": map[string]any{"value": 1200, "year": 2025}, "target": map[string]any{"value": 40000, "year": 2028}},
		"milestones": []map[string]any{{"id": "m1", "title": "Survey of roofs", "due": "2026-09-30"}},
		"budget":     map[string]any{"amount": 2500000, "currency": "EUR", "fundingSource": "City budget"},
		"startDate":  "2026-04-01", "dueDate": "2028-12-31",
	}, &item)
	call(t, "POST", url+"/v1/roadmap-items/"+item.ID+"/approve", tf.Coordinator, nil, nil)
	call(t, "POST", url+"/v1/roadmap-items/"+item.ID+"/start", tf.Members["berlin"], nil, nil)
	var upd cschttp.WriteResult
	call(t, "POST", url+"/v1/roadmap-items/"+item.ID+"/updates", tf.Members["berlin"], map[string]any{
		"progressPercent": 20, "measurement": map[string]any{"value": 5000, "period": "2026-Q3"}, "milestonesReached": []string{"m1"},
		"narrative": "Survey done.", "evidence": []map[string]any{{"uri": "https://example.org/roofs.pdf", "sha256": strings.Repeat("0", 64)}},
	}, &upd)
	var row cschttp.CityProgress
	call(t, "GET", url+"/v1/progress/berlin?minPosition="+upd.Position, tf.Coordinator, nil, &row)
	if row.City != "berlin" || row.Position != upd.Position {
		t.Errorf("progress of berlin: %+v, want it at position %s", row, upd.Position)
	}

	// csc token issue, with the data folder's secret.
	tm, _, out := testMain(env)
	if err := tm.Run(context.Background(), []string{"token", "issue", "--role", "member", "--city", "madrid", "--ttl", "1h"}); err != nil {
		t.Fatal(err)
	}
	call(t, "GET", url+"/v1/progress/madrid", strings.TrimSpace(out.String()), nil, nil)

	head := logLength(t, dir)
	before, err := os.ReadFile(filepath.Join(dir, tokensFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := logLength(t, dir); got != head {
		t.Fatalf("closing changed the log from %d to %d events", head, got)
	}

	m2, logs2, _ := testMain(env)
	url2 := serve(t, m2)
	// The read models catch up from the log after the server opens; then the old tokens still work.
	waitReadyz(t, url2)
	call(t, "GET", url2+"/v1/progress/berlin", tf.Coordinator, nil, nil)
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(filepath.Join(dir, tokensFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := logLength(t, dir); got != head || !bytes.Equal(before, after) {
		t.Errorf("a second start changed things: %d events (was %d), tokens.json changed: %v", got, head, !bytes.Equal(before, after))
	}
	if strings.Contains(logs2.String(), "first start") || strings.Contains(logs2.String(), "wrote tokens") {
		t.Errorf("the second start says it launched or wrote tokens:\n%s", logs2)
	}
}

func TestServeConfig(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		ok   bool
	}{
		{"flags override env", map[string]string{"CSC_ADDR": "not an address", "CSC_DATA": dir}, []string{"--addr", "127.0.0.1:0"}, true},
		{"bad address", map[string]string{"CSC_ADDR": "not an address", "CSC_DATA": dir}, nil, false},
		{"bad log level", map[string]string{"CSC_ADDR": "127.0.0.1:0", "CSC_DATA": dir, "CSC_LOG_LEVEL": "loud"}, nil, false},
		{"short secret", map[string]string{"CSC_ADDR": "127.0.0.1:0", "CSC_DATA": dir, "CSC_TOKEN_SECRET": "short"}, nil, false},
		{"unknown store", map[string]string{"CSC_ADDR": "127.0.0.1:0", "CSC_DATA": dir, "CSC_STORE": "postgres://x"}, nil, false},
		{"sqlite store path", map[string]string{"CSC_ADDR": "127.0.0.1:0", "CSC_DATA": dir, "CSC_STORE": "sqlite:" + filepath.Join(dir, "other.db")}, nil, true},
		{"unexpected argument", map[string]string{"CSC_ADDR": "127.0.0.1:0", "CSC_DATA": dir}, []string{"now"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, logs, _ := testMain(c.env)
			err := m.Run(context.Background(), append([]string{"serve"}, c.args...))
			if (err == nil) != c.ok {
				t.Fatalf("serve: %v, want ok %v\n%s", err, c.ok, logs)
			}
			if err := m.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "other.db")); err != nil {
		t.Errorf("CSC_STORE=sqlite:<path> did not make the file: %v", err)
	}
}

func TestTokenIssue(t *testing.T) {
	secret := strings.Repeat("s", 40)
	tokens, err := cschttp.NewTokens([]byte(secret), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want *cschttp.Principal // nil: an error
	}{
		{"member", map[string]string{"CSC_TOKEN_SECRET": secret}, []string{"--role", "member", "--city", "dakar"},
			&cschttp.Principal{Subject: "member-dakar", Role: domain.RoleMember, City: "dakar"}},
		{"auditor with subject", map[string]string{"CSC_TOKEN_SECRET": secret}, []string{"--role", "auditor", "--subject", "kpmg"},
			&cschttp.Principal{Subject: "kpmg", Role: domain.RoleAuditor}},
		{"member without city", map[string]string{"CSC_TOKEN_SECRET": secret}, []string{"--role", "member"}, nil},
		{"coordinator with city", map[string]string{"CSC_TOKEN_SECRET": secret}, []string{"--role", "coordinator", "--city", "dakar"}, nil},
		{"no role", map[string]string{"CSC_TOKEN_SECRET": secret}, nil, nil},
		{"no secret", map[string]string{"CSC_DATA": t.TempDir()}, []string{"--role", "admin"}, nil},
		{"negative ttl", map[string]string{"CSC_TOKEN_SECRET": secret}, []string{"--role", "admin", "--ttl", "-1h"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, _, out := testMain(c.env)
			err := m.Run(context.Background(), append([]string{"token", "issue"}, c.args...))
			if c.want == nil {
				if err == nil {
					t.Fatalf("issued %s", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := tokens.Verify(strings.TrimSpace(out.String()))
			if err != nil || p != *c.want {
				t.Errorf("token for %+v (%v), want %+v", p, err, *c.want)
			}
		})
	}
}

// TestDemo: --demo seeds every founding city with items in every stage and updates over months, and
// running it again appends nothing.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"CSC_DATA": dir, "CSC_ADDR": "127.0.0.1:0"}
	m, _, _ := testMain(env)
	url := serve(t, m, "--demo")
	tf := readTokens(t, dir)
	head, err := m.app.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var progress cschttp.Progress
	call(t, "GET", url+"/v1/progress?minPosition="+head.String(), tf.Coordinator, nil, &progress)
	checkDemoProgress(t, progress)

	// Every stage in every city, from the log itself.
	stages := map[string]map[domain.Stage]bool{}
	for _, c := range domain.FoundingCities() {
		stages[c.ID] = map[domain.Stage]bool{}
	}
	items := map[string]domain.RoadmapItem{}
	codec := domain.NewCodec()
	for ev, err := range m.app.store.ReadAll(context.Background(), eventstore.Position{}) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ev.Stream, "roadmap-") {
			continue
		}
		var md struct {
			SchemaVersion int `json:"schemaVersion"`
		}
		if err := json.Unmarshal(ev.Metadata, &md); err != nil {
			t.Fatal(err)
		}
		e, err := codec.Decode(ev.Type, md.SchemaVersion, ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		items[ev.Stream] = domain.EvolveItem(items[ev.Stream], e)
	}
	updates := 0
	for _, it := range items {
		stages[it.City][it.Stage] = true
		updates += len(it.Updates)
	}
	for city, seen := range stages {
		for _, s := range domain.Stages() {
			if !seen[s] {
				t.Errorf("%s has no item in stage %s", city, s)
			}
		}
	}
	if updates < 7*20 {
		t.Errorf("%d roadmap updates in the demo, want months of them", updates)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m2, logs2, _ := testMain(env)
	serve(t, m2, "--demo")
	if got, _ := m2.app.store.Head(context.Background()); got != head {
		t.Errorf("a second --demo moved the log from %s to %s", head, got)
	}
	if !strings.Contains(logs2.String(), "appended=0") {
		t.Errorf("the second demo says it appended something:\n%s", logs2)
	}
}

// TestSignalShutdown runs csc serve as a process, sends it SIGTERM, and checks that it drains, stops
// the projections and closes the store cleanly (exit 0; the store's WAL checkpointed away).
func TestSignalShutdown(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CSC_TEST_RUN_MAIN=1", "CSC_TEST_ARGS=serve --addr 127.0.0.1:0 --data "+dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	var log strings.Builder
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "csc serving") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("csc serve after SIGTERM: %v\n%s", err, log.String())
	}
	for _, want := range []string{"csc serving", "event store closed", "stopped cleanly"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, log.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, storeFile+"-wal")); !os.IsNotExist(err) {
		t.Errorf("the store's WAL is still there after a clean stop (%v)", err)
	}
}

// TestLoadgen runs the load generator briefly, in the closed loop and at an offered rate: it must seed,
// serve, and complete commands without failures (its figures are not asserted: the machines are shared).
func TestLoadgen(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		offered string
	}{
		{nil, "closed loop"},
		{[]string{"--rate", "200"}, "200/s"},
	} {
		t.Run(tt.offered, func(t *testing.T) {
			m, logs, out := testMain(map[string]string{})
			outFile := filepath.Join(t.TempDir(), "bench.md")
			args := append([]string{"loadgen", "--events", "200", "--clients", "4", "--duration", "300ms", "--out", outFile}, tt.args...)
			if err := m.Run(context.Background(), args); err != nil {
				t.Fatalf("loadgen: %v\n%s", err, logs)
			}
			table := out.String()
			file, err := os.ReadFile(outFile)
			if err != nil || string(file) != table {
				t.Errorf("--out holds %q (%v), stdout %q", file, err, table)
			}
			var history, clients, failed int
			var offered string
			var rate float64
			for _, line := range strings.Split(table, "\n") {
				fields := strings.Split(line, "|")
				if len(fields) < 8 {
					continue
				}
				if _, err := fmt.Sscanf(fields[1]+fields[2], "%d %d", &history, &clients); err != nil {
					continue
				}
				offered = strings.TrimSpace(fields[3])
				fmt.Sscanf(strings.TrimSpace(fields[4]), "%f", &rate)
				fmt.Sscanf(strings.TrimSpace(fields[7]), "%d", &failed)
				break
			}
			if history < 200 || clients != 4 || offered != tt.offered || rate <= 0 || failed != 0 {
				t.Errorf("loadgen table: history %d, clients %d, offered %q, rate %f, failed %d:\n%s", history, clients, offered, rate, failed, table)
			}
		})
	}
}

// TestPacer checks the open loop's schedule: a client on time waits for its command's turn; a late
// one sends at once, and its command's latency starts when it was due, not when it was sent.
func TestPacer(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	var slept []time.Duration
	p := &pacer{next: t0, interval: 10 * time.Millisecond, sleep: func(d time.Duration) { slept = append(slept, d) }}
	steps := []struct {
		now      time.Time
		due      time.Time
		sleepFor time.Duration // 0: no sleep
	}{
		{t0.Add(-3 * time.Millisecond), t0, 3 * time.Millisecond},                            // early: waits its turn
		{t0.Add(10 * time.Millisecond), t0.Add(10 * time.Millisecond), 0},                    // exactly on time
		{t0.Add(35 * time.Millisecond), t0.Add(20 * time.Millisecond), 0},                    // late: sends at once, latency from 20 ms
		{t0.Add(36 * time.Millisecond), t0.Add(30 * time.Millisecond), 0},                    // still behind: the schedule holds
		{t0.Add(39 * time.Millisecond), t0.Add(40 * time.Millisecond), 1 * time.Millisecond}, // caught up
	}
	for i, st := range steps {
		slept = nil
		if due := p.wait(st.now); !due.Equal(st.due) {
			t.Errorf("step %d: due %v, want %v", i, due.Sub(t0), st.due.Sub(t0))
		}
		var want []time.Duration
		if st.sleepFor > 0 {
			want = []time.Duration{st.sleepFor}
		}
		if !slices.Equal(slept, want) {
			t.Errorf("step %d: slept %v, want %v", i, slept, want)
		}
	}
}

// checkDemoProgress checks the demo's progress rows: every founding city has items in every stage,
// some overdue, and items of every health but "achieved" by completion alone; the demo as a whole shows
// every health value.
func checkDemoProgress(t *testing.T, p cschttp.Progress) {
	t.Helper()
	found := map[string]bool{}
	var health projections.HealthCounts
	for _, row := range p.Cities {
		found[row.City] = true
		s := row.Stages
		for name, n := range map[string]int{"proposed": s.Proposed, "changes_requested": s.ChangesRequested, "approved": s.Approved,
			"in_progress": s.InProgress, "on_hold": s.OnHold, "completed": s.Completed, "rejected": s.Rejected, "cancelled": s.Cancelled} {
			if n == 0 {
				t.Errorf("%s has no item %s", row.City, name)
			}
		}
		if row.Overdue == 0 || row.Milestones.Reached == 0 || len(row.Budget) == 0 || row.LastUpdate.IsZero() || row.Completion <= 0 {
			t.Errorf("%s's row shows too little: %+v", row.City, row)
		}
		health.NotStarted += row.Health.NotStarted
		health.OnTrack += row.Health.OnTrack
		health.Behind += row.Health.Behind
		health.AtRisk += row.Health.AtRisk
		health.Achieved += row.Health.Achieved
	}
	for _, c := range domain.FoundingCities() {
		if !found[c.ID] {
			t.Errorf("no progress row for %s", c.ID)
		}
	}
	if health.NotStarted == 0 || health.OnTrack == 0 || health.Behind == 0 || health.AtRisk == 0 || health.Achieved == 0 {
		t.Errorf("the demo does not show every health: %+v", health)
	}
}

// TestUsageAndHelp: every command treats usage errors alike (exit status 2, one line naming the
// problem with a hint, nothing on stdout, nothing done) and help alike (the usage on stdout, exit 0).
func TestUsageAndHelp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"CSC_DATA": dir, "CSC_ADDR": "127.0.0.1:0", "CSC_TOKEN_SECRET": strings.Repeat("s", 40)}
	usage := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"bogus"}, `unknown command "bogus" (run csc help`},
		{[]string{"help", "bogus"}, `unknown command "bogus"`},
		{[]string{"serve", "--bogus"}, "flag provided but not defined: -bogus (run csc serve -h"},
		{[]string{"serve", "extra"}, `unexpected arguments ["extra"] (run csc serve -h`},
		{[]string{"serve", "--log-level", "loud"}, `log level "loud"`},
		{[]string{"token"}, "usage: csc token issue"},
		{[]string{"token", "revoke"}, "usage: csc token issue"},
		{[]string{"token", "issue", "--role", "king"}, `unknown role "king"`},
		{[]string{"token", "issue", "--role", "admin", "--ttl", "-1h"}, "--ttl"},
		{[]string{"token", "issue", "--role", "admin", "extra"}, "unexpected arguments"},
		{[]string{"loadgen", "--bogus"}, "flag provided but not defined: -bogus (run csc loadgen -h"},
		{[]string{"loadgen", "--events", "0", "--clients", "1", "--duration", "1ms", "x"}, `unexpected arguments ["x"]`},
		{[]string{"loadgen", "--events", "many"}, `--events: "many"`},
		{[]string{"loadgen", "--rate", "-5"}, "--rate must be a number of commands/s"},
		{[]string{"loadgen", "--rate", "1e-9"}, "--rate must be a number of commands/s"},
		{[]string{"loadgen", "--rate", "NaN"}, "--rate must be a number of commands/s"},
		{[]string{"bench", "x"}, `unexpected arguments ["x"] (run csc bench -h`},
		{[]string{"bench", "--only", "nope"}, `unknown measurement "nope"`},
		{[]string{"replay", "--bogus"}, "flag provided but not defined: -bogus (run csc replay -h"},
		{[]string{"copy", "--bogus"}, "flag provided but not defined: -bogus (run csc copy -h"},
	}
	for _, c := range usage {
		t.Run(strings.Join(append([]string{"csc"}, c.args...), " "), func(t *testing.T) {
			m, _, out := testMain(env)
			err := m.Run(context.Background(), c.args)
			defer m.Close()
			if code := exitCode(err); code != 2 || err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("exit %d, %v; want 2 and one line with %q", code, err, c.want)
			}
			if out.Len() > 0 {
				t.Errorf("a usage error printed on stdout: %q", out)
			}
		})
	}
	if files := dataFiles(t, dir); len(files) > 0 {
		t.Errorf("usage errors wrote %q into the data folder", files)
	}

	help := []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "usage: csc <command>"},
		{[]string{"-h"}, "usage: csc <command>"},
		{[]string{"--help"}, "usage: csc <command>"},
		{[]string{"help", "serve"}, "-addr"},
		{[]string{"serve", "-h"}, "-addr"},
		{[]string{"serve", "--help"}, "-addr"},
		{[]string{"token", "-h"}, "usage: csc token issue"},
		{[]string{"token", "issue", "-h"}, "-role"},
		{[]string{"loadgen", "-h"}, "-clients"},
		{[]string{"bench", "-h"}, "usage: csc bench"},
		{[]string{"replay", "-h"}, "-as-of"},
		{[]string{"copy", "-h"}, "-from"},
	}
	for _, c := range help {
		t.Run(strings.Join(append([]string{"csc"}, c.args...), " "), func(t *testing.T) {
			m, logs, out := testMain(env)
			err := m.Run(context.Background(), c.args)
			defer m.Close()
			if code := exitCode(err); code != 0 || !strings.Contains(out.String(), c.want) {
				t.Fatalf("exit %d (%v), stdout %q; want 0 and the usage with %q on stdout\nstderr: %s", code, err, out, c.want, logs)
			}
		})
	}
}
