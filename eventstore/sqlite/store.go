// Package sqlite is the embedded CSC event store: one SQLite file in WAL mode that any SQLite tool can
// open and read (plain columns, data and metadata as JSON text).
//
// Appends go through a single writer goroutine that commits every pending append in one transaction
// (group commit) and acknowledges each only once the commit is durable; AppendBatch queues several
// appends at once, in order, for bulk writers such as csc copy. Reads use a separate pool of
// read-only connections and stream in bounded batches; subscriptions catch up in batches and then wait
// on a commit notification from the writer.
//
// The file holds a table events (position INTEGER PRIMARY KEY = $all position, stream, revision,
// event_id as UUID text, type, data and metadata as JSON text, recorded as RFC 3339 UTC text) with
// UNIQUE(stream, revision) and UNIQUE(event_id), a view streams (current revision per stream), and
// schema_migrations; PRAGMA user_version is the schema version and PRAGMA application_id marks the
// file as CSC's.
//
// One store (one process) should write a file at a time. Another writer is safe (SQLite serialises
// the transactions and every check runs inside them), but its commits do not wake this store's live
// subscriptions: they see them at this store's next commit. Reads see them at once.
//
// The default driver is modernc.org/sqlite (pure Go). github.com/mattn/go-sqlite3 (cgo) is available
// when built with CGO_ENABLED=1 and -tags csc_mattn, selected with Options.Driver = "mattn".
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
)

// Options configure Open. The zero value opens a read-write store with the modernc driver.
type Options struct {
	// ReadOnly opens the file read-only: no writer goroutine, no migrations; Append returns
	// ErrReadOnly. The file must exist and be at the current schema version. A read-only open
	// never writes the file and never creates a file beside it, so it works in a folder the caller
	// may not write (an auditor's copy, a stopped server's folder).
	//
	// How it opens depends on whether another process has the file open, which SQLite shows by the
	// files it keeps beside it while it does (for events.db: events.db-wal and events.db-shm):
	//
	//   - With no events.db-wal and no events.db-shm (a stopped store), the store is
	//     a snapshot (SQLite immutable=1): it reads the file as it was when opened and does not see
	//     commits made afterwards. Do not start a writer on the file while it is open: SQLite then
	//     assumes, wrongly, that nothing changes it, and a read may fail or see a half-copied page.
	//   - With both (a live writer, or one that stopped without closing), it opens mode=ro and reads
	//     through the writer's WAL: it sees every commit, also those made after it opened.
	//   - With a non-empty events.db-wal and no events.db-shm (a writer that stopped without
	//     closing, or is closing), Open fails: the WAL holds commits that a read-only open could
	//     only read by creating events.db-shm. Open the file for writing once to recover them.
	ReadOnly bool
	// Driver is "modernc" (the default, pure Go) or "mattn" (cgo, needs -tags csc_mattn).
	Driver string
	// Now stamps the recorded time of committed events; time.Now when nil.
	Now func() time.Time
	// Registerer receives the store's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives batch failures and lifecycle messages; nil discards them.
	Logger *slog.Logger
	// MaxBatch bounds the number of appends committed in one transaction; DefaultMaxBatch when 0.
	MaxBatch int
	// BusyTimeout is how long a statement waits for a lock held by another connection (another
	// process) before failing with ErrLocked; DefaultBusyTimeout when 0.
	BusyTimeout time.Duration

	// noFsync makes the writer skip the fsync of its commits, which are then not durable. Only the
	// measurements of this package set it (MeasureAppendCeiling, BenchmarkAppendCeiling), to measure
	// what the writer can do when durability costs nothing: the ceiling of any group commit on this CPU.
	noFsync bool
}

// DefaultMaxBatch is the group-commit bound used when Options.MaxBatch is 0.
const DefaultMaxBatch = 512

// DefaultBusyTimeout is the lock wait used when Options.BusyTimeout is 0.
const DefaultBusyTimeout = 5 * time.Second

// readBatch is the number of rows one read query fetches (keyset pagination).
const readBatch = 1000

// Store is the SQLite event store. It implements eventstore.Store.
type Store struct {
	path     string
	readOnly bool
	snapshot bool // read-only and opened immutable (Options.ReadOnly)
	now      func() time.Time
	log      *slog.Logger
	metrics  *metrics
	busy     time.Duration
	maxBatch int
	noFsync  bool // Options.noFsync
	drv      sqlDriver

	reads *reader
	w     *writer // nil when read-only

	mu      sync.Mutex
	closed  bool
	queue   []*request    // appends waiting for the writer, guarded by mu
	commit  chan struct{} // closed and replaced after each commit, guarded by mu
	wake    chan struct{} // capacity 1: tells the writer the queue or closed changed
	closing chan struct{} // closed by Close

	closeOnce sync.Once
	closeErr  error
}

var _ eventstore.Store = (*Store)(nil)

