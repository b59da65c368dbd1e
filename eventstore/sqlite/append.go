package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
)

// request is one Append waiting for the writer.
type request struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedRevision
	events   []eventstore.EventData
	done     chan response // capacity 1; the writer sends exactly one response
	// prev is the append before this one in an AppendBatch: when it fails, this one is not made.
	prev *request
	// failed is set, by the writer only, when it answers with an error.
	failed bool
}

// errEarlierFailed answers the appends of an AppendBatch that follow one that failed.
var errEarlierFailed = errors.New("an earlier append of the batch failed")

type response struct {
	res     eventstore.AppendResult
	err     error
	outcome string
}

// Append enqueues the append for the writer goroutine and waits for its answer, which comes only
// after the transaction holding it has committed durably (or failed as a whole). Once enqueued, an
// append is always answered: a context that ends before the writer takes the append makes it fail
// with the context's error; after that the append is committed and acknowledged normally.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	start := time.Now()
	if s.readOnly {
		return eventstore.AppendResult{}, fmt.Errorf("append %s in %s: %w", stream, s.path, ErrReadOnly)
	}
	if err := validate(stream, events); err != nil {
		s.metrics.observeAppend(outcomeRejected, 0, time.Since(start))
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	req := &request{ctx: ctx, stream: stream, expected: expected, events: events, done: make(chan response, 1)}
	if err := s.enqueue("append "+stream, req); err != nil {
		return eventstore.AppendResult{}, err
	}
	resp := <-req.done
	s.metrics.observeAppend(resp.outcome, len(events), time.Since(start))
	return resp.res, resp.err
}

// AppendBatch makes several appends in their order, as successive Append calls would, but queues
// them all at once instead of waiting for each: they go into the same group commits (usually one
// transaction, always in order, so their positions in $all follow the slice), and each is checked
// against its expected revision as Append checks it. It stops at the first append that fails: its
// error is returned with the results of the appends before it, which are committed, and the appends
// after it are not made. Nothing is queued when an append is invalid (see Append). Bulk writers, such
// as csc copy, use it to keep the order of a log without paying an fsync per append.
func (s *Store) AppendBatch(ctx context.Context, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	start := time.Now()
	if s.readOnly {
		return nil, fmt.Errorf("append batch in %s: %w", s.path, ErrReadOnly)
	}
	for _, a := range appends {
		if err := validate(a.Stream, a.Events); err != nil {
			s.metrics.observeAppend(outcomeRejected, 0, time.Since(start))
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("append batch: %w", err)
	}
	reqs := make([]*request, len(appends))
	for i, a := range appends {
		reqs[i] = &request{ctx: ctx, stream: a.Stream, expected: a.Expected, events: a.Events, done: make(chan response, 1)}
		if i > 0 {
			reqs[i].prev = reqs[i-1]
		}
	}
	if err := s.enqueue("append batch", reqs...); err != nil {
		return nil, err
	}
	results := make([]eventstore.AppendResult, 0, len(reqs))
	var failure error
	for i, r := range reqs {
		resp := <-r.done
		if failure != nil {
			continue // answered errEarlierFailed: not made
		}
		s.metrics.observeAppend(resp.outcome, len(r.events), time.Since(start))
		if resp.err != nil {
			failure = fmt.Errorf("append %d of %d: %w", i+1, len(reqs), resp.err)
			continue
		}
		results = append(results, resp.res)
	}
	return results, failure
}

// enqueue queues reqs, in order and together, for the writer and wakes it; op names the operation in
// the ErrClosed error of a closed store.
func (s *Store) enqueue(op string, reqs ...*request) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("%s in %s: %w", op, s.path, eventstore.ErrClosed)
	}
	s.queue = append(s.queue, reqs...)
	s.mu.Unlock()
	s.signalWriter()
	return nil
}

// answer sends the writer's response to the appender, noting a failure for the appends chained
// after it (AppendBatch). Only the writer goroutine calls it.
func (r *request) answer(resp response) {
	if resp.err != nil {
		r.failed = true
	}
	r.done <- resp
}

