package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	_ "modernc.org/sqlite" // database/sql driver "sqlite": the tests tamper with the file directly

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/esdb"
	"github.com/metropolis/csc/eventstore/esdb/esdbfixture"
	"github.com/metropolis/csc/eventstore/export"
	"github.com/metropolis/csc/eventstore/sqlite"
	"github.com/metropolis/csc/projections"
)

// stepClock is the store's clock in these tests: every reading is a minute after the previous one, so
// that every commit has its own recorded time. It is read by the store's writer goroutine.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Minute)
	return c.t
}

// auditLog is a real log written through the real engines and deciders: the launch, the demo, then,
// after the moment at, a city joins and the proposed items are approved.
type auditLog struct {
	path string // events.db, closed
	// at lies between the demo's last event and the first later one; atPos is the demo's last position.
	at    time.Time
	atPos eventstore.Position
	// asOfAt, asOfPos and asOfEnd are the live read models captured at at (evaluated at at, and at
	// the effective time of the event at atPos) and at the end (evaluated at end).
	asOfAt, asOfPos, asOfEnd Replay
	end                      time.Time
	digest                   string // of the whole log, as the Verifier computes it
	events                   int
}

// demoNow is the day the demo is seeded relative to (the decisions' "at"); the store records its own
// (later) times from stepClock.
func demoNow() time.Time { return time.Date(2019, 6, 30, 12, 0, 0, 0, time.UTC) }

// capture is what csc replay --matrix --items should print for models evaluated at now.
func capture(m *projections.Models, now time.Time) Replay {
	mx := m.Matrix()
	r := Replay{Position: m.Position().String(), AsOf: now, Events: m.Stats().Events, Progress: m.Progress(now),
		Matrix: &mx, Items: m.Items(projections.ItemFilter{}, now)}
	return r
}

