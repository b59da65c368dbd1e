package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/metropolis/csc/eventstore"
)

// TestReopen: everything appended is there after Close and Open, and appends go on from there.
func TestReopen(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			path := tempPath(t)
			s, err := Open(path, Options{Driver: drv})
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, "a", eventstore.NoStream(), events("A", 3))
			mustAppend(t, s, "b", eventstore.NoStream(), events("B", 2))
			before := readAll(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("after Close: want the WAL checkpointed and removed, got stat error %v", err)
			}

			s = openAt(t, path, Options{Driver: drv})
			after := readAll(t, s)
			if len(after) != len(before) {
				t.Fatalf("after reopen: want %d events, got %d", len(before), len(after))
			}
			for i := range before {
				b, a := before[i], after[i]
				if a.ID != b.ID || a.Stream != b.Stream || a.Revision != b.Revision || a.Position != b.Position ||
					a.Type != b.Type || !bytes.Equal(a.Data, b.Data) || !bytes.Equal(a.Metadata, b.Metadata) || !a.Recorded.Equal(b.Recorded) {
					t.Fatalf("event %d after reopen: want %+v, got %+v", i, b, a)
				}
			}
			res := mustAppend(t, s, "a", eventstore.Exact(2), events("A", 1))
			if res.Revision != 3 || res.Position.Commit != 6 {
				t.Fatalf("append after reopen: want revision 3 at position 6, got %+v", res)
			}
		})
	}
}

// TestDurabilitySettings checks the settings the durability argument rests on, as SQLite reports
// them on the writer's connection.
func TestDurabilitySettings(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			s := openTemp(t, Options{Driver: drv})
			for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2"} {
				var got string
				if err := s.w.conn.QueryRowContext(context.Background(), "PRAGMA "+pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("PRAGMA %s: want %s, got %s", pragma, want, got)
				}
			}
		})
	}
}

// TestReadOnly: a read-only store reads what a read-write store wrote (also while it is open and
// writing), refuses appends, and never creates a file: opened on a stopped store it is a snapshot that
// leaves the folder as it was.
func TestReadOnly(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			path := tempPath(t)
			w, err := Open(path, Options{Driver: drv})
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, w, "s", eventstore.NoStream(), events("E", 2))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			snap, err := Open(path, Options{Driver: drv, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if !snap.snapshot {
				t.Errorf("read-only store on a stopped store: want a snapshot (immutable)")
			}
			if n := len(readAll(t, snap)); n != 2 {
				t.Fatalf("read-only store: want 2 events, got %d", n)
			}
			_, err = snap.Append(context.Background(), "s", eventstore.Any(), events("E", 1))
			if !errors.Is(err, ErrReadOnly) {
				t.Fatalf("Append on a read-only store: want ErrReadOnly, got %v", err)
			}
			mentions(t, err, path)
			if err := snap.Close(); err != nil {
				t.Fatal(err)
			}
			if names := dirNames(t, filepath.Dir(path)); !slices.Equal(names, []string{filepath.Base(path)}) {
				t.Fatalf("after a read-only Open and Close of a stopped store: want only %s in the folder, got %v", filepath.Base(path), names)
			}

			// Opened beside a live writer, the read-only store sees its commits, also later ones.
			w = openAt(t, path, Options{Driver: drv})
			ro := openAt(t, path, Options{Driver: drv, ReadOnly: true})
			if ro.snapshot {
				t.Errorf("read-only store beside a live writer: want mode=ro, got a snapshot")
			}
			mustAppend(t, w, "s", eventstore.Exact(1), events("E", 1))
			if n := len(readAll(t, ro)); n != 3 {
				t.Fatalf("read-only store beside a writer: want 3 events, got %d", n)
			}
			if h, err := ro.Head(context.Background()); err != nil || h.Commit != 3 {
				t.Fatalf("read-only Head: want 3, got %v, %v", h, err)
			}

			missing := filepath.Join(t.TempDir(), "missing.db")
			if _, err := Open(missing, Options{Driver: drv, ReadOnly: true}); err == nil {
				t.Fatalf("read-only Open of a missing file: want an error, got a store")
			} else {
				mentions(t, err, missing, "no such file")
			}
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("read-only Open of a missing file: want no file created, got stat error %v", err)
			}
		})
	}
}

