package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/esdb/esdbfixture"
	"github.com/metropolis/csc/eventstore/sqlite"
)

// copyOpts configure one in-process run of csc copy.
type copyOpts struct {
	terminal  bool
	maxEvents int
	// interruptAfter cancels the run's context once it has copied at least this many events (0:
	// never): right after that append, or, with soon, from another goroutine, so that the
	// cancellation may land during the next append.
	interruptAfter int
	soon           bool
	// appended is called after every append with the number of events copied so far.
	appended func(n int)
	// retries and retryWait replace the copier's when retryWait is set.
	retries   int
	retryWait time.Duration
	// retrying is called when the copier says on stderr that it will try an append again.
	retrying func()
}

// hookWriter is a stderr that calls hook on every write that contains text.
type hookWriter struct {
	bytes.Buffer
	text string
	hook func()
}

func (h *hookWriter) Write(p []byte) (int, error) {
	if h.hook != nil && bytes.Contains(p, []byte(h.text)) {
		h.hook()
	}
	return h.Buffer.Write(p)
}

func copyRun(o copyOpts, args ...string) runResult {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	errOut := &hookWriter{text: "trying again", hook: o.retrying}
	c := newCopier(&out, errOut)
	c.terminal = func(io.Writer) bool { return o.terminal }
	if o.maxEvents > 0 {
		c.maxEvents = o.maxEvents
	}
	if o.interruptAfter > 0 {
		// Small groups of appends (to a SQLite target), so that the interruptions land inside the
		// test's small log, and inside groups.
		c.maxGroup = 5
	}
	if o.retryWait > 0 {
		c.retries, c.retryWait = o.retries, o.retryWait
	}
	c.appended = func(n int) {
		if o.appended != nil {
			o.appended(n)
		}
		switch {
		case o.interruptAfter == 0 || n < o.interruptAfter:
		case o.soon:
			go cancel()
		default:
			cancel()
		}
	}
	err := c.run(ctx, args)
	return runResult{stdout: out.String(), stderr: errOut.String(), err: err}
}