func buildAuditLog(t *testing.T) *auditLog {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	lg := &auditLog{path: filepath.Join(dir, "events.db")}
	clk := &stepClock{t: time.Date(2019, 7, 1, 8, 0, 0, 0, time.UTC)}
	st, err := sqlite.Open(lg.path, sqlite.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	codec := domain.NewCodec()
	items, err := eventstore.NewEngine[domain.RoadmapItem, domain.Event](st, codec, domain.RoadmapItem{}, domain.EvolveItem, eventstore.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	collab, err := eventstore.NewEngine[domain.Collaboratory, domain.Event](st, codec, domain.Collaboratory{}, domain.EvolveCollaboratory, eventstore.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := launchPilot(ctx, collab, demoNow().AddDate(-1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := seedDemo(ctx, items, collab, demoNow()); err != nil {
		t.Fatal(err)
	}
	// The live read models catch up with the demo, then follow the log live.
	runner := projections.NewRunner(st, codec, projections.Options{})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	}()
	caughtUp := func() eventstore.Position {
		head, err := st.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := runner.WaitFor(wctx, head); err != nil {
			t.Fatal(err)
		}
		return head
	}

	lg.atPos = caughtUp()
	var last eventstore.RecordedEvent
	for ev, err := range st.ReadAll(ctx, eventstore.Position{Commit: lg.atPos.Commit - 1, Prepare: lg.atPos.Prepare - 1}) {
		if err != nil {
			t.Fatal(err)
		}
		last = ev
	}
	lg.at = last.Recorded.Add(30 * time.Second)
	lg.asOfAt = capture(runner.Models(), lg.at)
	lg.asOfPos = capture(runner.Models(), export.RecordedAt(last)) // the demo's events are back-dated

	// After at: a city joins, and every proposed item is approved.
	coordinator := domain.Context{Now: demoNow().AddDate(0, 0, 1), Actor: "coordinator", Role: domain.RoleCoordinator}
	join := domain.JoinCollaboratory{City: domain.City{ID: "montreal", Name: "Montréal", Country: "CA"}}
	if _, err := collab.Execute(ctx, domain.CollaboratoryStream(domain.PilotSlug), eventstore.Command{
		ID: uuid.New(), Name: join.CommandName(), Actor: coordinator.Actor, Role: string(coordinator.Role),
	}, func(s domain.Collaboratory, _ bool) ([]domain.Event, error) {
		return domain.DecideCollaboratory(s, join, coordinator)
	}); err != nil {
		t.Fatal(err)
	}
	proposed := runner.Models().Items(projections.ItemFilter{Stage: domain.StageProposed}, lg.at)
	if len(proposed) == 0 {
		t.Fatal("the demo has no proposed item")
	}
	for _, it := range proposed {
		if _, err := items.Execute(ctx, domain.ItemStream(it.ID), eventstore.Command{
			ID: uuid.New(), Name: domain.CmdApprove, Actor: coordinator.Actor, Role: string(coordinator.Role),
		}, func(s domain.RoadmapItem, _ bool) ([]domain.Event, error) {
			return domain.DecideItem(s, domain.ApproveRoadmapItem{}, coordinator)
		}); err != nil {
			t.Fatal(err)
		}
	}
	caughtUp()
	lg.end = clk.now().Add(time.Hour)
	lg.asOfEnd = capture(runner.Models(), lg.end)

	v := eventstore.NewVerifier()
	for ev, err := range st.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Check(ev); err != nil {
			t.Fatalf("the log as written does not verify: %v", err)
		}
	}
	lg.digest, lg.events = v.Summary().Digest, v.Summary().Events
	return lg
}

// copyLog copies the log's file (and its WAL, if a reader left one) into a fresh folder and returns
// the copy's path.
func (lg *auditLog) copyLog(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "events.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(lg.path + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// run runs an auditor command in process on env; it returns stdout, stderr and the error.
type runResult struct {
	stdout, stderr string
	err            error
}

func (r runResult) code() int { return exitCode(r.err) }

func runAudit(ctx context.Context, terminal bool, env map[string]string, now time.Time, args ...string) runResult {
	var out, errOut bytes.Buffer
	a := newAuditor(&out, &errOut, func(k string) string { return env[k] })
	a.terminal = func(io.Writer) bool { return terminal }
	a.now = func() time.Time { return now }
	cmds := map[string]func(context.Context, []string) error{"replay": a.replay, "verify": a.verify, "export": a.export}
	err := cmds[args[0]](ctx, args[1:])
	return runResult{stdout: out.String(), stderr: errOut.String(), err: err}
}

// sqlExec runs statements on the SQLite file at path directly (not through the store).
func sqlExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// storedEvent is a row of the events table.
type storedEvent struct {
	position, revision int64
	stream, eventID    string
	typ, data, meta    string
}

func sqlEvents(t *testing.T, path, where string) []storedEvent {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT position, stream, revision, event_id, type, data, metadata FROM events WHERE " + where + " ORDER BY position")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedEvent
	for rows.Next() {
		var e storedEvent
		if err := rows.Scan(&e.position, &e.stream, &e.revision, &e.eventID, &e.typ, &e.data, &e.meta); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TestAuditor builds one real log and runs the auditor's commands on it and on tampered copies.
func TestAuditor(t *testing.T) {
	lg := buildAuditLog(t)
	ctx := context.Background()
	t.Logf("log of %d events; at = %s (position %s)", lg.events, lg.at.Format(time.RFC3339), lg.atPos)

	t.Run("replay as of a moment equals the live read models then", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			want Replay
		}{
			{"as of a time", []string{"--as-of", lg.at.Format(time.RFC3339Nano)}, lg.asOfAt},
			{"as of a position", []string{"--position", lg.atPos.String()}, lg.asOfPos},
			{"as of now", nil, lg.asOfEnd},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				args := append([]string{"replay", "--store", lg.path, "--format", "json", "--matrix", "--items"}, tt.args...)
				res := runAudit(ctx, false, nil, lg.end, args...)
				if res.err != nil {
					t.Fatalf("replay: %v\n%s", res.err, res.stderr)
				}
				var got Replay
				if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
					t.Fatalf("replay output is not JSON: %v\n%s", err, res.stdout)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Fatalf("replay (-live +replayed):\n%s", diff)
				}
			})
		}
		if cmp.Equal(lg.asOfAt.Progress, lg.asOfEnd.Progress) {
			t.Fatal("the log did not change after at: the test cannot tell the moments apart")
		}
	})

	t.Run("replay prints tables", func(t *testing.T) {
		res := runAudit(ctx, false, nil, lg.end, "replay", "--store", lg.path, "--as-of", lg.at.Format(time.RFC3339), "--matrix", "--items")
		if res.err != nil {
			t.Fatal(res.err)
		}
		for _, want := range []string{"As of " + lg.at.Truncate(time.Second).Format(time.RFC3339), "position " + lg.atPos.String(),
			"CITY", "IN PROGRESS", "AT RISK", "berlin", "johannesburg", "ECOLOGY", "11.a", "Roadmap items", "Green roofs on public buildings"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("replay table lacks %q:\n%s", want, res.stdout)
			}
		}
		if strings.Contains(res.stdout, "montreal") {
			t.Errorf("as of %s, Montréal had not joined yet:\n%s", lg.at, res.stdout)
		}
	})

	t.Run("verify a sound log", func(t *testing.T) {
		res := runAudit(ctx, false, nil, lg.end, "verify", "--store", lg.path)
		if res.err != nil {
			t.Fatalf("verify: %v\n%s", res.err, res.stdout)
		}
		for _, want := range []string{"events    " + strconv.Itoa(lg.events), "digest    " + lg.digest, "result    OK"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("verify output lacks %q:\n%s", want, res.stdout)
			}
		}
		if res.stderr != "" {
			t.Errorf("verify wrote to stderr off a terminal: %q", res.stderr)
		}
		// The data folder and CSC_STORE name the same store.
		for _, env := range []map[string]string{{"CSC_DATA": filepath.Dir(lg.path)}, {"CSC_STORE": "sqlite://" + lg.path}, {"CSC_STORE": "sqlite:" + lg.path}} {
			if got := runAudit(ctx, false, env, lg.end, "verify"); got.err != nil || got.stdout != res.stdout {
				t.Errorf("verify with %v: %v\n%s", env, got.err, got.stdout)
			}
		}
	})

	t.Run("tampering is found", func(t *testing.T) { testTampering(t, lg) })
	t.Run("export and verify the export", func(t *testing.T) { testExport(t, lg) })
	t.Run("usage errors exit 2", func(t *testing.T) { testUsageErrors(t, lg) })
	t.Run("progress bars", func(t *testing.T) { testProgress(t, lg) })
	t.Run("exit status of the program", func(t *testing.T) { testExitStatus(t, lg) })
	t.Run("on EventStoreDB", func(t *testing.T) { testEventStoreDB(t, lg) })
}