// validate refuses an append that no database state could accept.
func validate(stream string, events []eventstore.EventData) error {
	if stream == "" {
		return fmt.Errorf("append: %w: empty stream name", ErrInvalidEvent)
	}
	if len(events) == 0 {
		return fmt.Errorf("append %s: %w: no events", stream, ErrInvalidEvent)
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, e := range events {
		switch {
		case e.ID == uuid.Nil:
			return fmt.Errorf("append %s: %w: event %d has the nil ID", stream, ErrInvalidEvent, i)
		case e.Type == "":
			return fmt.Errorf("append %s: %w: event %d (%s) has no type", stream, ErrInvalidEvent, i, e.ID)
		case len(e.Data) > 0 && !json.Valid(e.Data):
			return fmt.Errorf("append %s: %w: event %d (%s): data is not JSON", stream, ErrInvalidEvent, i, e.ID)
		case len(e.Metadata) > 0 && !json.Valid(e.Metadata):
			return fmt.Errorf("append %s: %w: event %d (%s): metadata is not JSON", stream, ErrInvalidEvent, i, e.ID)
		}
		if _, dup := seen[e.ID]; dup {
			return fmt.Errorf("append %s: %w: event ID %s appears twice", stream, ErrInvalidEvent, e.ID)
		}
		seen[e.ID] = struct{}{}
	}
	return nil
}

// writer owns the store's only write connection and runs the group-commit loop.
type writer struct {
	s    *Store
	db   *sql.DB
	conn *sql.Conn
	done chan struct{} // closed when run returns

	// Statements prepared once on conn and reused by every batch.
	begin, commit, rollback            *sql.Stmt
	current, insert, byID, dataVersion *sql.Stmt

	// heads is the revision of the streams this writer appended to lately (see apply), valid while
	// PRAGMA data_version stays at lastDataVersion.
	heads           map[string]int64
	lastDataVersion int64

	ckpt *checkpointer
	// vfs gathers the WAL writes of conn's transactions (walbuffer.go); nil with the mattn driver.
	vfs *walVFS
}

// maxHeads bounds the writer's cache of stream revisions (writer.heads): past it, the cache is
// emptied and fills again with the streams being written.
const maxHeads = 1 << 16

// writerSetup are the PRAGMAs of the write connection.
//
// Durability: the file is in WAL mode (set by openWriter; it is persistent) with synchronous=FULL.
// In WAL mode a commit appends the transaction's pages and a commit frame to the -wal file; with FULL,
// SQLite fsyncs the -wal file before COMMIT returns (with NORMAL it would sync only at checkpoints,
// and a power loss could drop a commit that was already acknowledged). The writer answers appends
// only after COMMIT has returned, so every acknowledged append is on stable storage. Checkpoints copy
// the WAL into the main file with fsyncs of their own before the WAL is reused.
//
// Options.noFsync (benchmarks only) turns that off: SQLite's synchronous=OFF for the mattn driver;
// for modernc the WAL buffer's xSync writes the WAL out but does not fsync it (walbuffer.go).
func writerSetup(busy time.Duration, syncOff bool) []string {
	synchronous := "PRAGMA synchronous = FULL"
	if syncOff {
		synchronous = "PRAGMA synchronous = OFF"
	}
	return []string{
		fmt.Sprintf("PRAGMA busy_timeout = %d", busy.Milliseconds()),
		// Only takes effect on a new, empty file (a WAL file's page size is fixed).
		"PRAGMA page_size = 4096",
		synchronous,
		// Statement and savepoint journals in memory: no temporary files on the commit path.
		"PRAGMA temp_store = MEMORY",
		// A 4 MiB page cache (1,024 pages) keeps the interior pages of the indexes that the revision
		// check and the event_id uniqueness check walk; their leaves are random and the OS page cache
		// serves them. It is small on purpose: at the end of every write transaction SQLite walks the
		// page cache's hash table (pcache1TruncateUnsafe), so the cost of each COMMIT grows with the
		// cache. With 32 MiB that walk took 4-7 % of the writer's CPU in the append benchmark and
		// 15 % under the HTTP load; 4 MiB made 64-writer appends 9 % faster (five alternating rounds),
		// and no slower on a 1,000,000-event file (BENCHMARKS.md).
		"PRAGMA cache_size = -4096",
		// The checkpointer (checkpoint.go) copies the WAL into the file in the background. The
		// writer checkpoints by itself only if the WAL passes ~80 MiB (20,000 pages) all the same,
		// and the WAL file is truncated back to 128 MiB at most.
		"PRAGMA wal_autocheckpoint = 20000",
		"PRAGMA journal_size_limit = 134217728",
	}
}

// openWriter opens the write connection, puts the file in WAL mode, brings the schema up to date and
// prepares the writer's statements. A file or folder it may not write is refused with ErrNotWritable.
func openWriter(ctx context.Context, s *Store) (*writer, error) {
	// SQLite opens a file it may not write read-only without a word, and BEGIN IMMEDIATE succeeds
	// on it (in WAL mode the write lock is in the -shm file): the store would open and every append
	// fail. In a folder it may write, SQLite would also create a -wal and a -shm file beside it that
	// it cannot remove. Refuse such a file before SQLite touches it. A folder or a -wal or -shm file
	// SQLite may not write fails the first statement or the migration's BEGIN IMMEDIATE with
	// SQLITE_READONLY, classified as ErrNotWritable.
	// (canAccess opens nothing: see there.)
	if err := canAccess(s.path, accessWrite); errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EROFS) {
		return nil, s.openWriteFailed(fmt.Errorf("%w: %w", ErrNotWritable, &fs.PathError{Op: "access", Path: s.path, Err: err}))
	} // else it is writable, does not exist (SQLite creates it), or SQLite reports the error
	dsn := fileURI(s.path, "rwc")
	var vfs *walVFS
	if s.drv.name == DriverModernc {
		var err error
		if vfs, err = newWALVFS(s.noFsync); err != nil {
			return nil, s.fail("open event store", err)
		}
		dsn += "&vfs=" + vfs.name
	}
	db := sql.OpenDB(&connector{drv: s.drv, dsn: dsn, setup: writerSetup(s.busy, s.noFsync && vfs == nil)})
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	w := &writer{s: s, db: db, vfs: vfs, done: make(chan struct{}), heads: make(map[string]int64)}
	fail := func(err error) (*writer, error) {
		w.close()
		return nil, s.openWriteFailed(s.classify(err))
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fail(err)
	}
	w.conn = conn
	// A file that is not ours is refused before anything (the journal mode) changes in it.
	if _, err := checkHeader(ctx, conn); err != nil {
		return fail(err)
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fail(fmt.Errorf("set WAL mode: %w", err))
	}
	if !strings.EqualFold(mode, "wal") {
		return fail(fmt.Errorf("set WAL mode: journal mode stayed %q", mode))
	}
	if err := migrate(ctx, conn, migrations(), s.now()); err != nil {
		return fail(err)
	}
	w.ckpt = openCheckpointer(s)
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.begin, "BEGIN IMMEDIATE"},
		{&w.commit, "COMMIT"},
		{&w.rollback, "ROLLBACK"},
		{&w.current, "SELECT max(revision) FROM events WHERE stream = ?"},
		{&w.insert, "INSERT INTO events (stream, revision, event_id, type, data, metadata, recorded) VALUES (?, ?, ?, ?, ?, ?, ?)"},
		{&w.byID, "SELECT stream, revision, position FROM events WHERE event_id = ?"},
		{&w.dataVersion, "PRAGMA data_version"},
	} {
		if *p.stmt, err = conn.PrepareContext(ctx, p.sql); err != nil {
			return fail(fmt.Errorf("prepare %q: %w", p.sql, err))
		}
	}
	return w, nil
}

