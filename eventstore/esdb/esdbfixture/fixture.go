// Package esdbfixture is a test fake of the EventStoreDB gRPC protocol, not a server. It is an
// in-process gRPC server (127.0.0.1, a free port, no TLS) that implements, in memory, the part of the
// protocol that github.com/EventStore/EventStore-Client-Go/v4 uses against a single node, with the
// server interfaces generated in the client module's own protos packages:
//
//   - ServerFeatures.GetSupportedMethods, which the client calls when it connects (a single-node
//     "esdb://host:port?tls=false" connection does no gossip, so Gossip is not served);
//   - Streams.Append (client-streaming: the options, then the proposed messages), with the server's
//     expected-version check, its wrong-expected-version reply (carrying the current revision) and its
//     idempotence check of event IDs (per stream, as the server does: IDs are not unique across streams);
//   - Streams.Read of a stream and of $all, forwards and backwards, with a count, with event-type and
//     stream-name filters (prefixes or a regular expression), and as subscriptions (confirmation,
//     catch-up, caught-up, live events, checkpoints of filtered subscriptions). A stream read of a
//     missing stream answers stream-not-found; a read of $all from a position is inclusive, a
//     subscription from a position exclusive.
//
// Positions imitate the server's: the log starts past 0, the events of one append share a commit
// position (the position of their first event) and have increasing prepare positions, and an append
// answers with its commit position. The log starts with a few system events ($-prefixed types and
// streams) so that clients' filters are exercised; WriteSystemEvent adds more.
//
// Nothing is durable (data survive Stop/Restart, not Close) and there is no authentication,
// no deletion, no persistent subscription, no projection, no cluster. Use it only in tests.
package esdbfixture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// serverVersion is what GetSupportedMethods reports.
	serverVersion = "24.10.0"
	// firstPosition is the log position of the first record: the server's log never starts at 0.
	firstPosition = 4096
	// recordOverhead is the size, besides names and payloads, that a record takes in the fake log.
	recordOverhead = 96
	// chunk is the number of records copied out of the log under the lock at a time.
	chunk = 256
)

// Sentinel expected versions, as the server numbers them.
const (
	expectNoStream     = -1
	expectAny          = -2
	expectStreamExists = -4
)

// errDropped is the cause with which DropSubscriptions ends subscriptions.
var errDropped = errors.New("subscription dropped by the fixture")

// Options configure a Fixture. The zero value is usable.
type Options struct {
	// Now stamps appended events (their "created" date). Default time.Now.
	Now func() time.Time
	// StreamReadsWithoutPosition makes events read from a stream carry no $all position, as servers
	// that read streams from their index only do (they send -1, i.e. 2^64-1).
	StreamReadsWithoutPosition bool
}

// Fixture is a running fake. Create it with Start.
type Fixture struct {
	opts Options
	addr string

	lis      net.Listener  // open from Start to Close, so that no other process takes the port
	accepted chan struct{} // closed when the accept loop has returned

	mu      sync.Mutex
	closed  bool
	srv     *grpc.Server  // nil while stopped
	conns   *chanListener // what srv serves: the connections the accept loop hands over
	serving chan struct{} // closed when srv.Serve has returned
	// The log holds no pointers (names are interned, payloads kept in one byte slice), so that a log of
	// millions of events costs the garbage collector nothing to scan.
	log      []record // $all, in position order
	payloads []byte   // data and metadata of every record, one after the other
	names    []string // interned event types and content types
	nameIDs  map[string]int32
	streams  map[string]*stream
	byIndex  []*stream         // streams by record.stream
	ids      map[uuid.UUID]int // event ID -> index in log (IDs are unique per stream only: the latest wins)
	next     uint64            // log position of the next record
	changed  chan struct{}     // closed and replaced on every append
	subs     map[uint64]context.CancelCauseFunc
	subSeq   uint64
	started  int // subscriptions ever confirmed
}

type stream struct {
	name    string
	index   int32 // in Fixture.byIndex
	indexes []int // log index of each revision
}

