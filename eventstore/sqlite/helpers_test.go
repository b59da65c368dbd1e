package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
)

// waitLimit bounds the waits of these tests for a condition; it guards against hangs and is not a
// performance assertion.
const waitLimit = 60 * time.Second

// tempPath is a store path in a fresh temporary directory.
func tempPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "events.db")
}

// openAt opens the store at path and closes it at the end of the test.
func openAt(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// openTemp opens a store in a fresh file and closes it at the end of the test.
func openTemp(t testing.TB, opts Options) *Store {
	t.Helper()
	return openAt(t, tempPath(t), opts)
}

// rawDB opens a plain read-write connection pool on path with the given driver, the way another
// process or an auditor's tool would, bypassing the store.
func rawDB(t testing.TB, path, drv string) *sql.DB {
	t.Helper()
	d, err := driverNamed(drv)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(&connector{drv: d, dsn: fileURI(path, "rwc"), setup: []string{"PRAGMA busy_timeout = 10000"}})
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// closedStore writes a store of n events at dir/events.db and closes it, leaving the file alone.
func closedStore(t testing.TB, dir, drv string, n int) {
	t.Helper()
	s, err := Open(filepath.Join(dir, "events.db"), Options{Driver: drv})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "s", eventstore.NoStream(), events("E", n))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// dirNames lists the names in dir.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// crashImage leaves at dir/events.db the files of a store that stopped without closing: a file of n
// events, and in events.db-wal and events.db-shm one more event, committed but not yet in the file.
func crashImage(t testing.TB, dir, drv string, n int) {
	t.Helper()
	src := t.TempDir()
	closedStore(t, src, drv, n)
	raw := rawDB(t, filepath.Join(src, "events.db"), drv)
	for _, q := range []string{
		"PRAGMA wal_autocheckpoint = 0",
		fmt.Sprintf("INSERT INTO events (stream, revision, event_id, type, data, recorded) VALUES ('s', %d, '%s', 'E', '{}', '2026-01-02T03:04:05.000000000Z')", n, uuid.New()),
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"events.db", "events.db-wal", "events.db-shm"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func event(typ, data string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(data), Metadata: []byte(`{"schemaVersion":1}`)}
}

func events(typ string, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = event(typ, fmt.Sprintf(`{"n":%d}`, i))
	}
	return out
}

func mustAppend(t testing.TB, s eventstore.Store, stream string, expected eventstore.ExpectedRevision, evs []eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), stream, expected, evs)
	if err != nil {
		t.Fatalf("Append(%s, %v, %d events): %v", stream, expected, len(evs), err)
	}
	return res
}

func readAll(t testing.TB, s eventstore.Store) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for e, err := range s.ReadAll(context.Background(), eventstore.Position{}) {
		if err != nil {
			t.Fatalf("ReadAll: error after %d events: %v", len(out), err)
		}
		out = append(out, e)
	}
	return out
}

// readAllErr reads $all to its end and returns the events and the error that ended it, if any.
func readAllErr(s eventstore.Store) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	for e, err := range s.ReadAll(context.Background(), eventstore.Position{}) {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %v", what, waitLimit)
		}
		time.Sleep(time.Millisecond)
	}
}

// queued is the number of appends waiting for the writer.
func (s *Store) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// clockGate is an Options.Now that, once armed, blocks its next call until opened. The writer calls
// Now inside its transaction, so an armed gate holds the writer in the middle of a batch while the
// test queues more appends behind it.
type clockGate struct {
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
	opened  sync.Once
}

func (g *clockGate) now() time.Time {
	g.mu.Lock()
	armed, entered, release := g.armed, g.entered, g.release
	g.armed = false
	g.mu.Unlock()
	if armed {
		close(entered)
		<-release
	}
	return time.Now()
}

// hold arms the gate and appends one event to stream in the background; it returns once the writer
// is held inside that append's transaction. The gate opens with open, or at the end of the test.
func (g *clockGate) hold(t testing.TB, s *Store, stream string) <-chan appendResult {
	t.Helper()
	g.mu.Lock()
	g.armed = true
	g.entered = make(chan struct{})
	g.release = make(chan struct{})
	g.opened = sync.Once{}
	entered := g.entered
	g.mu.Unlock()
	t.Cleanup(g.open)
	out := make(chan appendResult, 1)
	go func() {
		res, err := s.Append(context.Background(), stream, eventstore.NoStream(), events("Held", 1))
		out <- appendResult{res, err}
	}()
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatalf("writer: want it held in a batch, still not there after %v", waitLimit)
	}
	return out
}

// open lets the held writer go on.
func (g *clockGate) open() {
	g.mu.Lock()
	release := g.release
	g.mu.Unlock()
	g.opened.Do(func() { close(release) })
}

// appendResult is the outcome of one background append.
type appendResult struct {
	res eventstore.AppendResult
	err error
}

// appendAsync starts an append in the background while the writer is held, and waits until it is
// queued, so that the order of calls is the order of the queue.
func appendAsync(t testing.TB, s *Store, stream string, expected eventstore.ExpectedRevision, evs []eventstore.EventData) <-chan appendResult {
	t.Helper()
	before := s.queued()
	out := make(chan appendResult, 1)
	go func() {
		res, err := s.Append(context.Background(), stream, expected, evs)
		out <- appendResult{res, err}
	}()
	waitFor(t, "append to "+stream+" queued", func() bool { return s.queued() == before+1 })
	return out
}

// histogram returns the sample count and sum of the named histogram in reg.
func histogram(t testing.TB, reg *prometheus.Registry, name string) (count uint64, sum float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			h := f.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatalf("metric %s: not registered", name)
	return 0, 0
}

// counter returns the value of the named counter in reg whose labels include the given pairs.
func counter(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s%v: not found", name, labels)
	return 0
}

// mentions fails t unless err's message contains every part.
func mentions(t testing.TB, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q: want it to mention %q", err, p)
		}
	}
}
