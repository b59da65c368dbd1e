package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// checkpointEvery is the least time between two background checkpoints. A checkpoint's fsync of the
// file delays the writer's fsyncs on the same disk, the more the larger it is: with 64 HTTP clients on a
// 1,000,000-event file (csc loadgen), the command p99 was 52 ms with 20 ms between checkpoints, 42-96 ms
// with 50 ms, 99-107 ms with 100 ms, 119 ms with 500 ms, and 121-138 ms with SQLite's own checkpoint in
// the COMMIT every 10,000 pages; commands/s were 6,400-8,000 for all the background ones against
// 5,600-6,800 for that.
const checkpointEvery = 50 * time.Millisecond

// checkpointer copies the WAL back into the database file in the background, with PRAGMA
// wal_checkpoint(PASSIVE) on a connection of its own, so that the writer does not stop to do it.
// SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold: every append of that
// batch waits for it, tens of milliseconds on a large file. A passive checkpoint runs beside the writer
// (WAL mode lets one connection checkpoint while another commits) and never waits for a lock. Once a
// checkpoint has copied the whole WAL, the writer's next transaction starts the WAL again from its
// beginning, so the file stays small. The writer keeps SQLite's automatic checkpoint at a far higher
// threshold (writerSetup) in case this one falls behind.
//
// Durability is unchanged: a checkpoint copies only committed frames, and with synchronous=FULL it
// fsyncs the WAL before it writes the database file and the database file before the WAL is reused.
type checkpointer struct {
	s    *Store
	db   *sql.DB
	wake chan struct{} // capacity 1: a commit happened
	stop chan struct{}
	done chan struct{}
}

// openCheckpointer opens the checkpointer's connection (on first use) and starts its loop.
func openCheckpointer(s *Store) *checkpointer {
	db := s.openDB(false, []string{
		fmt.Sprintf("PRAGMA busy_timeout = %d", s.busy.Milliseconds()),
		"PRAGMA synchronous = FULL",
	})
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	c := &checkpointer{s: s, db: db, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// signal tells the checkpointer that a commit added to the WAL.
func (c *checkpointer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run checkpoints after commits, at most once per checkpointEvery, until close.
func (c *checkpointer) run() {
	defer close(c.done)
	pause := time.NewTimer(checkpointEvery)
	defer pause.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		c.checkpoint()
		pause.Reset(checkpointEvery)
		select {
		case <-c.stop:
			return
		case <-pause.C:
		}
	}
}

// checkpoint runs one passive checkpoint. A failure is logged: the next one (or the writer's
// automatic checkpoint) tries again, and the WAL keeps every commit meanwhile.
func (c *checkpointer) checkpoint() {
	start := time.Now()
	var busy, frames, copied int
	err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	if err != nil {
		c.s.log.Warn("background checkpoint failed", "err", c.s.fail("checkpoint", err))
		return
	}
	c.s.metrics.ckpt.Observe(time.Since(start).Seconds())
}

// close stops the loop and closes the connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