// firstBroken parses the "first broken link" block of csc verify.
func firstBroken(out string) map[string]string {
	_, block, ok := strings.Cut(out, "first broken link:\n")
	if !ok {
		return nil
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		m[k] = strings.TrimSpace(v)
	}
	return m
}

func testTampering(t *testing.T, lg *auditLog) {
	ctx := context.Background()
	// The victim: an item stream with at least four events, and its events.
	all := sqlEvents(t, lg.path, "stream IN (SELECT stream FROM streams WHERE stream LIKE 'roadmap-%' AND events >= 4 LIMIT 1)")
	if len(all) < 4 {
		t.Fatal("no item stream with four events")
	}
	stream, e1, e2 := all[0].stream, all[1], all[2]
	maxPos := sqlEvents(t, lg.path, "position = (SELECT max(position) FROM events)")[0].position

	// forge returns the statements that insert a forged event into the stream after e1, with e1's hash
	// as its prevHash and its own hash recomputed, shifting the later events' revisions to make room
	// (and moving it to e1's place in $all by shifting positions): what a forger who knows the
	// algorithm does.
	forge := func() []string {
		var md eventstore.Metadata
		if err := json.Unmarshal([]byte(e1.meta), &md); err != nil {
			t.Fatal(err)
		}
		data := `{"narrative":"Forged: all done.","progressPercent":100}`
		md.PrevHash = md.Hash
		md.CommandID = uuid.NewString()
		h, err := eventstore.HashEvent(stream, uint64(e1.revision+1), domain.TypeRoadmapUpdateSubmitted, []byte(data), md)
		if err != nil {
			t.Fatal(err)
		}
		md.Hash = h
		mdJSON, _ := json.Marshal(md)
		var stmts []string
		// Make room: every later position moves up by one, every later revision of the stream too
		// (one row at a time, from the end, so that the unique keys hold throughout).
		for p := maxPos; p > e1.position; p-- {
			stmts = append(stmts, fmt.Sprintf("UPDATE events SET position = %d WHERE position = %d", p+1, p))
		}
		for i := len(all) - 1; i >= 2; i-- {
			stmts = append(stmts, fmt.Sprintf("UPDATE events SET revision = %d WHERE stream = %s AND revision = %d", all[i].revision+1, sqlQuote(stream), all[i].revision))
		}
		return append(stmts, fmt.Sprintf("INSERT INTO events (position, stream, revision, event_id, type, data, metadata, recorded) VALUES (%d, %s, %d, %s, %s, %s, %s, '2019-07-01T09:00:00.000000000Z')",
			e1.position+1, sqlQuote(stream), e1.revision+1, sqlQuote(uuid.NewString()), sqlQuote(domain.TypeRoadmapUpdateSubmitted), sqlQuote(data), sqlQuote(string(mdJSON))))
	}

	oneByte := strings.Replace(e1.data, `"`, `'`, 1) // a quote becomes an apostrophe somewhere in the data
	if oneByte == e1.data || len(oneByte) != len(e1.data) {
		t.Fatal("cannot change one byte of the data")
	}
	// after returns the event that follows position p in $all: where a deletion at p shows, as a gap
	// in the positions (which count the events in a SQLite store).
	after := func(p int64) storedEvent { return sqlEvents(t, lg.path, fmt.Sprintf("position = %d", p+1))[0] }
	last := all[len(all)-1]
	if last.position == maxPos {
		t.Fatal("the victim stream ends the log: its last event's deletion would leave no gap")
	}
	gap1, gapLast := after(e1.position), after(last.position)
	tests := []struct {
		name  string
		stmts []string
		// want: the first broken link's stream ("": the victim's), revision, position and what.
		stream             string
		revision, position int64
		what               string
	}{
		{"one byte of data", []string{fmt.Sprintf("UPDATE events SET data = %s WHERE position = %d",
			sqlQuote(strings.Replace(e1.data, "a", "b", 1)), e1.position)}, "", e1.revision, e1.position, eventstore.BrokenHash},
		{"one byte of data, JSON no longer valid", []string{fmt.Sprintf("UPDATE events SET data = %s WHERE position = %d",
			sqlQuote(oneByte), e1.position)}, "", e1.revision, e1.position, eventstore.BrokenHash},
		{"metadata actor", []string{fmt.Sprintf("UPDATE events SET metadata = json_set(metadata, '$.actor', 'someone-else') WHERE position = %d",
			e1.position)}, "", e1.revision, e1.position, eventstore.BrokenHash},
		{"metadata gains an unhashed field", []string{fmt.Sprintf("UPDATE events SET metadata = json_set(metadata, '$.approvedBy', 'mayor') WHERE position = %d",
			e1.position)}, "", e1.revision, e1.position, eventstore.BrokenMetadata},
		{"an event deleted", []string{fmt.Sprintf("DELETE FROM events WHERE position = %d", e1.position)},
			gap1.stream, gap1.revision, gap1.position, eventstore.BrokenGap},
		{"the last event of a stream deleted", []string{fmt.Sprintf("DELETE FROM events WHERE position = %d", last.position)},
			gapLast.stream, gapLast.revision, gapLast.position, eventstore.BrokenGap},
		{"two events swapped", []string{
			fmt.Sprintf("UPDATE events SET position = %d WHERE position = %d", maxPos+10, e1.position),
			fmt.Sprintf("UPDATE events SET position = %d WHERE position = %d", e1.position, e2.position),
			fmt.Sprintf("UPDATE events SET position = %d WHERE position = %d", e2.position, maxPos+10),
		}, "", e2.revision, e1.position, eventstore.BrokenRevision},
		{"a forged event with its own hash recomputed", forge(), "", e2.revision + 1, e2.position + 1, eventstore.BrokenPrevHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := lg.copyLog(t)
			sqlExec(t, path, tt.stmts...)
			res := runAudit(ctx, false, nil, lg.end, "verify", "--store", path)
			if res.code() != 1 {
				t.Fatalf("verify exit status %d (%v), want 1:\n%s", res.code(), res.err, res.stdout)
			}
			got := firstBroken(res.stdout)
			wantStream := stream
			if tt.stream != "" {
				wantStream = tt.stream
			}
			want := map[string]string{"stream": wantStream, "revision": strconv.FormatInt(tt.revision, 10),
				"position": strconv.FormatInt(tt.position, 10), "broken": tt.what}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("first broken link %s = %q, want %q\n%s", k, got[k], v, res.stdout)
				}
			}
			if got["expected"] == "" || got["found"] == "" || got["expected"] == got["found"] {
				t.Errorf("first broken link does not say what was expected against what was found:\n%s", res.stdout)
			}
			if !strings.Contains(res.err.Error(), wantStream) {
				t.Errorf("error %q does not name the stream", res.err)
			}
		})
	}

	// What the chains and the positions cannot show, the digest does: the last event of the log
	// deleted, or a forged event appended at the end of a stream with a correct chain, leave every link
	// sound but change the digest that an auditor compares with one taken earlier.
	t.Run("tail changes show in the digest", func(t *testing.T) {
		var md eventstore.Metadata
		if err := json.Unmarshal([]byte(last.meta), &md); err != nil {
			t.Fatal(err)
		}
		md.PrevHash, md.CommandID = md.Hash, uuid.NewString()
		data := `{"narrative":"Appended by a forger."}`
		md.Hash, _ = eventstore.HashEvent(stream, uint64(last.revision+1), domain.TypeRoadmapUpdateSubmitted, []byte(data), md)
		mdJSON, _ := json.Marshal(md)
		for name, stmt := range map[string]string{
			"tail deleted": fmt.Sprintf("DELETE FROM events WHERE position = %d", maxPos),
			"tail forged": fmt.Sprintf("INSERT INTO events (position, stream, revision, event_id, type, data, metadata, recorded) VALUES (%d, %s, %d, %s, %s, %s, %s, '2019-07-02T09:00:00.000000000Z')",
				maxPos+1, sqlQuote(stream), last.revision+1, sqlQuote(uuid.NewString()), sqlQuote(domain.TypeRoadmapUpdateSubmitted), sqlQuote(data), sqlQuote(string(mdJSON))),
		} {
			path := lg.copyLog(t)
			sqlExec(t, path, stmt)
			res := runAudit(ctx, false, nil, lg.end, "verify", "--store", path)
			if res.err != nil {
				t.Fatalf("%s: verify: %v", name, res.err)
			}
			if !strings.Contains(res.stdout, "digest    ") || strings.Contains(res.stdout, lg.digest) {
				t.Fatalf("%s: the digest did not change (was %s):\n%s", name, lg.digest, res.stdout)
			}
		}
	})
}