// readLog reads the whole $all of the store named spec (opened read-only, as csc copy opens its source).
func readLog(t testing.TB, spec string) []eventstore.RecordedEvent {
	t.Helper()
	ref, err := parseStoreRef(spec, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := ref.open(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var evs []eventstore.RecordedEvent
	for ev, err := range st.ReadAll(context.Background(), eventstore.Position{}) {
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// summary verifies a log with the Verifier and fails on any broken link.
func summary(t testing.TB, evs []eventstore.RecordedEvent) eventstore.VerifySummary {
	t.Helper()
	v := eventstore.NewVerifier()
	for _, ev := range evs {
		if err := v.Check(ev); err != nil {
			t.Fatalf("the log does not verify: %v", err)
		}
	}
	return v.Summary()
}

// copiedMetadata is the metadata a copy of ev must carry, built here independently of the copier:
// the source's bytes with the "recorded" field (ev's recorded time) added as the last field, unless
// they have one already.
func copiedMetadata(t testing.TB, ev eventstore.RecordedEvent) string {
	t.Helper()
	var md eventstore.Metadata
	if err := json.Unmarshal(ev.Metadata, &md); err != nil {
		t.Fatalf("source metadata: %v", err)
	}
	if md.Recorded != nil {
		return string(ev.Metadata)
	}
	m := string(ev.Metadata)
	if !strings.HasSuffix(m, "}") {
		t.Fatalf("source metadata is not an object: %s", m)
	}
	return strings.TrimSuffix(m, "}") + `,"recorded":"` + ev.Recorded.UTC().Format(time.RFC3339Nano) + `"}`
}

// assertCopy fails unless got is a copy of src: the same events in the same order, each with its
// stream, revision, ID, type and data, and its metadata with the original recorded time added (the
// first one, when src is itself a copy), and the same digest.
func assertCopy(t testing.TB, src, got []eventstore.RecordedEvent) {
	t.Helper()
	if len(got) != len(src) {
		t.Fatalf("the copy has %d events, the source %d", len(got), len(src))
	}
	for i, s := range src {
		g := got[i]
		if g.Stream != s.Stream || g.Revision != s.Revision || g.ID != s.ID || g.Type != s.Type || !bytes.Equal(g.Data, s.Data) {
			t.Fatalf("event %d of $all: copy %s/%d %s %s %s, source %s/%d %s %s %s", i,
				g.Stream, g.Revision, g.ID, g.Type, g.Data, s.Stream, s.Revision, s.ID, s.Type, s.Data)
		}
		if want := copiedMetadata(t, s); string(g.Metadata) != want {
			t.Fatalf("event %d (%s/%d) metadata:\n got %s\nwant %s", i, s.Stream, s.Revision, g.Metadata, want)
		}
	}
	if gs, ss := summary(t, got), summary(t, src); gs.Digest != ss.Digest || gs.Streams != ss.Streams {
		t.Fatalf("copy: %d streams, digest %s; source: %d streams, digest %s", gs.Streams, gs.Digest, ss.Streams, ss.Digest)
	}
}

// runs counts the appends a copy makes of evs: one per run of consecutive events of one stream, split
// every max events.
func runs(evs []eventstore.RecordedEvent, max int) int {
	n, length := 0, 0
	for i, ev := range evs {
		if i == 0 || ev.Stream != evs[i-1].Stream || length == max {
			n, length = n+1, 0
		}
		length++
	}
	return n
}

var copiedLine = regexp.MustCompile(`(?m)^copied +(\d+) events in (\d+) appends`)

// copied returns the events and appends a run reports.
func copied(t testing.TB, res runResult) (events, appends int) {
	t.Helper()
	m := copiedLine.FindStringSubmatch(res.stdout)
	if m == nil {
		t.Fatalf("no copied line in:\n%s", res.stdout)
	}
	events, _ = strconv.Atoi(m[1])
	appends, _ = strconv.Atoi(m[2])
	return events, appends
}

// fixtureCopy starts a fixture holding a copy of the log at path, made by csc copy.
func fixtureCopy(t *testing.T, path string, opts esdbfixture.Options) *esdbfixture.Fixture {
	t.Helper()
	f := esdbfixture.Start(t, opts)
	if res := copyRun(copyOpts{}, "--from", path, "--to", f.URL()); res.err != nil {
		t.Fatalf("copy into the fixture: %v\n%s", res.err, res.stdout)
	}
	return f
}

// TestCopy copies one real log (written by the engines, see buildAuditLog) between the embedded
// store and EventStoreDB. No EventStoreDB server runs here: its side is esdbfixture, an in-process fake
// of the EventStoreDB gRPC protocol, reached through the real adapter and client over a real connection.
func TestCopy(t *testing.T) {
	lg := buildAuditLog(t)
	source := readLog(t, lg.path)

	t.Run("SQLite to EventStoreDB to SQLite gives an identical log", func(t *testing.T) {
		f := esdbfixture.Start(t, esdbfixture.Options{})
		res := copyRun(copyOpts{}, "--from", lg.path, "--to", f.URL())
		if res.err != nil {
			t.Fatalf("copy to EventStoreDB: %v\n%s", res.err, res.stdout)
		}
		onESDB := readLog(t, f.URL())
		assertCopy(t, source, onESDB)

		// Each run of one stream went in one append: the events of one append share their commit
		// position on EventStoreDB.
		commits := map[uint64]bool{}
		for _, ev := range onESDB {
			commits[ev.Position.Commit] = true
		}
		events, appends := copied(t, res)
		if want := runs(source, copyBatchEvents); events != len(source) || appends != want || len(commits) != want {
			t.Fatalf("copied %d events in %d appends (%d commits); want %d events in %d appends", events, appends, len(commits), len(source), want)
		}
		if appends >= len(source) {
			t.Fatalf("%d appends for %d events: the log has no run of one stream to group", appends, len(source))
		}

		back := filepath.Join(t.TempDir(), "back.db")
		res = copyRun(copyOpts{}, "--from", f.URL(), "--to", "sqlite:"+back)
		if res.err != nil {
			t.Fatalf("copy back to SQLite: %v\n%s", res.err, res.stdout)
		}
		// The metadata carry the recorded times of the first store, not EventStoreDB's.
		assertCopy(t, source, readLog(t, back))
		for _, want := range []string{
			"from      " + f.URL(),
			"to        sqlite:" + back,
			"digest    " + lg.digest + " (source: " + lg.digest + ")",
			fmt.Sprintf("result    OK: the target holds the source's %d events", len(source)),
		} {
			if !strings.Contains(res.stdout, want) {
				t.Fatalf("the report lacks %q:\n%s", want, res.stdout)
			}
		}

		// A copy that is complete adds nothing when run again.
		again := copyRun(copyOpts{}, "--from", lg.path, "--to", f.URL())
		if again.err != nil {
			t.Fatal(again.err)
		}
		if events, _ := copied(t, again); events != 0 || len(readLog(t, f.URL())) != len(source) {
			t.Fatalf("a second copy copied %d events; the target holds %d, want %d", events, len(readLog(t, f.URL())), len(source))
		}
	})

	t.Run("appends split long runs", func(t *testing.T) {
		f := esdbfixture.Start(t, esdbfixture.Options{})
		res := copyRun(copyOpts{maxEvents: 2}, "--from", lg.path, "--to", f.URL())
		if res.err != nil {
			t.Fatal(res.err)
		}
		if _, appends := copied(t, res); appends != runs(source, 2) || appends == runs(source, copyBatchEvents) {
			t.Fatalf("%d appends, want %d (runs split every 2 events)", appends, runs(source, 2))
		}
		assertCopy(t, source, readLog(t, f.URL()))
	})

	t.Run("an interrupted copy resumes and adds nothing twice", func(t *testing.T) { testCopyResume(t, lg, source) })
	t.Run("appends are tried again while the target's server is away", func(t *testing.T) {
		f := esdbfixture.Start(t, esdbfixture.Options{})
		var (
			stop, restart sync.Once
			restarted     bool
			restartErr    error
		)
		res := copyRun(copyOpts{
			retries: 20, retryWait: 20 * time.Millisecond,
			// The server goes away after 200 events and comes back once an append has failed.
			appended: func(n int) {
				if n >= 200 {
					stop.Do(f.Stop)
				}
			},
			retrying: func() {
				restart.Do(func() { restarted, restartErr = true, f.Restart() })
			},
		}, "--from", lg.path, "--to", f.URL())
		if res.err != nil {
			t.Fatalf("copy: %v\n%s\n%s", res.err, res.stdout, res.stderr)
		}
		if !restarted || restartErr != nil {
			t.Fatalf("no append was tried again (restart: %v):\n%s", restartErr, res.stderr)
		}
		assertCopy(t, source, readLog(t, f.URL()))
	})

	t.Run("a copy whose target stays away stops, and resumes later", func(t *testing.T) {
		f := esdbfixture.Start(t, esdbfixture.Options{})
		var once sync.Once
		res := copyRun(copyOpts{
			retries: 2, retryWait: 10 * time.Millisecond,
			appended: func(n int) {
				if n >= 300 {
					once.Do(f.Stop)
				}
			},
		}, "--from", lg.path, "--to", f.URL())
		if res.code() != 1 || !strings.Contains(res.err.Error(), "after 3 tries") || !strings.Contains(res.err.Error(), "run the same command again") {
			t.Fatalf("exit %d, %v; want 1 after 3 tries", res.code(), res.err)
		}
		held, _ := copied(t, res)
		if err := f.Restart(); err != nil {
			t.Fatal(err)
		}
		res = copyRun(copyOpts{}, "--from", lg.path, "--to", f.URL())
		if res.err != nil {
			t.Fatal(res.err)
		}
		if n, _ := copied(t, res); n != len(source)-held {
			t.Fatalf("resumed after %d events, copied %d of %d", held, n, len(source))
		}
		assertCopy(t, source, readLog(t, f.URL()))
	})

	t.Run("a target that is not a copy of the source is refused", func(t *testing.T) { testCopyRefused(t, lg, source) })
	t.Run("a target that does not verify fails the copy", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "copy.db")
		if res := copyRun(copyOpts{}, "--from", lg.path, "--to", target); res.err != nil {
			t.Fatal(res.err)
		}
		sqlExec(t, target, "UPDATE events SET data = json_set(data, '$.tampered', 1) WHERE position = 10")
		res := copyRun(copyOpts{}, "--from", lg.path, "--to", target)
		if res.code() != 1 || !errors.Is(res.err, eventstore.ErrBrokenChain) || !strings.Contains(res.stdout, "result    FAILED: the target does not verify (1 of") {
			t.Fatalf("exit %d, %v; want 1 and a broken chain:\n%s", res.code(), res.err, res.stdout)
		}
	})
	t.Run("usage errors exit 2", func(t *testing.T) { testCopyUsage(t, lg) })
	t.Run("progress bar", func(t *testing.T) {
		for _, tt := range []struct {
			name       string
			terminal   bool
			quiet, bar bool
		}{
			{"on a terminal", true, false, true},
			{"on a terminal with --quiet", true, true, false},
			{"not on a terminal", false, false, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				args := []string{"--from", lg.path, "--to", filepath.Join(t.TempDir(), "copy.db")}
				if tt.quiet {
					args = append(args, "--quiet")
				}
				res := copyRun(copyOpts{terminal: tt.terminal}, args...)
				if res.err != nil {
					t.Fatal(res.err)
				}
				drawn := regexp.MustCompile(`copy.*\(\d+/\d+, \d+ events/(s|min|hr)\)`).MatchString(res.stderr) &&
					regexp.MustCompile(`\r +\r$`).MatchString(res.stderr)
				if drawn != tt.bar || (!tt.bar && res.stderr != "") {
					t.Fatalf("bar drawn and cleared: %v, want %v; stderr %q", drawn, tt.bar, res.stderr)
				}
			})
		}
	})
	t.Run("exit status and signals", func(t *testing.T) { testCopyProcess(t, lg, source) })
}

func testCopyResume(t *testing.T, lg *auditLog, source []eventstore.RecordedEvent) {
	newSQLite := func(t *testing.T) string { return filepath.Join(t.TempDir(), "copy.db") }
	newFixture := func(t *testing.T) string { return esdbfixture.Start(t, esdbfixture.Options{}).URL() }
	fromSQLite := func(*testing.T) string { return lg.path }
	fromFixture := func(opts esdbfixture.Options) func(t *testing.T) string {
		return func(t *testing.T) string { return fixtureCopy(t, lg.path, opts).URL() }
	}
	tests := []struct {
		name     string
		from, to func(t *testing.T) string
		// interrupts are the event counts after which the runs before the last are interrupted.
		interrupts []int
		soon       bool
		// maxEvents bounds the appends of the interrupted runs: 1 makes them stop inside runs of a stream.
		maxEvents int
	}{
		// A target whose head event can be read (SQLite): it is looked up in the source.
		{"SQLite to SQLite", fromSQLite, newSQLite, []int{1, 250, 300}, false, 0},
		{"EventStoreDB to SQLite", fromFixture(esdbfixture.Options{}), newSQLite, []int{120, 400}, false, 0},
		{"EventStoreDB without stream positions to SQLite", fromFixture(esdbfixture.Options{StreamReadsWithoutPosition: true}), newSQLite, []int{333}, false, 0},
		// An EventStoreDB target: the source is bisected (SQLite) or scanned (EventStoreDB).
		{"SQLite to EventStoreDB", fromSQLite, newFixture, []int{1, 200, 250}, false, 0},
		{"EventStoreDB to EventStoreDB", fromFixture(esdbfixture.Options{}), newFixture, []int{90, 500}, false, 0},
		// The cancellation may land during an append, which may then be committed or not.
		{"SQLite to SQLite, cancelled during appends", fromSQLite, newSQLite, []int{100, 100, 100, 100}, true, 0},
		{"SQLite to EventStoreDB, cancelled during appends", fromSQLite, newFixture, []int{100, 100, 100, 100}, true, 0},
		// Interrupted inside runs of a stream, resumed with whole runs per append.
		{"SQLite to SQLite, inside runs", fromSQLite, newSQLite, []int{91, 203, 5}, false, 1},
		{"SQLite to EventStoreDB, inside runs", fromSQLite, newFixture, []int{91, 203, 5}, false, 1},
		{"EventStoreDB to EventStoreDB, inside runs", fromFixture(esdbfixture.Options{}), newFixture, []int{91, 203, 5}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := tt.from(t), tt.to(t)
			src := readLog(t, from)
			held := 0
			for i, after := range tt.interrupts {
				res := copyRun(copyOpts{interruptAfter: after, soon: tt.soon, maxEvents: tt.maxEvents}, "--from", from, "--to", to)
				if res.code() != 1 || !errors.Is(res.err, context.Canceled) || !strings.Contains(res.err.Error(), "run the same command again") {
					t.Fatalf("run %d interrupted after %d events: exit %d, %v", i+1, after, res.code(), res.err)
				}
				got := readLog(t, to)
				n, _ := copied(t, res)
				// The run reports the appends acknowledged; an append under way when it was cancelled may
				// have been committed as well.
				if n < after || len(got) < held+n || len(got) >= len(src) {
					t.Fatalf("run %d: copied %d events, the target holds %d (held %d before), of %d", i+1, n, len(got), held, len(src))
				}
				if i > 0 && !strings.Contains(res.stdout, "resumed   after ") {
					t.Fatalf("run %d did not resume:\n%s", i+1, res.stdout)
				}
				assertCopy(t, src[:len(got)], got)
				held = len(got)
			}
			res := copyRun(copyOpts{}, "--from", from, "--to", to)
			if res.err != nil {
				t.Fatalf("last run: %v\n%s", res.err, res.stdout)
			}
			if n, _ := copied(t, res); n != len(src)-held {
				t.Fatalf("the last run copied %d events; the target held %d of %d", n, held, len(src))
			}
			last := src[held-1]
			if want := fmt.Sprintf("resumed   after %s revision %d (event %s, ", last.Stream, last.Revision, last.ID); !strings.Contains(res.stdout, want) {
				t.Fatalf("the last run does not say it resumed after the event the target held last (%q):\n%s", want, res.stdout)
			}
			assertCopy(t, src, readLog(t, to))
			assertCopy(t, source, readLog(t, to))
		})
	}
}

