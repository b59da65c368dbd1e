// Package esdb is the EventStoreDB / KurrentDB adapter of the CSC store port (eventstore.Store), built on
// github.com/EventStore/EventStore-Client-Go/v4. It does what an application on EventStoreDB has to do
// itself:
//
//   - every event is appended with the caller's deterministic ID (the client would make a random one for
//     the nil ID, which breaks idempotent retries), so the nil ID is refused;
//   - expected revisions are mapped exactly (Any, NoStream, Exact), and a wrong expected version becomes an
//     *eventstore.WrongRevisionError carrying the stream's actual revision;
//   - client errors are classified with errors.As into *esdb.Error (esdb.FromError misses wrapped errors);
//   - $all is read and subscribed to without system events ("$"-prefixed event types or streams), from
//     the start or from a saved position, minding that a $all read from a position is inclusive while a
//     subscription start is exclusive (the port is exclusive for both);
//   - reads are paged (bounded memory) and every read stream is closed;
//   - a dropped subscription is resubscribed with backoff from the last delivered event (nothing missed,
//     nothing doubled), and a client closed under us (ErrorCodeConnectionClosed, e.g. after a failed
//     rediscovery) is replaced by a new one.
//
// The adapter is tested in CI against esdbfixture, an in-process fake of the EventStoreDB gRPC protocol,
// and against a real server wherever CSC_ESDB_URL is set.
package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
)

// Options configure a Store. The zero value is usable: no metrics, logs discarded.
type Options struct {
	// Registerer receives the adapter's metrics (append latency, appends by outcome, resubscriptions,
	// client recreations). Nil: no metrics.
	Registerer prometheus.Registerer
	// Logger receives the adapter's logs and, at debug level, the client library's. Nil: discarded.
	Logger *slog.Logger
}

// Store is an eventstore.Store on EventStoreDB. It is safe for concurrent use. Create it with Open.
type Store struct {
	config  esdbclient.Configuration // template; every client gets its own copy
	log     *slog.Logger
	metrics *metrics

	// closing is cancelled (cause eventstore.ErrClosed) by Close: every operation's context derives
	// from it, so that Close ends reads and subscriptions in progress.
	closing context.Context
	cancel  context.CancelCauseFunc

	mu     sync.Mutex
	closed bool
	cur    *clientRef // nil until first use and after the current client was retired
}

// clientRef counts the operations that use a client, so that a retired client is closed only once no
// operation uses it any more. (The client library sends on a channel that Close closes when an RPC
// fails with Unavailable: closing a client under a running RPC could panic.)
type clientRef struct {
	client  *esdbclient.Client
	refs    int
	retired bool
}

var _ eventstore.Store = (*Store)(nil)

// Open parses connString (e.g. "esdb://localhost:2113?tls=false", see esdb.ParseConnectionString),
// creates the client and checks that the server answers a read (within ctx), so that a wrong address
// fails early. The returned Store reconnects by itself later on.
func Open(ctx context.Context, connString string, opts Options) (*Store, error) {
	config, err := esdbclient.ParseConnectionString(connString)
	if err != nil {
		return nil, fmt.Errorf("open esdb: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	config.Logger = clientLogger(logger)

	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("open esdb: %w", err)
	}
	closing, cancel := context.WithCancelCause(context.Background())
	s := &Store{
		config:  *config,
		log:     logger,
		metrics: m,
		closing: closing,
		cancel:  cancel,
	}
	if err := s.Ready(ctx); err != nil {
		_ = s.Close()
		m.unregister()
		return nil, fmt.Errorf("open esdb: %w", err)
	}
	return s, nil
}

// clientLogger routes the client library's log lines to logger at debug level: it logs every
// cancelled call as an error, which is routine here; the adapter logs what matters itself.
func clientLogger(logger *slog.Logger) esdbclient.LoggingFunc {
	return func(level esdbclient.LogLevel, format string, args ...any) {
		if !logger.Enabled(context.Background(), slog.LevelDebug) {
			return
		}
		logger.Debug(fmt.Sprintf(format, args...), "component", "esdb-client", "clientLevel", level)
	}
}

// Close closes the store: operations in progress end with eventstore.ErrClosed, and the client is
// closed once they have returned. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.cancel(eventstore.ErrClosed)
	if s.cur != nil {
		s.retireLocked(s.cur)
	}
	return nil
}

