package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hallgren/eventsourcing/core"
	hsql "github.com/hallgren/eventsourcing/eventstore/sql"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver: the driver our store uses by default

	"github.com/metropolis/csc/eventstore/sqlite"
)

// The peer's side of the workload: github.com/hallgren/eventsourcing/eventstore/sql (v0.4.0) on a
// database/sql handle of modernc.org/sqlite, the pure-Go driver our store uses by default.

// peerPragmas are the PRAGMAs every connection of the peer's handle runs, in modernc's _pragma
// form: those of our store's write connection (eventstore/sqlite writerSetup), so that both stores
// commit with the same durability and the same page cache. page_size is left at SQLite's default,
// 4096, which is what our writer sets.
func peerPragmas() []string {
	return []string{
		fmt.Sprintf("busy_timeout(%d)", sqlite.DefaultBusyTimeout.Milliseconds()),
		"journal_mode(WAL)",
		"synchronous(FULL)",
		"temp_store(MEMORY)",
		"cache_size(-32768)",
		"wal_autocheckpoint(1000)",
		"journal_size_limit(67108864)",
	}
}

// peerDSN is the modernc data source name of the file at path with peerPragmas.
func peerDSN(path string) string {
	q := url.Values{"_pragma": peerPragmas()}
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + escaped + "?mode=rwc&" + q.Encode()
}

// peerAggregateType and peerReason are the peer's names for the aggregate and the event: the
// aggregate type is part of its stream key (id, type), the reason is the event's type name.
const (
	peerAggregateType = "RoadmapItem"
	peerReason        = "RoadmapItemProgressed"
)

// peerEvent is the i-th event (0-based) a writer saves to its aggregate id: version i+1 (the peer
// numbers versions from 1 and checks that the new event's is the stored one plus 1), with the
// body and metadata of eventstore/sqlite's benchmark event (benchEvent, about 550 bytes) in the
// peer's Data and Metadata.
func peerEvent(id string, i int) core.Event {
	return core.Event{
		AggregateID:   id,
		Version:       core.Version(i + 1),
		AggregateType: peerAggregateType,
		Timestamp:     time.Now(),
		Reason:        peerReason,
		Data:          fmt.Appendf(nil, `{"itemId":"item-%d","stage":"implementation","health":"on-track","percent":%d,"note":"progress reported by the city coordinator"}`, i, i%100),
		Metadata: fmt.Appendf(nil, `{"actor":"user-%d","role":"coordinator","city":"city-%d","commandId":"%s","correlationId":"%s","schemaVersion":1,"prevHash":"%064x","hash":"%064x"}`,
			i%50, i%20, uuid.NewString(), uuid.NewString(), i, i+1),
	}
}

// peerStore is the peer's SQL event store on a fresh file, with the database/sql handle under it.
type peerStore struct {
	es *hsql.SQL
	db *sql.DB
}

// openPeer creates the peer's store in the new file at path: a modernc handle with peerPragmas on
// every connection, at most pool open connections (0 leaves database/sql's default, unlimited),
// the peer's schema from its Migrate. It checks that the pragmas took effect.
func openPeer(ctx context.Context, path string, pool int) (*peerStore, error) {
	db, err := sql.Open("sqlite", peerDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open peer store %s: %w", path, err)
	}
	if pool > 0 {
		db.SetMaxOpenConns(pool)
	}
	fail := func(err error) (*peerStore, error) {
		return nil, errors.Join(fmt.Errorf("open peer store %s: %w", path, err), db.Close())
	}
	var mode string
	var sync, busy int
	if err := db.QueryRowContext(ctx, "SELECT journal_mode, synchronous, timeout FROM pragma_journal_mode, pragma_synchronous, pragma_busy_timeout").Scan(&mode, &sync, &busy); err != nil {
		return fail(err)
	}
	if !strings.EqualFold(mode, "wal") || sync != 2 || int64(busy) != sqlite.DefaultBusyTimeout.Milliseconds() {
		return fail(fmt.Errorf("pragmas not in effect: journal_mode %s, synchronous %d, busy_timeout %d ms", mode, sync, busy))
	}
	es := hsql.Open(db)
	if err := es.Migrate(); err != nil {
		return fail(fmt.Errorf("migrate: %w", err))
	}
	return &peerStore{es: es, db: db}, nil
}

// close closes the peer's handle. The peer's own Close (SQL.Close) drops the error, so the handle
// is closed here directly.
func (p *peerStore) close() error { return p.db.Close() }

// measurePeer opens the peer's store on a fresh file in a temporary folder under dir and returns
// how many appends per second writers concurrent goroutines achieve, each saving one event at a
// time (SQL.Save: a transaction that reads the aggregate's last version, checks the new event's
// against it, inserts and commits) to an aggregate of its own and waiting for Save to return, n
// saves in all. It then checks that the file holds exactly n events.
func measurePeer(ctx context.Context, dir string, writers, n, pool int) (perSecond float64, err error) {
	if writers <= 0 || n < writers {
		return 0, fmt.Errorf("measure peer: want 0 < writers <= n, got writers %d, n %d", writers, n)
	}
	tmp, err := os.MkdirTemp(dir, "csc-peer-*")
	if err != nil {
		return 0, fmt.Errorf("measure peer: %w", err)
	}
	defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()
	p, err := openPeer(ctx, filepath.Join(tmp, "peer.db"), pool)
	if err != nil {
		return 0, fmt.Errorf("measure peer: %w", err)
	}
	defer func() { err = errors.Join(err, p.close()) }()

	errs := make([]error, writers)
	var stop atomic.Bool // set by the first writer that fails: the others stop early
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		count := n / writers
		if w < n%writers {
			count++
		}
		wg.Go(func() {
			id := fmt.Sprintf("bench-%d-%s", w, uuid.NewString())
			for i := range count {
				if stop.Load() || ctx.Err() != nil {
					return
				}
				if err := p.es.Save([]core.Event{peerEvent(id, i)}); err != nil {
					errs[w] = fmt.Errorf("writer %d, save %d: %w", w, i, err)
					stop.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("measure peer: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("measure peer: %w", err)
	}
	var stored int
	if err := p.db.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&stored); err != nil {
		return 0, fmt.Errorf("measure peer: count events: %w", err)
	}
	if stored != n {
		return 0, fmt.Errorf("measure peer: %d saves left %d events in the file", n, stored)
	}
	return float64(n) / elapsed.Seconds(), nil
}