// otherLog writes a log of n events that has nothing to do with the audit log into the store at
// spec, through the engine's hash chain (so that it verifies).
func otherLog(t *testing.T, spec string, streams, n int) {
	t.Helper()
	st := openWritable(t, spec)
	defer st.Close()
	appendChained(t, st, "other", streams, n, 1)
}

func openWritable(t testing.TB, spec string) *auditStore {
	t.Helper()
	ref, err := parseStoreRef(spec, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := ref.open(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// chainedEvent returns the event at revision rev of stream, whose previous event has the hash prev,
// with its metadata as the engine writes it.
func chainedEvent(t testing.TB, stream string, rev uint64, prev string) (eventstore.EventData, string) {
	data := []byte(fmt.Sprintf(`{"stream":%q,"revision":%d,"note":"synthetic event for the copy tests and benchmarks, about the size of a real one"}`, stream, rev))
	md := eventstore.Metadata{Actor: "copy-test", Role: "coordinator", City: "csc", CommandID: uuid.NewString(), SchemaVersion: 1, PrevHash: prev}
	h, err := eventstore.HashEvent(stream, rev, "SyntheticEvent", data, md)
	if err != nil {
		t.Fatal(err)
	}
	md.Hash = h
	meta, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.EventData{ID: uuid.New(), Type: "SyntheticEvent", Data: data, Metadata: meta}, h
}

// appendChained appends n hash-chained events to streams "<prefix>-0" ... in runs of 1 to 3 events,
// from workers goroutines (each with its own streams), so that runs of streams interleave in $all.
func appendChained(t testing.TB, st eventstore.Store, prefix string, streams, n, workers int) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			type head struct {
				rev  uint64
				hash string
				some bool
			}
			heads := map[int]*head{}
			mine := n / workers
			if w < n%workers {
				mine++
			}
			for i, k := 0, 0; i < mine; k++ {
				s := w + workers*(k%((streams+workers-1-w)/workers))
				h := heads[s]
				if h == nil {
					h = &head{}
					heads[s] = h
				}
				run := min(1+k%3, mine-i)
				stream := fmt.Sprintf("%s-%d", prefix, s)
				expected := eventstore.NoStream()
				if h.some {
					expected = eventstore.Exact(h.rev)
				}
				evs := make([]eventstore.EventData, run)
				for j := range evs {
					rev := uint64(j)
					if h.some {
						rev = h.rev + 1 + uint64(j)
					}
					evs[j], h.hash = chainedEvent(t, stream, rev, h.hash)
				}
				if _, err := st.Append(context.Background(), stream, expected, evs); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if h.some {
					h.rev += uint64(run)
				} else {
					h.rev, h.some = uint64(run-1), true
				}
				i += run
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func testCopyRefused(t *testing.T, lg *auditLog, source []eventstore.RecordedEvent) {
	last := source[len(source)-1]
	tests := []struct {
		name string
		from func(t *testing.T) string
		// to returns a target holding events; why is what the refusal says.
		to  func(t *testing.T, from string) string
		why string
	}{
		{"an SQLite store with another log", func(*testing.T) string { return lg.path }, func(t *testing.T, _ string) string {
			p := filepath.Join(t.TempDir(), "other.db")
			otherLog(t, p, 5, 20)
			return p
		}, "its last event, other-"},
		{"an EventStoreDB store with another log", func(*testing.T) string { return lg.path }, func(t *testing.T, _ string) string {
			f := esdbfixture.Start(t, esdbfixture.Options{})
			otherLog(t, f.URL(), 5, 20)
			return f.URL()
		}, "it holds events, but not the source's first one"},
		{"an EventStoreDB store with another log, from EventStoreDB", func(t *testing.T) string { return fixtureCopy(t, lg.path, esdbfixture.Options{}).URL() }, func(t *testing.T, _ string) string {
			f := esdbfixture.Start(t, esdbfixture.Options{})
			otherLog(t, f.URL(), 5, 20)
			return f.URL()
		}, "it holds events, but not the source's first one"},
		{"a store whose first stream has another first event", func(*testing.T) string { return lg.path }, func(t *testing.T, _ string) string {
			f := esdbfixture.Start(t, esdbfixture.Options{})
			st := openWritable(t, f.URL())
			defer st.Close()
			ev, _ := chainedEvent(t, source[0].Stream, 0, "")
			if _, err := st.Append(context.Background(), source[0].Stream, eventstore.NoStream(), []eventstore.EventData{ev}); err != nil {
				t.Fatal(err)
			}
			return f.URL()
		}, fmt.Sprintf("its %s revision 0 is event ", source[0].Stream)},
		{"an SQLite copy written to since", func(*testing.T) string { return lg.path }, func(t *testing.T, from string) string {
			p := filepath.Join(t.TempDir(), "copy.db")
			if res := copyRun(copyOpts{}, "--from", from, "--to", p); res.err != nil {
				t.Fatal(res.err)
			}
			otherLog(t, p, 1, 1)
			return p
		}, "its last event, other-0 revision 0"},
		{"an EventStoreDB copy written to since", func(*testing.T) string { return lg.path }, func(t *testing.T, from string) string {
			f := fixtureCopy(t, from, esdbfixture.Options{})
			otherLog(t, f.URL(), 1, 1)
			return f.URL()
		}, fmt.Sprintf("is not the source's event it holds last, %s revision %d", last.Stream, last.Revision)},
		{"an empty source", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "empty.db")
			openWritable(t, p).Close()
			return p
		}, func(t *testing.T, _ string) string { return fixtureCopy(t, lg.path, esdbfixture.Options{}).URL() }, "it holds events, but not the source's first one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := tt.from(t)
			to := tt.to(t, from)
			before := readLog(t, to)
			res := copyRun(copyOpts{}, "--from", from, "--to", to)
			if res.code() != 2 || !errors.Is(res.err, errNotACopy) || !strings.Contains(res.err.Error(), tt.why) {
				t.Fatalf("exit %d, %v; want 2, %v: %s", res.code(), res.err, errNotACopy, tt.why)
			}
			if after := readLog(t, to); len(after) != len(before) {
				t.Fatalf("the refused copy wrote %d events", len(after)-len(before))
			}
		})
	}
}

func testCopyUsage(t *testing.T, lg *auditLog) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a database, but long enough to look like a file with a header in it.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "copy.db")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no flags", nil, "give both --from and --to"},
		{"no target", []string{"--from", lg.path}, "give both --from and --to"},
		{"unknown flag", []string{"--from", lg.path, "--to", target, "--fast"}, "flag provided but not defined"},
		{"stray argument", []string{"--from", lg.path, "--to", target, "now"}, "unexpected arguments"},
		{"the same store", []string{"--from", lg.path, "--to", "sqlite:" + lg.path}, "--from and --to name the same store"},
		{"unknown scheme", []string{"--from", lg.path, "--to", "redis://localhost"}, `unknown store "redis://localhost"`},
		{"missing source", []string{"--from", filepath.Join(dir, "none.db"), "--to", target}, "the file does not exist"},
		{"target in a missing folder", []string{"--from", lg.path, "--to", filepath.Join(dir, "no", "copy.db")}, "does not exist"},
		{"target is a folder", []string{"--from", lg.path, "--to", dir}, "is a folder"},
		{"target is not a database", []string{"--from", lg.path, "--to", text}, "not an SQLite database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := copyRun(copyOpts{}, tt.args...)
			if res.code() != 2 || !strings.Contains(res.err.Error(), tt.want) {
				t.Fatalf("exit %d, %v; want 2 and %q", res.code(), res.err, tt.want)
			}
			if _, err := os.Stat(target); err == nil {
				t.Fatal("a usage error created the target")
			}
		})
	}
}