// TestReadOnlySubscriptionEndsOnClose: a read-only store's subscription catches up, then ends with
// ErrClosed when the store closes.
func TestReadOnlySubscriptionEndsOnClose(t *testing.T) {
	path := tempPath(t)
	w := openAt(t, path, Options{})
	mustAppend(t, w, "s", eventstore.NoStream(), events("E", 3))
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan eventstore.RecordedEvent)
	var last error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e, err := range ro.SubscribeAll(context.Background(), eventstore.Position{}) {
			if err != nil {
				last = err
				return
			}
			got <- e
		}
	}()
	for i := range 3 {
		select {
		case <-got:
		case <-time.After(waitLimit):
			t.Fatalf("read-only subscription: want 3 events, got %d within %v", i, waitLimit)
		}
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		t.Fatalf("read-only subscription: want nothing after the 3 events, got %s@%d", e.Stream, e.Revision)
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("read-only subscription: want it to end at Close, still running after %v", waitLimit)
	}
	if !errors.Is(last, eventstore.ErrClosed) {
		t.Fatalf("read-only subscription at Close: want ErrClosed, got %v", last)
	}
}

// TestAuditorReadsTheFile opens the file with the sqlite3 command-line tool, as an auditor would, and
// reads the events as plain columns with JSON text.
func TestAuditorReadsTheFile(t *testing.T) {
	cli, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("the sqlite3 command-line tool is not installed")
	}
	path := tempPath(t)
	s := openAt(t, path, Options{})
	evs := []eventstore.EventData{
		{ID: event("", "").ID, Type: "CityJoined", Data: []byte(`{"city":"Zürich"}`), Metadata: []byte(`{"actor":"alice"}`)},
		{ID: event("", "").ID, Type: "ItemAdded", Data: []byte(`{"n":1}`)},
	}
	mustAppend(t, s, "city-zurich", eventstore.NoStream(), evs)

	out, err := exec.Command(cli, "-json", "-readonly", path,
		`SELECT position, stream, revision, event_id, type, data, metadata, recorded, typeof(data) AS data_type,
		        json_extract(data, '$.city') AS city FROM events ORDER BY position`).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	var rows []struct {
		Position int64   `json:"position"`
		Stream   string  `json:"stream"`
		Revision int64   `json:"revision"`
		EventID  string  `json:"event_id"`
		Type     string  `json:"type"`
		Data     string  `json:"data"`
		Metadata *string `json:"metadata"`
		Recorded string  `json:"recorded"`
		DataType string  `json:"data_type"`
		City     *string `json:"city"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("sqlite3 output %s: %v", out, err)
	}
	if len(rows) != 2 {
		t.Fatalf("sqlite3: want 2 rows, got %s", out)
	}
	r := rows[0]
	if r.Position != 1 || r.Stream != "city-zurich" || r.Revision != 0 || r.EventID != evs[0].ID.String() ||
		r.Type != "CityJoined" || r.Data != `{"city":"Zürich"}` || r.Metadata == nil || *r.Metadata != `{"actor":"alice"}` ||
		r.DataType != "text" || r.City == nil || *r.City != "Zürich" {
		t.Fatalf("sqlite3 row 1: got %+v", r)
	}
	if _, err := time.Parse(time.RFC3339Nano, r.Recorded); err != nil || !strings.HasSuffix(r.Recorded, "Z") {
		t.Fatalf("sqlite3 row 1: recorded %q: want RFC 3339 UTC, got error %v", r.Recorded, err)
	}
	if rows[1].Metadata != nil {
		t.Fatalf("sqlite3 row 2: want NULL metadata for an event without, got %q", *rows[1].Metadata)
	}
}

// TestMigrations covers the schema versions: a new file gets every step, an old file the missing
// ones, and a newer file or another application's database is refused untouched.
func TestMigrations(t *testing.T) {
	ctx := context.Background()
	version := func(t *testing.T, db interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) (v int) {
		t.Helper()
		if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	t.Run("new file", func(t *testing.T) {
		path := tempPath(t)
		s := openAt(t, path, Options{})
		_ = s
		db := rawDB(t, path, DriverModernc)
		if v := version(t, db); v != schemaVersion() {
			t.Fatalf("user_version: want %d, got %d", schemaVersion(), v)
		}
		rows, err := db.Query("SELECT version, name FROM schema_migrations ORDER BY version")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var v int
			var name string
			if err := rows.Scan(&v, &name); err != nil {
				t.Fatal(err)
			}
			got = append(got, name)
		}
		var want []string
		for _, m := range migrations() {
			want = append(want, m.name)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("schema_migrations: want %v, got %v", want, got)
		}
	})

	t.Run("old file is brought up to date", func(t *testing.T) {
		path := tempPath(t)
		db := rawDB(t, path, DriverModernc)
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := migrate(ctx, conn, migrations()[:1], time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO events (stream, revision, event_id, type, data, metadata, recorded)
			VALUES ('old', 0, '0b7d4c1e-5f1a-4a8e-9b53-5c2a1f0e3d11', 'Old', '{}', NULL, '2024-01-02T03:04:05.000000000Z')`); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		db.Close()

		s := openAt(t, path, Options{})
		all := readAll(t, s)
		if len(all) != 1 || all[0].Stream != "old" {
			t.Fatalf("after migrating: want the old event, got %+v", all)
		}
		var n int
		if err := rawDB(t, path, DriverModernc).QueryRow("SELECT revision FROM streams WHERE stream = 'old'").Scan(&n); err != nil {
			t.Fatalf("streams view added by migration 2: %v", err)
		}
	})

	t.Run("steps apply together or not at all", func(t *testing.T) {
		path := tempPath(t)
		db := rawDB(t, path, DriverModernc)
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		broken := append(migrations(), migration{name: "broken", stmts: []string{"CREATE TABLE events (x)"}})
		if err := migrate(ctx, conn, broken, time.Now()); err == nil || !strings.Contains(err.Error(), "broken") {
			t.Fatalf("migrate with a failing last step: want its error, got %v", err)
		}
		var tables int
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if v := version(t, conn); v != 0 || tables != 0 {
			t.Fatalf("after a failed migration: want version 0 and no tables, got version %d and %d schema objects", v, tables)
		}
	})

	refused := []struct {
		name  string
		setup []string
		want  error
	}{
		{"newer schema", []string{"PRAGMA user_version = 99"}, ErrSchemaTooNew},
		{"another application's database", []string{"CREATE TABLE customers (id INTEGER)"}, ErrNotEventStore},
		{"another application id", []string{"PRAGMA application_id = 1234"}, ErrNotEventStore},
	}
	for _, tc := range refused {
		for _, readOnly := range []bool{false, true} {
			name := tc.name
			if readOnly {
				name += ", read-only"
			}
			t.Run(name, func(t *testing.T) {
				path := tempPath(t)
				if tc.want == ErrSchemaTooNew {
					s, err := Open(path, Options{})
					if err != nil {
						t.Fatal(err)
					}
					s.Close()
				}
				db := rawDB(t, path, DriverModernc)
				for _, q := range tc.setup {
					if _, err := db.Exec(q); err != nil {
						t.Fatal(err)
					}
				}
				journal := func() (mode string) {
					if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
						t.Fatal(err)
					}
					return mode
				}
				before, journalBefore := version(t, db), journal()
				_, err := Open(path, Options{ReadOnly: readOnly})
				if !errors.Is(err, tc.want) {
					t.Fatalf("Open: want %v, got %v", tc.want, err)
				}
				mentions(t, err, path)
				if v, j := version(t, db), journal(); v != before || j != journalBefore {
					t.Fatalf("refused file: want version %d and journal mode %s left as they were, got %d and %s", before, journalBefore, v, j)
				}
			})
		}
	}
}