// Ready reports whether the server answers a cheap read (the last event of $all), for /readyz.
func (s *Store) Ready(ctx context.Context) error {
	ctx, done := s.opContext(ctx)
	defer done()
	err := s.withClient(ctx, func(c *esdbclient.Client) error {
		rs, err := c.ReadAll(ctx, esdbclient.ReadAllOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 1)
		if err != nil {
			return err
		}
		defer rs.Close()
		_, err = rs.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("esdb ready: %w", s.opError(ctx, err))
	}
	return nil
}

// opContext derives an operation's context from ctx that also ends, with cause eventstore.ErrClosed,
// when the store is closed.
func (s *Store) opContext(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.closing, func() { cancel(eventstore.ErrClosed) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// live returns eventstore.ErrClosed once Close has begun, else ctx's error: what an operation checks
// before it hands out an event the client had already received. (The context of opContext learns of
// Close a moment later, from a goroutine of context.AfterFunc.)
func (s *Store) live(ctx context.Context) error {
	if s.closing.Err() != nil {
		return eventstore.ErrClosed
	}
	return ctx.Err()
}

// opError replaces err by eventstore.ErrClosed when the store was closed under the operation, and by
// ctx's error when the caller's context ended.
func (s *Store) opError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, eventstore.ErrClosed) {
			return eventstore.ErrClosed
		}
		return cause
	}
	return err
}

// withClient runs fn with the current client. When the client reports that it is closed although the
// store is not (the library closes a client for good when a rediscovery fails), the client is replaced
// and fn runs once more: a closed client fails before it sends anything, so the retry is safe.
func (s *Store) withClient(ctx context.Context, fn func(*esdbclient.Client) error) error {
	for attempt := 0; ; attempt++ {
		ref, err := s.acquire()
		if err != nil {
			return err
		}
		err = fn(ref.client)
		if isCode(err, esdbclient.ErrorCodeConnectionClosed) {
			s.retire(ref)
			s.release(ref)
			if attempt == 0 && ctx.Err() == nil && !s.isClosed() {
				continue
			}
			return err
		}
		s.release(ref)
		return err
	}
}

// acquire returns the current client (creating one if needed) with one more reference.
func (s *Store) acquire() (*clientRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	if s.cur == nil {
		config := s.config
		c, err := esdbclient.NewClient(&config)
		if err != nil {
			return nil, fmt.Errorf("create esdb client: %w", err)
		}
		s.cur = &clientRef{client: c}
		s.metrics.clientCreated()
	}
	s.cur.refs++
	return s.cur, nil
}

// release drops one reference, closing the client if it was retired and is no longer used.
func (s *Store) release(ref *clientRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref.refs--
	if ref.retired && ref.refs == 0 {
		_ = ref.client.Close()
	}
}

// retire stops handing out ref: the next operation creates a new client.
func (s *Store) retire(ref *clientRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ref.retired {
		return
	}
	if !s.closed {
		s.log.Warn("esdb client closed under the store, recreating it")
	}
	s.retireLocked(ref)
}

func (s *Store) retireLocked(ref *clientRef) {
	if s.cur == ref {
		s.cur = nil
	}
	ref.retired = true
	if ref.refs == 0 {
		_ = ref.client.Close()
	}
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// clientError returns the *esdb.Error in err's chain, if any.
func clientError(err error) (*esdbclient.Error, bool) {
	var e *esdbclient.Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// isCode reports whether err's chain holds an *esdb.Error with the given code.
func isCode(err error, code esdbclient.ErrorCode) bool {
	e, ok := clientError(err)
	return ok && e.Code() == code
}