// record is an event as the log keeps it.
type record struct {
	id       uuid.UUID
	revision uint64
	commit   uint64
	prepare  uint64
	created  int64  // .NET ticks (100 ns) since the Unix epoch, as the server sends them
	payload  uint64 // offset of the data, followed by the metadata, in Fixture.payloads
	dataLen  uint32
	metaLen  uint32
	stream   int32 // in Fixture.byIndex
	typ      int32 // in Fixture.names
	ctype    int32 // in Fixture.names
}

// event is a record as sent, copied out of the log under the lock.
type event struct {
	id          uuid.UUID
	stream      string
	revision    uint64
	commit      uint64
	prepare     uint64
	created     int64
	typ         string
	contentType string
	data        []byte
	meta        []byte
}

type proposed struct {
	id          uuid.UUID
	typ         string
	contentType string
	data        []byte
	meta        []byte
}

// Start starts a fixture on 127.0.0.1 and a free port, and stops it when the test ends.
func Start(tb testing.TB, opts Options) *Fixture {
	tb.Helper()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Fixture{
		opts:    opts,
		streams: make(map[string]*stream),
		nameIDs: make(map[string]int32),
		ids:     make(map[uuid.UUID]int),
		next:    firstPosition,
		changed: make(chan struct{}),
		subs:    make(map[uint64]context.CancelCauseFunc),
	}
	// What a fresh server's $all starts with, more or less; the last one is an event of a system stream
	// whose type has no "$", which a filter on event types lets through.
	f.WriteSystemEvent("$settings", "$settings")
	f.WriteSystemEvent("$stats-127.0.0.1:2113", "$statsCollected")
	f.WriteSystemEvent("$$$stats-127.0.0.1:2113", "$metadata")
	f.WriteSystemEvent("$projections-$master", "ProjectionsInitialized")

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("esdbfixture: listen: %v", err)
	}
	f.lis, f.addr, f.accepted = lis, lis.Addr().String(), make(chan struct{})
	go f.acceptLoop()
	f.mu.Lock()
	f.serve()
	f.mu.Unlock()
	tb.Cleanup(f.Close)
	return f
}

// acceptLoop accepts every connection: it hands it to the running server, or closes it at once while
// the fixture is stopped (clients then see the node down, as with a refused connection).
func (f *Fixture) acceptLoop() {
	defer close(f.accepted)
	for {
		c, err := f.lis.Accept()
		if err != nil {
			return // closed by Close
		}
		f.mu.Lock()
		to := f.conns
		f.mu.Unlock()
		if to == nil {
			_ = c.Close()
			continue
		}
		select {
		case to.conns <- c:
		case <-to.done:
			_ = c.Close()
		}
	}
}

// chanListener is the net.Listener a grpc.Server serves: the connections that acceptLoop hands over.
// Closing it (grpc.Server.Stop does) leaves the fixture's real listener open.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// Addr is the fixture's host:port.
func (f *Fixture) Addr() string { return f.addr }

// URL is the connection string of the fixture, with extra query parameters (e.g. "maxDiscoverAttempts=2")
// appended.
func (f *Fixture) URL(params ...string) string {
	return "esdb://" + f.addr + "?" + strings.Join(append([]string{"tls=false"}, params...), "&")
}

// serve starts a gRPC server on the connections of the accept loop; the caller holds f.mu.
func (f *Fixture) serve() {
	srv := grpc.NewServer(grpc.WaitForHandlers(true))
	streams.RegisterStreamsServer(srv, &streamsService{f: f})
	serverfeatures.RegisterServerFeaturesServer(srv, featuresService{})
	l := &chanListener{addr: f.lis.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	done := make(chan struct{})
	f.srv, f.conns, f.serving = srv, l, done
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
}

// Stop closes every connection and refuses new ones (clients see the node go away), keeping the data
// and the port. It returns once every call in progress has returned. Stopping a stopped fixture does
// nothing.
func (f *Fixture) Stop() {
	f.mu.Lock()
	srv, done := f.srv, f.serving
	f.srv, f.conns = nil, nil
	f.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Stop()
	<-done
}

// Restart stops the fixture if it runs and serves again on the same address, with the same data.
func (f *Fixture) Restart() error {
	f.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("esdbfixture: restart after Close")
	}
	if f.srv == nil {
		f.serve()
	}
	return nil
}