// TestBadFiles: a file that is not an SQLite database, or is damaged, gives an error naming the file
// (and where there is one, the position), never a crash or a silent skip.
func TestBadFiles(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			t.Run("garbage", func(t *testing.T) {
				for _, readOnly := range []bool{false, true} {
					path := tempPath(t)
					garbage := make([]byte, 16<<10)
					rand.NewChaCha8([32]byte{1}).Read(garbage)
					if err := os.WriteFile(path, garbage, 0o600); err != nil {
						t.Fatal(err)
					}
					_, err := Open(path, Options{Driver: drv, ReadOnly: readOnly})
					if !errors.Is(err, ErrNotDatabase) {
						t.Fatalf("Open(garbage, read-only %v): want ErrNotDatabase, got %v", readOnly, err)
					}
					mentions(t, err, path)
					if got, _ := os.ReadFile(path); !bytes.Equal(got, garbage) {
						t.Fatalf("Open(garbage, read-only %v): want the file left as it was", readOnly)
					}
				}
			})

			t.Run("damaged pages", func(t *testing.T) {
				path := tempPath(t)
				s, err := Open(path, Options{Driver: drv})
				if err != nil {
					t.Fatal(err)
				}
				big := strings.Repeat("x", 3000)
				for i := range 50 {
					mustAppend(t, s, "s", eventstore.Any(), []eventstore.EventData{event("Big", `{"i":`+string(rune('0'+i%10))+`,"pad":"`+big+`"}`)})
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				// Overwrite every page after the first two (header and schema, and schema_migrations)
				// with garbage: the events table and its indexes.
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				info, _ := f.Stat()
				junk := make([]byte, info.Size()-8192)
				rand.NewChaCha8([32]byte{2}).Read(junk)
				if _, err := f.WriteAt(junk, 8192); err != nil {
					t.Fatal(err)
				}
				f.Close()

				s = openAt(t, path, Options{Driver: drv})
				_, err = readAllErr(s)
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("ReadAll of a damaged file: want ErrCorrupt, got %v", err)
				}
				mentions(t, err, path, "read all")
				_, err = s.Append(context.Background(), "s", eventstore.Any(), events("E", 1))
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Append to a damaged file: want ErrCorrupt, got %v", err)
				}
				mentions(t, err, path, "append s")
			})
		})
	}
}

