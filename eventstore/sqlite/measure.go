package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
)

// The Measure functions are the figures behind the driver choice and the tuning, for a bench command
// to run on the machine that will host the store. They measure wall-clock rates on real files.

// MeasureFsync returns how many write+fsync rounds per second the file system under dir sustains:
// n times, a 512-byte record appended to a temporary file, then File.Sync (fsync). It is the ceiling
// of a store that syncs every append on its own, and the yardstick of group commit.
func MeasureFsync(dir string, n int) (perSecond float64, err error) {
	if n <= 0 {
		return 0, fmt.Errorf("measure fsync: n must be positive, got %d", n)
	}
	f, err := os.CreateTemp(dir, "csc-fsync-*")
	if err != nil {
		return 0, fmt.Errorf("measure fsync: %w", err)
	}
	defer func() {
		err = errors.Join(err, f.Close(), os.Remove(f.Name()))
	}()
	record := []byte(strings.Repeat("x", 511) + "\n")
	start := time.Now()
	for i := range n {
		if _, err := f.Write(record); err != nil {
			return 0, fmt.Errorf("measure fsync: write %d: %w", i, err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("measure fsync: sync %d: %w", i, err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// MeasureAppends opens a fresh store in a temporary directory under dir with the given driver and
// returns how many durable appends per second writers concurrent goroutines achieve, each appending
// one event at a time (with its exact expected revision) to a stream of its own and waiting for the
// acknowledgement, n appends in all.
func MeasureAppends(ctx context.Context, dir, driver string, writers, n int) (perSecond float64, err error) {
	return measureAppends(ctx, dir, Options{Driver: driver}, writers, n)
}

// MeasureAppendCeiling is MeasureAppends with the writer's fsync skipped: the same statements,
// transactions and WAL writes, none of it durable (the checkpoints still fsync, in the background).
// No group commit can make durable appends faster than this on the same CPU, whatever the disk. Only
// a measurement uses such a store: it is opened, measured and removed here.
func MeasureAppendCeiling(ctx context.Context, dir, driver string, writers, n int) (perSecond float64, err error) {
	return measureAppends(ctx, dir, Options{Driver: driver, noFsync: true}, writers, n)
}

func measureAppends(ctx context.Context, dir string, opts Options, writers, n int) (perSecond float64, err error) {
	if writers <= 0 || n < writers {
		return 0, fmt.Errorf("measure appends: want 0 < writers <= n, got writers %d, n %d", writers, n)
	}
	tmp, err := os.MkdirTemp(dir, "csc-appends-*")
	if err != nil {
		return 0, fmt.Errorf("measure appends: %w", err)
	}
	defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()
	s, err := Open(filepath.Join(tmp, "events.db"), opts)
	if err != nil {
		return 0, fmt.Errorf("measure appends: %w", err)
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	start := time.Now()
	if err := appendConcurrently(ctx, s, writers, n); err != nil {
		return 0, fmt.Errorf("measure appends: %w", err)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// appendConcurrently has writers goroutines make n one-event appends in all, each to its own stream.
func appendConcurrently(ctx context.Context, s *Store, writers, n int) error {
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		count := n / writers
		if w < n%writers {
			count++
		}
		wg.Go(func() {
			stream := fmt.Sprintf("bench-%d-%s", w, uuid.NewString())
			for i := range count {
				expected := eventstore.NoStream()
				if i > 0 {
					expected = eventstore.Exact(uint64(i - 1))
				}
				if _, err := s.Append(ctx, stream, expected, []eventstore.EventData{benchEvent(i)}); err != nil {
					errs[w] = fmt.Errorf("writer %d, append %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// benchEvent is an event of a realistic size for CSC: a small JSON body and metadata carrying the
// command identifiers and the two SHA-256 hashes (about 550 bytes in all).
func benchEvent(i int) eventstore.EventData {
	return eventstore.EventData{
		ID:   uuid.New(),
		Type: "RoadmapItemProgressed",
		Data: fmt.Appendf(nil, `{"itemId":"item-%d","stage":"implementation","health":"on-track","percent":%d,"note":"progress reported by the city coordinator"}`, i, i%100),
		Metadata: fmt.Appendf(nil, `{"actor":"user-%d","role":"coordinator","city":"city-%d","commandId":"%s","correlationId":"%s","schemaVersion":1,"prevHash":"%064x","hash":"%064x"}`,
			i%50, i%20, uuid.NewString(), uuid.NewString(), i, i+1),
	}
}

// MeasureScan reads every row of the events table of the store file at path through the given driver,
// in position order, without decoding (raw column bytes), and returns rows per second: the ceiling
// of a replay.
func MeasureScan(ctx context.Context, path, driver string) (rowsPerSecond float64, err error) {
	drv, err := driverNamed(driver)
	if err != nil {
		return 0, fmt.Errorf("measure scan %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, fmt.Errorf("measure scan %s: %w", path, err)
	}
	db := sql.OpenDB(&connector{drv: drv, dsn: fileURI(abs, "ro"), setup: readerSetup(DefaultBusyTimeout)})
	defer func() { err = errors.Join(err, db.Close()) }()
	start := time.Now()
	rows, err := db.QueryContext(ctx, "SELECT "+eventColumns+" FROM events ORDER BY position")
	if err != nil {
		return 0, fmt.Errorf("measure scan %s: %w", abs, err)
	}
	defer rows.Close()
	var cols [8]sql.RawBytes
	dest := [8]any{&cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5], &cols[6], &cols[7]}
	n := 0
	for rows.Next() {
		if err := rows.Scan(dest[:]...); err != nil {
			return 0, fmt.Errorf("measure scan %s: row %d: %w", abs, n+1, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("measure scan %s: after row %d: %w", abs, n, err)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