// Close stops the fixture for good and frees its port; every goroutine it started has returned when
// Close returns. Start registers it as a cleanup of the test; closing twice does nothing.
func (f *Fixture) Close() {
	f.mu.Lock()
	already := f.closed
	f.closed = true
	f.mu.Unlock()
	if already {
		return
	}
	f.Stop()
	_ = f.lis.Close()
	<-f.accepted
}

// DropSubscriptions ends every live subscription with an error (status Unavailable, as when the node
// goes away) and returns how many it ended.
func (f *Fixture) DropSubscriptions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cancel := range f.subs {
		cancel(errDropped)
	}
	return len(f.subs)
}

// LiveSubscriptions is the number of subscriptions being served now.
func (f *Fixture) LiveSubscriptions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// SubscriptionsStarted is the number of subscriptions ever confirmed.
func (f *Fixture) SubscriptionsStarted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started
}

// WriteSystemEvent appends an event of type eventType to stream (with any expected version), as the
// server's own subsystems do (statistics, settings, metadata, projections).
func (f *Fixture) WriteSystemEvent(stream, eventType string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.write(stream, []proposed{{id: uuid.New(), typ: eventType, contentType: "application/json", data: []byte("{}")}})
}

// write appends props to the stream name; the caller holds f.mu and has checked the expected version.
// It returns the log index of the last record written.
func (f *Fixture) write(name string, props []proposed) int {
	st := f.streams[name]
	if st == nil {
		st = &stream{name: name, index: int32(len(f.byIndex))}
		f.streams[name] = st
		f.byIndex = append(f.byIndex, st)
	}
	commit := f.next
	created := f.opts.Now().UnixNano() / 100
	for _, p := range props {
		payload := uint64(len(f.payloads))
		f.payloads = append(append(f.payloads, p.data...), p.meta...)
		f.log = append(f.log, record{
			id:       p.id,
			revision: uint64(len(st.indexes)),
			commit:   commit,
			prepare:  f.next,
			created:  created,
			payload:  payload,
			dataLen:  uint32(len(p.data)),
			metaLen:  uint32(len(p.meta)),
			stream:   st.index,
			typ:      f.intern(p.typ),
			ctype:    f.intern(p.contentType),
		})
		i := len(f.log) - 1
		st.indexes = append(st.indexes, i)
		f.ids[p.id] = i
		f.next += uint64(recordOverhead + len(name) + len(p.typ) + len(p.data) + len(p.meta))
	}
	close(f.changed)
	f.changed = make(chan struct{})
	return len(f.log) - 1
}

// intern returns the index of name in f.names, adding it if needed; the caller holds f.mu.
func (f *Fixture) intern(name string) int32 {
	if i, ok := f.nameIDs[name]; ok {
		return i
	}
	i := int32(len(f.names))
	f.names = append(f.names, name)
	f.nameIDs[name] = i
	return i
}

// event copies the record at log index i out of the log; the caller holds f.mu. The payload slices
// stay valid: written bytes are never changed, and a grown f.payloads leaves the old array intact.
func (f *Fixture) event(i int) event {
	r := &f.log[i]
	end := r.payload + uint64(r.dataLen)
	return event{
		id:          r.id,
		stream:      f.byIndex[r.stream].name,
		revision:    r.revision,
		commit:      r.commit,
		prepare:     r.prepare,
		created:     r.created,
		typ:         f.names[r.typ],
		contentType: f.names[r.ctype],
		data:        f.payloads[r.payload:end:end],
		meta:        f.payloads[end : end+uint64(r.metaLen) : end+uint64(r.metaLen)],
	}
}

type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const svc = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: serverVersion,
		Methods: []*serverfeatures.SupportedMethod{
			{MethodName: "read", ServiceName: svc},
			{MethodName: "append", ServiceName: svc},
		},
	}, nil
}

type streamsService struct {
	streams.UnimplementedStreamsServer
	f *Fixture
}