// testCopyProcess runs csc copy as a process (the test binary, see TestMain in main_test.go): exit
// statuses, and a copy stopped by SIGINT or killed by SIGKILL mid-way, then resumed.
func testCopyProcess(t *testing.T, lg *auditLog, source []eventstore.RecordedEvent) {
	csc := func(args string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "CSC_TEST_RUN_MAIN=1", "CSC_TEST_ARGS="+args)
		return cmd
	}
	exit := func(err error) int {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	other := filepath.Join(t.TempDir(), "other.db")
	otherLog(t, other, 2, 4)
	for _, tt := range []struct {
		name   string
		args   string
		status int
		stderr string
	}{
		{"usage", "copy --from " + lg.path, 2, "csc: copy: give both --from and --to"},
		{"not a copy", "copy --from " + lg.path + " --to " + other, 2, "csc: copy sqlite:" + lg.path + " to sqlite:" + other + ": " + errNotACopy.Error()},
		{"copied", "copy --from " + lg.path + " --to " + filepath.Join(t.TempDir(), "copy.db"), 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := csc(tt.args)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if status := exit(cmd.Run()); status != tt.status || !strings.HasPrefix(stderr.String(), tt.stderr) {
				t.Fatalf("csc %s: exit %d, stderr %q; want %d, %q", tt.args, status, stderr.String(), tt.status, tt.stderr)
			}
		})
	}

	// A larger log, so that the copy is still running when the signal comes.
	big := filepath.Join(t.TempDir(), "big.db")
	func() {
		st, err := sqlite.Open(big, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		appendChained(t, st, "big", 100, 2500, 8)
	}()
	bigLog := readLog(t, big)
	for _, tt := range []struct {
		name   string
		signal syscall.Signal
		status int // -1: killed
	}{
		{"SIGINT", syscall.SIGINT, 1},
		{"SIGKILL", syscall.SIGKILL, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "copy.db")
			cmd := csc("copy --from " + big + " --to " + target)
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until the copy has written a few hundred events, then signal it.
			deadline := time.Now().Add(time.Minute)
			for {
				if n := targetEvents(t, target); n >= 200 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the copy wrote nothing for a minute")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := cmd.Process.Signal(tt.signal); err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(bufio.NewReader(stderr))
			status := exit(cmd.Wait())
			if status != tt.status {
				t.Fatalf("csc copy after %v: exit %d, want %d; stderr %s", tt.signal, status, tt.status, msg)
			}
			if tt.signal == syscall.SIGINT && !strings.Contains(string(msg), "run the same command again") {
				t.Fatalf("after SIGINT: %s", msg)
			}
			held := readLog(t, target)
			if len(held) >= len(bigLog) {
				t.Fatalf("the copy had finished (%d events) before %v", len(held), tt.signal)
			}
			assertCopy(t, bigLog[:len(held)], held)

			res := copyRun(copyOpts{}, "--from", big, "--to", target)
			if res.err != nil {
				t.Fatalf("resume after %v: %v\n%s", tt.signal, res.err, res.stdout)
			}
			if n, _ := copied(t, res); n != len(bigLog)-len(held) {
				t.Fatalf("the resumed copy copied %d events; the target held %d of %d", n, len(held), len(bigLog))
			}
			assertCopy(t, bigLog, readLog(t, target))
		})
	}
}