// Open opens (creating it when needed, unless read-only) the event store in the SQLite file at path
// and brings its schema up to date.
func Open(path string, opts Options) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	drv, err := driverNamed(opts.Driver)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", abs, err)
	}
	s := &Store{
		path:     abs,
		readOnly: opts.ReadOnly,
		now:      opts.Now,
		log:      opts.Logger,
		busy:     opts.BusyTimeout,
		maxBatch: opts.MaxBatch,
		noFsync:  opts.noFsync,
		drv:      drv,
		commit:   make(chan struct{}),
		wake:     make(chan struct{}, 1),
		closing:  make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.busy <= 0 {
		s.busy = DefaultBusyTimeout
	}
	if s.maxBatch <= 0 {
		s.maxBatch = DefaultMaxBatch
	}
	s.log = s.log.With("store", "sqlite", "path", abs)
	if s.metrics, err = newMetrics(opts.Registerer); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", abs, err)
	}

	if s.readOnly {
		if s.snapshot, err = snapshotOpen(abs); err != nil {
			s.metrics.unregister()
			return nil, fmt.Errorf("open event store read-only in %s: %w", abs, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), s.busy+30*time.Second)
	defer cancel()
	if !s.readOnly {
		if s.w, err = openWriter(ctx, s); err != nil {
			s.metrics.unregister()
			return nil, err
		}
	}
	if s.reads, err = openReader(ctx, s); err != nil {
		if s.w != nil {
			s.w.close()
		}
		s.metrics.unregister()
		return nil, err
	}
	if s.w != nil {
		go s.w.run()
	}
	s.log.Info("event store opened", "readOnly", s.readOnly, "driver", drv.name)
	return s, nil
}

// Path returns the absolute path of the store's file.
func (s *Store) Path() string { return s.path }

// Close stops the writer (appends already in a transaction are committed and acknowledged; appends
// still queued get ErrClosed), ends reads and subscriptions with ErrClosed and closes the file.
// Closing twice is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
		s.signalWriter()

		var errs []error
		// The reader pool closes first so that the writer's connection is the last one open: SQLite
		// then checkpoints the WAL into the main file and removes it, leaving one self-contained file.
		if err := s.reads.close(); err != nil {
			errs = append(errs, err)
		}
		if s.w != nil {
			<-s.w.done
			if err := s.w.close(); err != nil {
				errs = append(errs, err)
			}
		}
		s.metrics.unregister()
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close sqlite store %s: %w", s.path, err)
		}
		s.log.Info("event store closed")
	})
	return s.closeErr
}

// isClosed reports whether Close has been called.
func (s *Store) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// commitSignal returns the channel the writer closes after its next commit.
func (s *Store) commitSignal() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commit
}

// notifyCommit wakes every subscription waiting for a commit.
func (s *Store) notifyCommit() {
	s.mu.Lock()
	close(s.commit)
	s.commit = make(chan struct{})
	s.mu.Unlock()
}

// signalWriter wakes the writer goroutine if it is waiting.
func (s *Store) signalWriter() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// openDB opens a database/sql handle on the store's file through the configured driver: immutable
// for a snapshot (see Options.ReadOnly), else mode=ro or mode=rwc.
func (s *Store) openDB(readOnly bool, setup []string) *sql.DB {
	dsn := fileURI(s.path, "rwc")
	switch {
	case readOnly && s.snapshot:
		dsn = snapshotURI(s.path)
	case readOnly:
		dsn = fileURI(s.path, "ro")
	}
	return sql.OpenDB(&connector{drv: s.drv, dsn: dsn, setup: setup})
}

// snapshotOpen reports whether a read-only store opens the file at path as an immutable snapshot:
// when no other process has it open (no -wal, -shm or -journal beside it), SQLite can read the file
// alone, and a mode=ro open would create a -wal and a -shm file beside it (and leave them there) or,
// in a folder it may not write, fail. See Options.ReadOnly.
func snapshotOpen(path string) (bool, error) {
	// SQLite says only "unable to open database file" of a file that is missing or unreadable. (Checked
	// without opening it: see canAccess.)
	if _, err := os.Stat(path); err != nil {
		return false, err
	}
	if err := canAccess(path, accessRead); err != nil {
		return false, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	exists := func(suffix string) (os.FileInfo, bool) {
		fi, err := os.Stat(path + suffix)
		// Any answer but "does not exist" counts as there: mode=ro then lets SQLite report it.
		return fi, !errors.Is(err, fs.ErrNotExist)
	}
	wal, hasWAL := exists("-wal")
	_, hasSHM := exists("-shm")
	_, hasJournal := exists("-journal")
	switch {
	case hasJournal, hasWAL && hasSHM, hasWAL && wal == nil:
		return false, nil
	case hasWAL && wal.Size() > 0:
		return false, fmt.Errorf("%s-wal holds commits that may not be in the file yet and there is no %s-shm to read them with "+
			"(a read-only open may not create it): a writer stopped without closing the store, or is closing it; "+
			"open the store for writing once to recover them, or retry if a writer was closing",
			filepath.Base(path), filepath.Base(path))
	}
	// No WAL (or an empty one) and no journal: the file holds every commit.
	return true, nil
}