// Append receives the options, then the proposed messages, then answers once.
func (s *streamsService) Append(srv streams.Streams_AppendServer) error {
	req, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := req.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "the first append message must carry the options")
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return status.Error(codes.InvalidArgument, "empty stream name")
	}
	var expected int64
	switch e := opts.ExpectedStreamRevision.(type) {
	case *streams.AppendReq_Options_Revision:
		expected = int64(e.Revision)
	case *streams.AppendReq_Options_NoStream:
		expected = expectNoStream
	case *streams.AppendReq_Options_Any:
		expected = expectAny
	case *streams.AppendReq_Options_StreamExists:
		expected = expectStreamExists
	default:
		return status.Error(codes.InvalidArgument, "missing expected stream revision")
	}
	var props []proposed
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		msg := req.GetProposedMessage()
		if msg == nil {
			return status.Error(codes.InvalidArgument, "append messages after the first must be proposed messages")
		}
		id, err := fromProtoUUID(msg.GetId())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		typ, ok := msg.GetMetadata()["type"]
		if !ok {
			return status.Error(codes.InvalidArgument, "required metadata property type is missing")
		}
		contentType, ok := msg.GetMetadata()["content-type"]
		if !ok {
			return status.Error(codes.InvalidArgument, "required metadata property content-type is missing")
		}
		props = append(props, proposed{id: id, typ: typ, contentType: contentType, data: msg.GetData(), meta: msg.GetCustomMetadata()})
	}
	return srv.SendAndClose(s.f.append(name, expected, props))
}

type decision int

const (
	decideWrite decision = iota
	decideIdempotent
	decideWrongVersion
)

func (f *Fixture) append(name string, expected int64, props []proposed) *streams.AppendResp {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[name]
	current := int64(-1)
	if st != nil {
		current = int64(len(st.indexes)) - 1
	}
	d, last := f.checkCommit(st, current, expected, props)
	switch d {
	case decideWrongVersion:
		return wrongExpectedVersion(expected, current)
	case decideIdempotent:
		r := &f.log[last]
		return appendSuccess(int64(r.revision), r.commit)
	}
	if len(props) == 0 {
		return appendSuccess(current, 0)
	}
	r := &f.log[f.write(name, props)]
	return appendSuccess(int64(r.revision), r.commit)
}

// checkCommit decides an append as the server does: a write, an idempotent repeat of earlier appends
// (returning the log index of the last matching record), or a wrong expected version (which is also
// the answer when only part of the events match: "corrupted idempotency").
func (f *Fixture) checkCommit(st *stream, current, expected int64, props []proposed) (decision, int) {
	switch {
	case expected == expectAny:
		last, first := -1, uint64(0)
		for i, p := range props {
			at, ok := f.ids[p.id]
			if !ok || st == nil || f.log[at].stream != st.index {
				if i == 0 {
					return decideWrite, 0
				}
				return decideWrongVersion, 0
			}
			rev := f.log[at].revision
			if i == 0 {
				first = rev
			} else if rev != first+uint64(i) {
				return decideWrongVersion, 0
			}
			last = at
		}
		if last < 0 {
			return decideWrite, 0
		}
		return decideIdempotent, last
	case expected == expectStreamExists:
		if current < 0 {
			return decideWrongVersion, 0
		}
		return decideWrite, 0
	case expected < current:
		if len(props) == 0 {
			return decideWrongVersion, 0
		}
		last := -1
		for i, p := range props {
			rev := expected + 1 + int64(i)
			if rev > current || f.log[st.indexes[rev]].id != p.id {
				return decideWrongVersion, 0
			}
			last = st.indexes[rev]
		}
		return decideIdempotent, last
	case expected > current:
		return decideWrongVersion, 0
	}
	return decideWrite, 0
}

func appendSuccess(revision int64, commit uint64) *streams.AppendResp {
	ok := &streams.AppendResp_Success{}
	if revision < 0 {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(revision)}
	}
	if commit == 0 {
		ok.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	} else {
		ok.PositionOption = &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{CommitPosition: commit, PreparePosition: commit}}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: ok}}
}

// wrongExpectedVersion fills both the current fields and the 20.6.0 ones, as the server does.
func wrongExpectedVersion(expected, current int64) *streams.AppendResp {
	w := &streams.AppendResp_WrongExpectedVersion{}
	switch expected {
	case expectAny:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	case expectStreamExists:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	case expectNoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: ^uint64(0)}
	default:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: uint64(expected)}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: uint64(expected)}
	}
	if current < 0 {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(current)}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(current)}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// Read serves reads with a count and subscriptions, of a stream or of $all.