// TestBadRows: a row that does not decode ends the read with ErrBadRow naming the file, the position,
// and the stream and revision when they are readable, after the rows before it.
func TestBadRows(t *testing.T) {
	cases := []struct {
		name   string
		update string
		want   []string
	}{
		{"event_id not a UUID", "UPDATE events SET event_id = 'not-a-uuid' WHERE position = 3", []string{"position 3", "stream s revision 2", "not-a-uuid"}},
		{"revision not a number", "UPDATE events SET revision = 'two' WHERE position = 3", []string{"position 3", "revision two"}},
		{"recorded not a time", "UPDATE events SET recorded = 'yesterday' WHERE position = 3", []string{"position 3", "stream s revision 2", "yesterday"}},
		{"stream empty", "UPDATE events SET stream = '' WHERE position = 3", []string{"position 3", "stream"}},
		{"type empty", "UPDATE events SET type = '' WHERE position = 3", []string{"position 3", "stream s revision 2", "type"}},
	}
	for _, drv := range Drivers() {
		for _, tc := range cases {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				path := tempPath(t)
				s := openAt(t, path, Options{Driver: drv})
				mustAppend(t, s, "s", eventstore.NoStream(), events("E", 4))
				if _, err := rawDB(t, path, drv).Exec(tc.update); err != nil {
					t.Fatal(err)
				}
				got, err := readAllErr(s)
				if !errors.Is(err, ErrBadRow) {
					t.Fatalf("ReadAll: want ErrBadRow, got %v", err)
				}
				if len(got) != 2 {
					t.Fatalf("ReadAll: want the 2 good rows before the bad one, got %d", len(got))
				}
				mentions(t, err, append([]string{path}, tc.want...)...)
			})
		}
	}
}

// TestLocked: another connection holding the write lock past the busy timeout makes Open and Append
// fail with ErrLocked naming the file; once the lock is gone the store works.
func TestLocked(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			ctx := context.Background()
			path := tempPath(t)
			s := openAt(t, path, Options{Driver: drv, BusyTimeout: 50 * time.Millisecond})
			mustAppend(t, s, "s", eventstore.NoStream(), events("E", 1))

			other, err := rawDB(t, path, drv).Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if _, err := other.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
				t.Fatal(err)
			}

			_, err = s.Append(ctx, "s", eventstore.Exact(0), events("E", 1))
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("Append while another connection holds the write lock: want ErrLocked, got %v", err)
			}
			mentions(t, err, path, "append s")

			_, err = Open(path, Options{Driver: drv, BusyTimeout: 50 * time.Millisecond})
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("Open while another connection holds the write lock: want ErrLocked, got %v", err)
			}
			mentions(t, err, path)

			if n := len(readAll(t, s)); n != 1 {
				t.Fatalf("reads while locked: want 1 event, got %d", n)
			}
			if _, err := other.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
			if res := mustAppend(t, s, "s", eventstore.Exact(0), events("E", 1)); res.Revision != 1 {
				t.Fatalf("Append after the lock is gone: want revision 1, got %+v", res)
			}
		})
	}
}

// TestDriverOption: an unknown driver is refused by name.
func TestDriverOption(t *testing.T) {
	_, err := Open(tempPath(t), Options{Driver: "postgres"})
	if err == nil {
		t.Fatal("Open with driver postgres: want an error, got a store")
	}
	mentions(t, err, `"postgres"`)
	if len(Drivers()) == 1 {
		_, err := Open(tempPath(t), Options{Driver: DriverMattn})
		if err == nil {
			t.Fatal("Open with driver mattn not compiled in: want an error, got a store")
		}
		mentions(t, err, "csc_mattn")
	}
}

// TestReadOnlyUnrecoveredWAL: a read-only open of a store that stopped without closing and has lost
// its -shm (which a read-only open may not create) fails, naming the file and the WAL, and creates
// nothing; with an empty WAL there is nothing to recover and it opens.
func TestReadOnlyUnrecoveredWAL(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "events.db")
			crashImage(t, dir, drv, 2)
			if err := os.Remove(path + "-shm"); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, Options{Driver: drv, ReadOnly: true})
			if err == nil {
				t.Fatal("read-only Open of a WAL without its -shm: want an error, got a store")
			}
			mentions(t, err, path, "events.db-wal", "events.db-shm", "for writing")
			if names := dirNames(t, dir); !slices.Equal(names, []string{"events.db", "events.db-wal"}) {
				t.Fatalf("after a failed read-only Open: want the folder as it was, got %v", names)
			}

			if err := os.Truncate(path+"-wal", 0); err != nil {
				t.Fatal(err)
			}
			s := openAt(t, path, Options{Driver: drv, ReadOnly: true})
			if n := len(readAll(t, s)); n != 2 {
				t.Fatalf("read-only store with an empty WAL: want the 2 events of the file, got %d", n)
			}
		})
	}
}