// targetEvents is the number of events in the SQLite store at path, 0 while it does not exist yet.
func targetEvents(t *testing.T, path string) int {
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	st, err := sqlite.Open(path, sqlite.Options{ReadOnly: true})
	if err != nil {
		return 0 // not yet created, or its schema not yet written
	}
	defer st.Close()
	head, err := st.Head(context.Background())
	if err != nil {
		return 0
	}
	return int(head.Commit)
}

func TestCopyWithRecorded(t *testing.T) {
	at := time.Date(2019, 7, 1, 8, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	const stamp = `"recorded":"2019-07-01T06:00:00.123456789Z"`
	tests := []struct {
		name string
		meta string
		at   time.Time
		want string
	}{
		{"engine metadata", `{"actor":"a","schemaVersion":1,"prevHash":"","hash":"h"}`, at, `{"actor":"a","schemaVersion":1,"prevHash":"","hash":"h",` + stamp + `}`},
		{"other bytes kept", `{ "hash" : "h" ,"actor":"a" } `, at, `{ "hash" : "h" ,"actor":"a" ,` + stamp + `}`},
		{"empty object", `{}`, at, `{` + stamp + `}`},
		{"empty object with space", "{ \n}", at, "{ \n" + stamp + "}"},
		{"already copied", `{"hash":"h","recorded":"2018-01-01T00:00:00Z"}`, at, `{"hash":"h","recorded":"2018-01-01T00:00:00Z"}`},
		{"not an object", `["hash"]`, at, `["hash"]`},
		{"not JSON", `{"hash":`, at, `{"hash":`},
		{"empty", ``, at, ``},
		{"no recorded time", `{"hash":"h"}`, time.Time{}, `{"hash":"h"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(withRecorded([]byte(tt.meta), tt.at))
			if got != tt.want {
				t.Fatalf("withRecorded(%s) = %s, want %s", tt.meta, got, tt.want)
			}
			if got != tt.meta && !json.Valid([]byte(got)) {
				t.Fatalf("%s is not JSON", got)
			}
		})
	}
	// Engine metadata with the time added is what encoding/json makes of it with Recorded set.
	md := eventstore.Metadata{Actor: "a", SchemaVersion: 1, Hash: "h"}
	plain, _ := json.Marshal(md)
	utc := at.UTC()
	md.Recorded = &utc
	want, _ := json.Marshal(md)
	if got := withRecorded(plain, at); !bytes.Equal(got, want) {
		t.Fatalf("withRecorded = %s, want %s", got, want)
	}
}

// BenchmarkCopy measures the copy rate of a log of CSC_COPY_BENCH_EVENTS events (default 100,000) in
// 2,000 interleaved streams, from SQLite to SQLite and to EventStoreDB (esdbfixture, the in-process fake
// of its protocol: the figure measures the adapter, client and gRPC round trips, not a server's disk).
//
//	go test -run '^$' -bench Copy -benchtime 1x ./cmd/csc/
func BenchmarkCopy(b *testing.B) {
	n := 100_000
	if s := os.Getenv("CSC_COPY_BENCH_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	src := filepath.Join(b.TempDir(), "source.db")
	func() {
		st, err := sqlite.Open(src, sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		appendChained(b, st, "stream", 2000, n, 16)
	}()
	for _, tt := range []struct {
		name string
		to   func(b *testing.B) string
	}{
		{"SQLite to SQLite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "copy.db") }},
		{"SQLite to EventStoreDB fixture", func(b *testing.B) string { return esdbfixture.Start(b, esdbfixture.Options{}).URL() }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var copySecs float64
			for range b.N {
				b.StopTimer()
				to := tt.to(b)
				b.StartTimer()
				var out, errOut bytes.Buffer
				c := newCopier(&out, &errOut)
				c.terminal = func(io.Writer) bool { return false }
				start := time.Now()
				var copyEnd time.Time
				c.appended = func(k int) {
					if k == n {
						copyEnd = time.Now()
					}
				}
				if err := c.run(context.Background(), []string{"--from", src, "--to", to}); err != nil {
					b.Fatalf("%v\n%s", err, out.String())
				}
				copySecs += copyEnd.Sub(start).Seconds()
				b.Logf("\n%s", out.String())
			}
			b.ReportMetric(float64(n*b.N)/copySecs, "events/s")
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s_with_verify")
		})
	}
}