func (s *streamsService) Read(req *streams.ReadReq, srv streams.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil || o.GetUuidOption() == nil {
		return status.Error(codes.InvalidArgument, "missing read options or uuid option")
	}
	flt, err := newFilter(o)
	if err != nil {
		return err
	}
	out := &sender{srv: srv, structured: o.GetUuidOption().GetString_() == nil, noStreamPositions: s.f.opts.StreamReadsWithoutPosition}
	backwards := o.GetReadDirection() == streams.ReadReq_Options_Backwards
	switch o.CountOption.(type) {
	case *streams.ReadReq_Options_Count:
		switch so := o.StreamOption.(type) {
		case *streams.ReadReq_Options_Stream:
			if flt != nil {
				return status.Error(codes.InvalidArgument, "a stream read takes no filter")
			}
			return s.f.readStream(out, so.Stream, backwards, o.GetCount())
		case *streams.ReadReq_Options_All:
			return s.f.readAll(out, so.All, backwards, o.GetCount(), flt)
		}
	case *streams.ReadReq_Options_Subscription:
		if backwards {
			return status.Error(codes.InvalidArgument, "a subscription reads forwards")
		}
		switch so := o.StreamOption.(type) {
		case *streams.ReadReq_Options_Stream:
			if flt != nil {
				return status.Error(codes.InvalidArgument, "a stream subscription takes no filter")
			}
			return s.f.subscribe(srv.Context(), out, so.Stream, nil, nil)
		case *streams.ReadReq_Options_All:
			return s.f.subscribe(srv.Context(), out, nil, so.All, flt)
		}
	}
	return status.Error(codes.InvalidArgument, "invalid combination of read options")
}

func (f *Fixture) readStream(out *sender, opts *streams.ReadReq_Options_StreamOptions, backwards bool, count uint64) error {
	name := string(opts.GetStreamIdentifier().GetStreamName())
	f.mu.Lock()
	st := f.streams[name]
	if st == nil {
		f.mu.Unlock()
		return out.send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)},
		}}})
	}
	n := uint64(len(st.indexes))
	f.mu.Unlock()

	var rev uint64 // next revision to send
	switch r := opts.RevisionOption.(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		rev = r.Revision
	case *streams.ReadReq_Options_StreamOptions_Start:
		rev = 0
	case *streams.ReadReq_Options_StreamOptions_End:
		rev = n // forwards: nothing; backwards: from the last event
		if backwards {
			rev = n - 1
		}
	}
	if backwards && rev >= n {
		rev = n - 1
	}
	for count > 0 {
		batch := make([]event, 0, min(count, chunk))
		f.mu.Lock()
		for uint64(len(batch)) < min(count, chunk) {
			if backwards {
				if rev == ^uint64(0) {
					break
				}
				batch = append(batch, f.event(st.indexes[rev]))
				rev--
			} else {
				if rev >= uint64(len(st.indexes)) {
					break
				}
				batch = append(batch, f.event(st.indexes[rev]))
				rev++
			}
		}
		f.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		for i := range batch {
			if err := out.event(&batch[i], true); err != nil {
				return err
			}
		}
		count -= uint64(len(batch))
	}
	return nil
}

// allIndex returns the log index at which a read of $all from opts starts: forwards, the first record
// at or after the position (inclusive); backwards, the last record before it (exclusive), or -1.
func (f *Fixture) allIndex(opts *streams.ReadReq_Options_AllOptions, backwards bool) int {
	switch o := opts.AllOption.(type) {
	case *streams.ReadReq_Options_AllOptions_Start:
		if backwards {
			return -1
		}
		return 0
	case *streams.ReadReq_Options_AllOptions_End:
		if backwards {
			return len(f.log) - 1
		}
		return len(f.log)
	case *streams.ReadReq_Options_AllOptions_Position:
		at := f.search(o.Position.GetCommitPosition(), o.Position.GetPreparePosition())
		if backwards {
			return at - 1
		}
		return at
	}
	return len(f.log)
}