func testExport(t *testing.T, lg *auditLog) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "log.jsonl")
	res := runAudit(ctx, false, nil, lg.end, "export", "--store", lg.path, "--out", file)
	if res.err != nil {
		t.Fatalf("export: %v", res.err)
	}
	if want := fmt.Sprintf("exported %d events", lg.events); !strings.Contains(res.stdout, want) {
		t.Fatalf("export summary %q lacks %q", res.stdout, want)
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, %v (want mode 0600)", info, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*partial")); len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}

	// The export verifies offline to the same digest.
	res = runAudit(ctx, false, nil, lg.end, "verify", "--file", file)
	if res.err != nil {
		t.Fatalf("verify --file: %v\n%s", res.err, res.stdout)
	}
	if !strings.Contains(res.stdout, "digest    "+lg.digest) || !strings.Contains(res.stdout, "events    "+strconv.Itoa(lg.events)) {
		t.Fatalf("verify --file: want %d events and digest %s:\n%s", lg.events, lg.digest, res.stdout)
	}

	// To stdout, the export is the same bytes and nothing else.
	res = runAudit(ctx, false, nil, lg.end, "export", "--store", lg.path, "--format", "jsonl")
	written, _ := os.ReadFile(file)
	if res.err != nil || res.stdout != string(written) || res.stderr != "" {
		t.Fatalf("export to stdout: %v; same as --out: %v; stderr %q", res.err, res.stdout == string(written), res.stderr)
	}

	// An export continued with --after its last position is the rest of the log; the two parts
	// concatenated verify like the whole.
	lines := strings.SplitAfter(strings.TrimSuffix(string(written), "\n"), "\n")
	var mid struct{ Position string }
	if err := json.Unmarshal([]byte(lines[len(lines)/2]), &mid); err != nil {
		t.Fatal(err)
	}
	res = runAudit(ctx, false, nil, lg.end, "export", "--store", lg.path, "--after", mid.Position)
	if res.err != nil || res.stdout != strings.Join(lines[len(lines)/2+1:], "")+"\n" {
		t.Fatalf("export --after %s is not the rest of the log (%v)", mid.Position, res.err)
	}

	// --until: the log as it stood at a moment; --stream: a prefix of stream names.
	res = runAudit(ctx, false, nil, lg.end, "export", "--store", lg.path, "--until", lg.at.Format(time.RFC3339Nano))
	if n := strings.Count(res.stdout, "\n"); res.err != nil || n != int(lg.atPos.Commit) {
		t.Fatalf("export --until at: %d events (%v), want %d", n, res.err, lg.atPos.Commit)
	}
	res = runAudit(ctx, false, nil, lg.end, "export", "--store", lg.path, "--stream", "collaboratory-", "--format", "csv")
	records, err := csv.NewReader(strings.NewReader(res.stdout)).ReadAll()
	if res.err != nil || err != nil || len(records) < 3 {
		t.Fatalf("export --stream --format csv: %v, %v, %d records", res.err, err, len(records))
	}
	for _, r := range records[1:] {
		if r[1] != "collaboratory-csc" {
			t.Fatalf("export --stream collaboratory- wrote stream %q", r[1])
		}
	}

	// A tampered line of the export is caught: one byte of one event's data.
	target := lines[len(lines)/3]
	var ev struct {
		Position, Stream string
		Revision         int
	}
	json.Unmarshal([]byte(target), &ev)
	i := strings.Index(target, `"data":{`) + len(`"data":{`)
	j := i + strings.IndexAny(target[i:], "aeiou")
	tampered := target[:j] + "x" + target[j+1:]
	bad := filepath.Join(dir, "tampered.jsonl")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(written), target, tampered, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	res = runAudit(ctx, false, nil, lg.end, "verify", "--file", bad)
	got := firstBroken(res.stdout)
	if res.code() != 1 || got["stream"] != ev.Stream || got["revision"] != strconv.Itoa(ev.Revision) || got["position"] != ev.Position || got["broken"] != eventstore.BrokenHash {
		t.Fatalf("verify of a tampered export: exit %d, first broken %v; want 1 and %s revision %d position %s:\n%s",
			res.code(), got, ev.Stream, ev.Revision, ev.Position, res.stdout)
	}

	// A line that is not an exported event is named by its number, exit 1.
	if err := os.WriteFile(bad, []byte(lines[0]+"{\"position\":\"2\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res = runAudit(ctx, false, nil, lg.end, "verify", "--file", bad)
	if res.code() != 1 || !strings.Contains(res.err.Error(), "line 2") || !strings.Contains(res.stdout, "unreadable after 1 events") {
		t.Fatalf("verify of a broken export: exit %d, %v\n%s", res.code(), res.err, res.stdout)
	}

	// A failed export leaves no file behind.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	failed := filepath.Join(dir, "failed.jsonl")
	if res := runAudit(cctx, false, nil, lg.end, "export", "--store", lg.path, "--out", failed); res.err == nil {
		t.Fatal("export with a cancelled context succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("files after a failed export: %v, want log.jsonl and tampered.jsonl only", entries)
	}
}

func testUsageErrors(t *testing.T, lg *auditLog) {
	ctx := context.Background()
	empty := t.TempDir()
	notStore := filepath.Join(empty, "notes.txt")
	if err := os.WriteFile(notStore, []byte("these are not the events you are looking for, not at all, no........................................................"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"missing store file", []string{"verify", "--store", filepath.Join(empty, "nope.db")}, nil, "the file does not exist"},
		{"empty data folder", []string{"replay"}, map[string]string{"CSC_DATA": empty}, "no event store at " + filepath.Join(empty, "events.db")},
		{"store is a folder", []string{"export", "--store", empty}, nil, "is a folder"},
		{"not an event store", []string{"verify", "--store", notStore}, nil, "not an SQLite database"},
		{"missing export file", []string{"verify", "--file", filepath.Join(empty, "nope.jsonl")}, nil, "no such file"},
		{"unknown store scheme", []string{"verify", "--store", "postgres://localhost/csc"}, nil, `unknown store "postgres://localhost/csc"`},
		{"unknown store scheme from the environment", []string{"export"}, map[string]string{"CSC_STORE": "s3://bucket/events"}, `scheme "s3"`},
		{"sqlite: without a path", []string{"verify", "--store", "sqlite:"}, nil, "no file path"},
		{"bad --as-of", []string{"replay", "--store", lg.path, "--as-of", "yesterday"}, nil, `--as-of "yesterday": not an RFC 3339 time`},
		{"--as-of without a zone", []string{"replay", "--store", lg.path, "--as-of", "2019-06-30T12:00:00"}, nil, "not an RFC 3339 time"},
		{"bad --until", []string{"export", "--store", lg.path, "--until", "2019-13-01T00:00:00Z"}, nil, "--until"},
		{"bad --position", []string{"replay", "--store", lg.path, "--position", "last"}, nil, `--position "last": not a position`},
		{"--position 0", []string{"replay", "--store", lg.path, "--position", "0"}, nil, "--position 0"},
		{"bad --after", []string{"export", "--store", lg.path, "--after", "-3"}, nil, "not a position"},
		{"both limits", []string{"replay", "--store", lg.path, "--as-of", "2019-06-30T12:00:00Z", "--position", "3"}, nil, "not both"},
		{"bad replay format", []string{"replay", "--store", lg.path, "--format", "xml"}, nil, `--format "xml"`},
		{"bad export format", []string{"export", "--store", lg.path, "--format", "parquet"}, nil, `--format "parquet"`},
		{"unknown flag", []string{"verify", "--store", lg.path, "--fast"}, nil, "flag provided but not defined: -fast"},
		{"stray argument", []string{"verify", "--store", lg.path, "now"}, nil, "unexpected arguments"},
		{"--out in a missing folder", []string{"export", "--store", lg.path, "--out", filepath.Join(empty, "no", "x.jsonl")}, nil, "the folder does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runAudit(ctx, false, tt.env, lg.end, tt.args...)
			if res.code() != 2 || !strings.Contains(res.err.Error(), tt.want) {
				t.Fatalf("%v: exit %d, %v; want 2 and %q", tt.args, res.code(), res.err, tt.want)
			}
			if res.stdout != "" {
				t.Fatalf("a usage error printed a result: %q", res.stdout)
			}
		})
	}
}

func testProgress(t *testing.T, lg *auditLog) {
	ctx := context.Background()
	// A drawn bar with a count, a rate and a time estimate, e.g.
	// "verify  37% |███      | (312/843, 2051 events/s) [0s:0s]".
	progressLine := regexp.MustCompile(`\d+/\d+, \d+ events/(s|min|hr)\) \[\d+[a-z.0-9]*:\d+[a-z.0-9]*\]`)
	file := filepath.Join(t.TempDir(), "log.jsonl")
	if res := runAudit(ctx, false, nil, lg.end, "export", "--store", lg.path, "--out", file); res.err != nil {
		t.Fatal(res.err)
	}
	tests := []struct {
		name string
		args []string
		bar  *regexp.Regexp // what the bar shows on a terminal
	}{
		{"verify", []string{"verify", "--store", lg.path}, progressLine},
		{"export", []string{"export", "--store", lg.path}, progressLine},
		{"replay", []string{"replay", "--store", lg.path}, progressLine},
		{"verify a file", []string{"verify", "--file", file}, regexp.MustCompile(`\([\d.]+( ?[kMG]?B)?/[\d.]+ ?[kMG]?B, [\d.]+ ?[kMG]?B/s\) \[\d+[a-z.0-9]*:\d+[a-z.0-9]*\]`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain := runAudit(ctx, false, nil, lg.end, tt.args...)
			onTerminal := runAudit(ctx, true, nil, lg.end, tt.args...)
			quiet := runAudit(ctx, true, nil, lg.end, append(tt.args, "--quiet")...)
			for _, r := range []runResult{plain, onTerminal, quiet} {
				if r.err != nil {
					t.Fatal(r.err)
				}
			}
			if plain.stderr != "" || quiet.stderr != "" {
				t.Fatalf("stderr off a terminal %q, with --quiet %q: want nothing", plain.stderr, quiet.stderr)
			}
			if onTerminal.stdout != plain.stdout || quiet.stdout != plain.stdout {
				t.Fatal("the result differs with a progress bar")
			}
			if !tt.bar.MatchString(onTerminal.stderr) {
				t.Fatalf("no bar with a count, a rate and an ETA on the terminal:\n%q", onTerminal.stderr)
			}
			if !strings.HasPrefix(onTerminal.stderr, tt.args[0]) && !strings.Contains(onTerminal.stderr, "\r"+tt.args[0]) {
				t.Fatalf("the bar is not described as %s: %q", tt.args[0], onTerminal.stderr)
			}
			// The bar is cleared at the end: its last write blanks the line.
			if !regexp.MustCompile(`\r +\r$`).MatchString(onTerminal.stderr) {
				t.Fatalf("the bar is not cleared at the end: %q", onTerminal.stderr[max(0, len(onTerminal.stderr)-120):])
			}
		})
	}
}

// testExitStatus runs the test binary as the csc program (see TestMain in main_test.go) to check the
// exit status and the message on stderr.
func testExitStatus(t *testing.T, lg *auditLog) {
	broken := lg.copyLog(t)
	sqlExec(t, broken, "UPDATE events SET data = json_set(data, '$.x', 1) WHERE position = 5")
	tests := []struct {
		name   string
		args   string
		status int
		stderr string
	}{
		{"sound", "verify --store " + lg.path, 0, ""},
		{"broken", "verify --store " + broken, 1, "csc: verify sqlite:" + broken},
		{"missing file", "verify --store " + lg.path + ".missing", 2, "csc: no event store at " + lg.path + ".missing"},
		{"bad time", "replay --store " + lg.path + " --as-of tomorrow", 2, `csc: --as-of "tomorrow": not an RFC 3339 time`},
		{"unknown store", "export --store redis://localhost", 2, `csc: unknown store "redis://localhost"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "CSC_TEST_RUN_MAIN=1", "CSC_TEST_ARGS="+tt.args)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			status := 0
			if errors.As(err, &ee) {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tt.status || !strings.HasPrefix(stderr.String(), tt.stderr) {
				t.Fatalf("csc %s: exit %d, stderr %q; want %d, %q", tt.args, status, stderr.String(), tt.status, tt.stderr)
			}
		})
	}
}

func TestGrouped(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {89_000_000, "89,000,000"}, {1234.5, "1,234.50"}, {-1234567.25, "-1,234,567.25"},
	}
	for _, tt := range tests {
		if got := grouped(tt.v); got != tt.want {
			t.Errorf("grouped(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("boom"), 1},
		{usagef("bad flag"), 2},
		{fmt.Errorf("wrapped: %w", usagef("bad flag")), 2},
		{&exitError{code: 1, err: errors.New("broken chain")}, 1},
		{flag.ErrHelp, 0},
		{usageError(fmt.Errorf("parse: %w", flag.ErrHelp)), 0},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// testEventStoreDB runs the auditor's commands on EventStoreDB. No server runs here: the store is
// esdbfixture, an in-process fake of the EventStoreDB gRPC protocol, reached through the real adapter
// and client over a real connection. The log is copied into it as csc copy does: in $all order, each
// event with its ID, type and data, and its metadata with the original recorded time added (the
// "recorded" field, which the hash does not cover).
func testEventStoreDB(t *testing.T, lg *auditLog) {
	ctx := context.Background()
	f := esdbfixture.Start(t, esdbfixture.Options{})
	src, err := sqlite.Open(lg.path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := esdb.Open(ctx, f.URL(), esdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for ev, err := range src.ReadAll(ctx, eventstore.Position{}) {
		if err != nil {
			t.Fatal(err)
		}
		var md eventstore.Metadata
		if err := json.Unmarshal(ev.Metadata, &md); err != nil {
			t.Fatal(err)
		}
		if md.Recorded == nil { // as csc copy: an event recorded as of another time keeps it
			md.Recorded = &ev.Recorded
		}
		meta, err := json.Marshal(md)
		if err != nil {
			t.Fatal(err)
		}
		expected := eventstore.NoStream()
		if ev.Revision > 0 {
			expected = eventstore.Exact(ev.Revision - 1)
		}
		if _, err := dst.Append(ctx, ev.Stream, expected, []eventstore.EventData{{ID: ev.ID, Type: ev.Type, Data: ev.Data, Metadata: meta}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CSC_STORE": f.URL()}

	res := runAudit(ctx, false, env, lg.end, "verify")
	if res.err != nil || !strings.Contains(res.stdout, "digest    "+lg.digest) || !strings.Contains(res.stdout, "events    "+strconv.Itoa(lg.events)) {
		t.Fatalf("verify on EventStoreDB: %v; want %d events and the digest of the SQLite log %s:\n%s", res.err, lg.events, lg.digest, res.stdout)
	}
	if !strings.Contains(res.stdout, "source    esdb://"+f.Addr()) {
		t.Fatalf("verify does not name the store:\n%s", res.stdout)
	}

	file := filepath.Join(t.TempDir(), "esdb.jsonl")
	if res := runAudit(ctx, false, env, lg.end, "export", "--out", file); res.err != nil {
		t.Fatal(res.err)
	}
	if res := runAudit(ctx, false, nil, lg.end, "verify", "--file", file); res.err != nil || !strings.Contains(res.stdout, "digest    "+lg.digest) {
		t.Fatalf("verify of the EventStoreDB export: %v\n%s", res.err, res.stdout)
	}

	// Replay as of the moment at uses the original recorded times: the same models as the live ones
	// then, at EventStoreDB's positions.
	res = runAudit(ctx, false, env, lg.end, "replay", "--as-of", lg.at.Format(time.RFC3339Nano), "--format", "json", "--matrix", "--items")
	var got Replay
	if err := json.Unmarshal([]byte(res.stdout), &got); res.err != nil || err != nil {
		t.Fatalf("replay on EventStoreDB: %v, %v", res.err, err)
	}
	want := lg.asOfAt
	want.Position = got.Position
	if diff := cmp.Diff(want, got); diff != "" || got.Position == lg.asOfAt.Position {
		t.Fatalf("replay on EventStoreDB at position %s (-live on SQLite +replayed):\n%s", got.Position, diff)
	}

	// Positions do not count events here: the bar counts events and shows a rate, without a total.
	res = runAudit(ctx, true, env, lg.end, "verify")
	if res.err != nil || !regexp.MustCompile(`\(\d+, \d+ events/(s|min|hr)\)`).MatchString(res.stderr) {
		t.Fatalf("verify on a terminal: %v; no count and rate in %q", res.err, res.stderr)
	}
}