// close releases the write connection. The writer goroutine must have stopped.
func (w *writer) close() error {
	var errs []error
	if w.ckpt != nil {
		errs = append(errs, w.ckpt.close())
	}
	for _, st := range []*sql.Stmt{w.begin, w.commit, w.rollback, w.current, w.insert, w.byID, w.dataVersion} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if w.conn != nil {
		errs = append(errs, w.conn.Close())
	}
	errs = append(errs, w.db.Close())
	if w.vfs != nil {
		errs = append(errs, w.vfs.close())
	}
	return errors.Join(errs...)
}

// run is the writer goroutine: it commits batches until the store closes.
func (w *writer) run() {
	defer close(w.done)
	for {
		batch, ok := w.s.take()
		if !ok {
			return
		}
		w.commitBatch(batch)
	}
}

// take waits for appends and returns the next batch (see batchLen), oldest first. Once the store is
// closed it answers every queued append with ErrClosed and returns false.
//
// Before it takes a batch that holds every pending append, it yields the processor once
// (runtime.Gosched): goroutines that are ready to run, such as request handlers about to append,
// run first and join the batch, so that under load more appends share a commit and its fsync. On an
// idle machine the yield returns at once, so a lone writer is not delayed. Measured with 64 HTTP
// clients on 2 cores (http.BenchmarkServeCommands), transactions grew from about 7 to about 18
// appends; with 64 store-level writers (BenchmarkAppend64Writers) from 32 to 34.
func (s *Store) take() ([]*request, bool) {
	yielded := false
	for {
		s.mu.Lock()
		if s.closed {
			rest := s.queue
			s.queue = nil
			s.mu.Unlock()
			for _, r := range rest {
				r.answer(response{err: fmt.Errorf("append %s in %s: %w", r.stream, s.path, eventstore.ErrClosed), outcome: outcomeError})
			}
			return nil, false
		}
		n := s.batchLen()
		if n > 0 && !yielded && n == len(s.queue) && n < s.maxBatch {
			yielded = true
			s.mu.Unlock()
			runtime.Gosched()
			continue
		}
		if n > 0 {
			batch := make([]*request, n)
			copy(batch, s.queue)
			rest := copy(s.queue, s.queue[n:])
			clear(s.queue[rest:])
			s.queue = s.queue[:rest]
			s.mu.Unlock()
			return batch, true
		}
		s.mu.Unlock()
		<-s.wake
	}
}