// search returns the index of the first record at or after commit/prepare.
func (f *Fixture) search(commit, prepare uint64) int {
	return sort.Search(len(f.log), func(i int) bool {
		r := &f.log[i]
		return r.commit > commit || (r.commit == commit && r.prepare >= prepare)
	})
}

func (f *Fixture) readAll(out *sender, opts *streams.ReadReq_Options_AllOptions, backwards bool, count uint64, flt *filter) error {
	f.mu.Lock()
	at := f.allIndex(opts, backwards)
	f.mu.Unlock()
	for count > 0 {
		batch := make([]event, 0, chunk)
		f.mu.Lock()
		for len(batch) < chunk && at >= 0 && at < len(f.log) {
			batch = append(batch, f.event(at))
			if backwards {
				at--
			} else {
				at++
			}
		}
		f.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		for i := range batch {
			if !flt.match(&batch[i]) {
				continue
			}
			if err := out.event(&batch[i], false); err != nil {
				return err
			}
			count--
			if count == 0 {
				return nil
			}
		}
	}
	return nil
}

// subscribe serves a subscription to a stream (streamOpts) or to $all (allOpts, with an optional
// filter): confirmation, the recorded events after the start (exclusive), caught-up, then live events,
// until the client goes away or DropSubscriptions.
func (f *Fixture) subscribe(ctx context.Context, out *sender, streamOpts *streams.ReadReq_Options_StreamOptions, allOpts *streams.ReadReq_Options_AllOptions, flt *filter) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	f.mu.Lock()
	f.subSeq++
	id := f.subSeq
	f.subs[id] = cancel
	f.started++
	// next: the log index (for $all) or the revision (for a stream) of the next record to send.
	var next int
	var name string
	if allOpts != nil {
		switch o := allOpts.AllOption.(type) {
		case *streams.ReadReq_Options_AllOptions_Start:
			next = 0
		case *streams.ReadReq_Options_AllOptions_End:
			next = len(f.log)
		case *streams.ReadReq_Options_AllOptions_Position:
			next = f.search(o.Position.GetCommitPosition(), o.Position.GetPreparePosition())
			if next < len(f.log) && f.log[next].commit == o.Position.GetCommitPosition() && f.log[next].prepare == o.Position.GetPreparePosition() {
				next++ // exclusive
			}
		}
	} else {
		name = string(streamOpts.GetStreamIdentifier().GetStreamName())
		n := 0
		if st := f.streams[name]; st != nil {
			n = len(st.indexes)
		}
		switch r := streamOpts.RevisionOption.(type) {
		case *streams.ReadReq_Options_StreamOptions_Start:
			next = 0
		case *streams.ReadReq_Options_StreamOptions_End:
			next = n
		case *streams.ReadReq_Options_StreamOptions_Revision:
			next = int(r.Revision) + 1 // exclusive
		}
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.subs, id)
		f.mu.Unlock()
	}()

	if err := out.send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{Confirmation: &streams.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}}); err != nil {
		return err
	}
	checkpointEvery := flt.checkpointInterval()
	scanned, caughtUp := 0, false
	for {
		batch := make([]event, 0, chunk)
		f.mu.Lock()
		if allOpts != nil {
			for len(batch) < chunk && next < len(f.log) {
				batch = append(batch, f.event(next))
				next++
			}
		} else if st := f.streams[name]; st != nil {
			for len(batch) < chunk && next < len(st.indexes) {
				batch = append(batch, f.event(st.indexes[next]))
				next++
			}
		}
		changed := f.changed
		f.mu.Unlock()

		if len(batch) == 0 {
			if !caughtUp {
				caughtUp = true
				if err := out.send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}}); err != nil {
					return err
				}
			}
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return subscriptionEnd(ctx)
			}
		}
		for i := range batch {
			if ctx.Err() != nil {
				return subscriptionEnd(ctx)
			}
			r := &batch[i]
			scanned++
			if flt.match(r) {
				if err := out.event(r, allOpts == nil); err != nil {
					return err
				}
			}
			if checkpointEvery > 0 && scanned%checkpointEvery == 0 {
				if err := out.send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{
					CommitPosition: r.commit, PreparePosition: r.prepare,
				}}}); err != nil {
					return err
				}
			}
		}
	}
}

