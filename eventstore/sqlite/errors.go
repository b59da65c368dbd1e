package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
)

// Errors the store wraps (test with errors.Is). Every error also names the file and, where there is
// one, the stream, revision or position concerned.
var (
	// ErrReadOnly is returned by Append on a store opened with Options.ReadOnly.
	ErrReadOnly = errors.New("event store opened read-only")
	// ErrNotDatabase: the file is not an SQLite database.
	ErrNotDatabase = errors.New("not an SQLite database")
	// ErrNotEventStore: the file is an SQLite database but not a CSC event store.
	ErrNotEventStore = errors.New("not a CSC event store")
	// ErrCorrupt: SQLite found the file damaged.
	ErrCorrupt = errors.New("database file is corrupt")
	// ErrLocked: another connection (usually another process) held a lock longer than the busy timeout.
	ErrLocked = errors.New("database file is locked by another connection")
	// ErrSchemaTooNew: the file was written by a newer program whose schema this one does not know.
	ErrSchemaTooNew = errors.New("schema version is newer than this program knows")
	// ErrSchemaTooOld: a read-only open found a file not yet migrated to the current schema.
	ErrSchemaTooOld = errors.New("schema version is older than this program's")
	// ErrBadRow: a stored event row does not decode (wrong type, bad UUID, bad time, ...).
	ErrBadRow = errors.New("unreadable event row")
	// ErrEventIDReused: an appended event's ID is already recorded, and the append is not an
	// idempotent repeat of the append that recorded it.
	ErrEventIDReused = errors.New("event ID already recorded")
	// ErrNotWritable: a store opened for writing is in a file or folder this process may not write.
	ErrNotWritable = errors.New("file or folder is not writable")
	// ErrInvalidEvent: an append was refused before reaching the database (empty stream or type,
	// missing or repeated event ID, data or metadata that is not JSON).
	ErrInvalidEvent = errors.New("invalid event")
)

// SQLite result codes the store classifies: primary codes, then extended ones.
const (
	codeBusy     = 5
	codeLocked   = 6
	codeReadOnly = 8
	codeCorrupt  = 11
	codeNotADB   = 26

	// codeReadOnlyDirectory is SQLITE_READONLY_DIRECTORY: SQLite had to create a file (the -wal or
	// -shm) in a folder it may not write.
	codeReadOnlyDirectory = codeReadOnly | 6<<8
)

// classify adds the sentinel matching a driver error's SQLite result code.
func (s *Store) classify(err error) error {
	code, ok := s.drv.code(err)
	if !ok {
		return err
	}
	switch code {
	case codeReadOnlyDirectory:
		return fmt.Errorf("%w (SQLite must create %s-wal and %s-shm in the folder %s, which it may not write): %w",
			ErrNotWritable, filepath.Base(s.path), filepath.Base(s.path), filepath.Dir(s.path), err)
	}
	switch code & 0xff {
	case codeReadOnly:
		return fmt.Errorf("%w: %w", ErrNotWritable, err)
	case codeBusy, codeLocked:
		return fmt.Errorf("%w (gave up after %v): %w", ErrLocked, s.busy, err)
	case codeCorrupt:
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	case codeNotADB:
		return fmt.Errorf("%w: %w", ErrNotDatabase, err)
	}
	return err
}

// openWriteFailed wraps err (classified) as the failure of Open for writing, with a hint when the cause
// is ErrNotWritable.
func (s *Store) openWriteFailed(err error) error {
	if errors.Is(err, ErrNotWritable) {
		return fmt.Errorf("open event store in %s for writing: %w (to read it without writing, as an auditor does, open it read-only)", s.path, err)
	}
	return fmt.Errorf("open event store in %s: %w", s.path, err)
}

// fail wraps err with the operation and the file, classified.
func (s *Store) fail(op string, err error) error {
	return fmt.Errorf("%s in %s: %w", op, s.path, s.classify(err))
}