// maxBatchEvents bounds the events of one batch (a batch always takes at least one append), which
// bounds the WAL growth and the latency of a transaction.
const maxBatchEvents = 10_000

// batchLen is how many queued appends the next batch takes: up to maxBatch appends and, after the
// first, maxBatchEvents events. The caller holds s.mu.
func (s *Store) batchLen() int {
	n, events := 0, 0
	for _, r := range s.queue {
		if n == s.maxBatch || (n > 0 && events+len(r.events) > maxBatchEvents) {
			break
		}
		n++
		events += len(r.events)
	}
	return n
}

// commitBatch writes a batch in one transaction and answers each append after the commit. An append
// refused on its own (wrong revision, reused event ID) does not affect the others; a failure of the
// transaction itself (lock, I/O, corruption) fails every append of the batch, none of which is then
// written.
func (w *writer) commitBatch(batch []*request) {
	s := w.s
	live := make([]*request, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.answer(response{err: fmt.Errorf("append %s: %w", r.stream, err), outcome: outcomeError})
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx := context.Background() // one append's context must not abort the others' transaction
	failAll := func(err error) {
		s.log.Error("append batch failed", "appends", len(live), "err", err)
		for _, r := range live {
			r.answer(response{err: s.fail("append "+r.stream, err), outcome: outcomeError})
		}
	}
	if _, err := w.begin.ExecContext(ctx); err != nil {
		failAll(fmt.Errorf("begin: %w", err))
		return
	}
	// Another connection (another process writing the file) may have appended since this writer's
	// last batch: its revisions are then unknown to the cache. data_version changes exactly when
	// another connection has committed; BEGIN IMMEDIATE holds the write lock from here on.
	var version int64
	if err := w.dataVersion.QueryRowContext(ctx).Scan(&version); err != nil {
		_, _ = w.rollback.ExecContext(ctx)
		failAll(fmt.Errorf("read data_version: %w", err))
		return
	}
	if version != w.lastDataVersion || len(w.heads) > maxHeads {
		clear(w.heads)
		w.lastDataVersion = version
	}
	recorded := s.now().UTC().Format(recordedLayout)
	resps := make([]response, len(live))
	written := false
	for i, r := range live {
		if r.prev != nil && r.prev.failed {
			r.failed = true
			resps[i] = response{err: fmt.Errorf("append %s: %w", r.stream, errEarlierFailed), outcome: outcomeError}
			continue
		}
		resp, err := w.apply(ctx, r, recorded)
		if err != nil {
			_, _ = w.rollback.ExecContext(ctx)
			clear(w.heads) // it may hold revisions of this batch, which is rolled back
			failAll(err)
			return
		}
		r.failed = resp.err != nil
		resps[i] = resp
		written = written || resp.outcome == outcomeOK
	}
	start := time.Now()
	if _, err := w.commit.ExecContext(ctx); err != nil {
		_, _ = w.rollback.ExecContext(ctx)
		clear(w.heads)
		failAll(fmt.Errorf("commit: %w", err))
		return
	}
	s.metrics.commitHS.Observe(time.Since(start).Seconds())
	s.metrics.batch.Observe(float64(len(live)))
	if written {
		s.notifyCommit()
		w.ckpt.signal()
	}
	for i, r := range live {
		r.answer(resps[i])
	}
}

// apply performs one append inside the batch's transaction. The transaction already holds the
// batch's earlier appends, so the revision check sees them as well as what was committed before. It
// returns an error only for a failure that compromises the whole transaction.
//
// The revision of a stream this writer appended to lately comes from w.heads rather than a query:
// an entry is set once an append's rows are in, and the whole cache is dropped when a batch rolls
// back or another connection commits (commitBatch), so an entry is always the stream's revision in
// the transaction. A stream the cache does not hold is looked up.
func (w *writer) apply(ctx context.Context, r *request, recorded string) (response, error) {
	var cur sql.NullInt64
	if rev, ok := w.heads[r.stream]; ok {
		cur = sql.NullInt64{Int64: rev, Valid: true}
	} else if err := w.current.QueryRowContext(ctx, r.stream).Scan(&cur); err != nil {
		return response{}, fmt.Errorf("read revision of %s: %w", r.stream, err)
	}
	exists := cur.Valid
	if !r.expected.Matches(uint64(cur.Int64), exists) {
		// A retry of an append that was committed is answered with its first result.
		if resp, ok, err := w.repeated(ctx, r); err != nil || ok {
			return resp, err
		}
		return response{
			err:     &eventstore.WrongRevisionError{Stream: r.stream, Expected: r.expected, Actual: uint64(cur.Int64), Exists: exists},
			outcome: outcomeWrongRevision,
		}, nil
	}
	next := int64(0)
	if exists {
		next = cur.Int64 + 1
	}
	// Several events go in under a savepoint, so that a refusal half-way leaves none of them; a single
	// INSERT is atomic by itself.
	multi := len(r.events) > 1
	if multi {
		if _, err := w.conn.ExecContext(ctx, "SAVEPOINT append"); err != nil {
			return response{}, fmt.Errorf("savepoint: %w", err)
		}
	}
	var position int64
	for i, e := range r.events {
		res, err := w.insert.ExecContext(ctx, r.stream, next+int64(i), e.ID.String(), e.Type, jsonText(e.Data), jsonText(e.Metadata), recorded)
		if err == nil {
			position, err = res.LastInsertId()
		}
		if err != nil {
			if multi {
				for _, q := range []string{"ROLLBACK TO append", "RELEASE append"} {
					if _, rerr := w.conn.ExecContext(ctx, q); rerr != nil {
						// An I/O error makes SQLite roll back the whole transaction, savepoint
						// included: the insert's error is the cause, the savepoint's a consequence.
						return response{}, fmt.Errorf("insert into %s: %w (then %s: %w)", r.stream, err, q, rerr)
					}
				}
			}
			return w.insertFailed(ctx, r, err)
		}
	}
	if multi {
		if _, err := w.conn.ExecContext(ctx, "RELEASE append"); err != nil {
			return response{}, fmt.Errorf("release savepoint: %w", err)
		}
	}
	last := uint64(next) + uint64(len(r.events)) - 1
	w.heads[r.stream] = int64(last)
	return response{
		res:     eventstore.AppendResult{Revision: last, Position: eventstore.Position{Commit: uint64(position), Prepare: uint64(position)}},
		outcome: outcomeOK,
	}, nil
}

// insertFailed explains a failed INSERT: the append repeats a recorded one (idempotent), or reuses a
// recorded event ID (refused); anything else fails the transaction.
func (w *writer) insertFailed(ctx context.Context, r *request, insertErr error) (response, error) {
	if resp, ok, err := w.repeated(ctx, r); err != nil || ok {
		return resp, err
	}
	for _, e := range r.events {
		at, found, err := w.lookup(ctx, e.ID)
		if err != nil {
			return response{}, err
		}
		if found {
			return response{
				err:     fmt.Errorf("append %s: %w: event %s is at revision %d of stream %s (position %d)", r.stream, ErrEventIDReused, e.ID, at.revision, at.stream, at.position),
				outcome: outcomeRejected,
			}, nil
		}
	}
	return response{}, fmt.Errorf("insert into %s: %w", r.stream, insertErr)
}

// recordedAt is where an event ID is recorded.
type recordedAt struct {
	stream             string
	revision, position int64
}

func (w *writer) lookup(ctx context.Context, id uuid.UUID) (recordedAt, bool, error) {
	var at recordedAt
	err := w.byID.QueryRowContext(ctx, id.String()).Scan(&at.stream, &at.revision, &at.position)
	if errors.Is(err, sql.ErrNoRows) {
		return at, false, nil
	}
	if err != nil {
		return at, false, fmt.Errorf("look up event %s: %w", id, err)
	}
	return at, true, nil
}

// repeated reports whether r repeats an append already recorded (or made earlier in this batch): the
// same event IDs, in the same stream, at consecutive revisions in the same order, placed where r's
// expected revision would have placed them. It then answers with that append's result.
func (w *writer) repeated(ctx context.Context, r *request) (response, bool, error) {
	var first, at recordedAt
	for i, e := range r.events {
		var found bool
		var err error
		if at, found, err = w.lookup(ctx, e.ID); err != nil || !found {
			return response{}, false, err
		}
		if i == 0 {
			first = at
		}
		if at.stream != r.stream || at.revision != first.revision+int64(i) {
			return response{}, false, nil
		}
	}
	if rev, ok := r.expected.ExactRevision(); ok && (rev == math.MaxUint64 || uint64(first.revision) != rev+1) {
		return response{}, false, nil
	}
	if r.expected.IsNoStream() && first.revision != 0 {
		return response{}, false, nil
	}
	return response{
		res:     eventstore.AppendResult{Revision: uint64(at.revision), Position: eventstore.Position{Commit: uint64(at.position), Prepare: uint64(at.position)}},
		outcome: outcomeIdempotent,
	}, true, nil
}

// jsonText is the value stored for a JSON payload: its text, or NULL when empty. Passing a string
// (not []byte) makes SQLite store TEXT, which the sqlite3 CLI shows as is.
func jsonText(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}