func subscriptionEnd(ctx context.Context) error {
	if errors.Is(context.Cause(ctx), errDropped) {
		return status.Error(codes.Unavailable, errDropped.Error())
	}
	return status.FromContextError(ctx.Err()).Err()
}

// sender writes read responses.
type sender struct {
	srv               streams.Streams_ReadServer
	structured        bool // UUIDs as two integers rather than as a string
	noStreamPositions bool
}

func (s *sender) send(resp *streams.ReadResp) error { return s.srv.Send(resp) }

// event sends r; fromStream says whether it is read from a stream rather than from $all.
func (s *sender) event(r *event, fromStream bool) error {
	commit, prepare := r.commit, r.prepare
	if fromStream && s.noStreamPositions {
		commit, prepare = ^uint64(0), ^uint64(0)
	}
	ev := &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               s.uuid(r.id),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.revision,
			CommitPosition:   commit,
			PreparePosition:  prepare,
			Metadata: map[string]string{
				"type":         r.typ,
				"content-type": r.contentType,
				"created":      strconv.FormatInt(r.created, 10),
			},
			CustomMetadata: r.meta,
			Data:           r.data,
		},
	}
	if fromStream && s.noStreamPositions {
		ev.Position = &streams.ReadResp_ReadEvent_NoPosition{NoPosition: &shared.Empty{}}
	} else {
		ev.Position = &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: commit}
	}
	return s.send(&streams.ReadResp{Content: &streams.ReadResp_Event{Event: ev}})
}

func (s *sender) uuid(id uuid.UUID) *shared.UUID {
	if !s.structured {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}

func fromProtoUUID(p *shared.UUID) (uuid.UUID, error) {
	if st := p.GetStructured(); st != nil {
		var id uuid.UUID
		binary.BigEndian.PutUint64(id[:8], uint64(st.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(id[8:], uint64(st.GetLeastSignificantBits()))
		return id, nil
	}
	id, err := uuid.Parse(p.GetString_())
	if err != nil {
		return uuid.Nil, fmt.Errorf("invalid event id: %w", err)
	}
	return id, nil
}

// filter is a server-side filter of $all on event types or stream names. A nil *filter matches all.
type filter struct {
	onStream bool
	prefixes []string
	re       *regexp.Regexp
	window   int // max search window (0: none)
	interval int // checkpoint interval multiplier
}

func newFilter(o *streams.ReadReq_Options) (*filter, error) {
	fo, ok := o.FilterOption.(*streams.ReadReq_Options_Filter)
	if !ok || fo.Filter == nil {
		return nil, nil
	}
	opts := fo.Filter
	flt := &filter{interval: int(opts.GetCheckpointIntervalMultiplier())}
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	switch x := opts.Filter.(type) {
	case *streams.ReadReq_Options_FilterOptions_EventType:
		expr = x.EventType
	case *streams.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr, flt.onStream = x.StreamIdentifier, true
	default:
		return nil, status.Error(codes.InvalidArgument, "filter on neither event type nor stream name")
	}
	if w, ok := opts.Window.(*streams.ReadReq_Options_FilterOptions_Max); ok {
		flt.window = int(w.Max)
	}
	switch {
	case expr.GetRegex() != "":
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "invalid filter regex: "+err.Error())
		}
		flt.re = re
	case len(expr.GetPrefix()) > 0:
		flt.prefixes = expr.GetPrefix()
	default:
		return nil, status.Error(codes.InvalidArgument, "a filter needs a regex or prefixes")
	}
	return flt, nil
}

func (flt *filter) match(r *event) bool {
	if flt == nil {
		return true
	}
	s := r.typ
	if flt.onStream {
		s = r.stream
	}
	if flt.re != nil {
		return flt.re.MatchString(s)
	}
	for _, p := range flt.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// checkpointInterval is the number of records a filtered subscription scans between checkpoints
// (max search window times the multiplier), or 0 for no checkpoints.
func (flt *filter) checkpointInterval() int {
	if flt == nil || flt.window == 0 {
		return 0
	}
	return flt.window * max(flt.interval, 1)
}
