package eventstore

import (
	"container/list"
	"sync"

	"github.com/google/uuid"
)

// snapshot is a stream folded up to a revision: what the engine decides on. A snapshot never changes
// once built (its commands index only grows with records of later revisions, which lookups at this
// snapshot's revision ignore), so it is shared between goroutines without copying. Every snapshot is
// a prefix of the stream as stored: the engine builds one only from a read of the store or from a
// snapshot plus events the store accepted at the exact next revision.
type snapshot[S any] struct {
	state    S
	exists   bool
	revision uint64   // of the last event (0 when !exists)
	position Position // of the last event (zero when !exists)
	lastHash string   // Metadata.Hash of the last event ("" when !exists)
	commands *commandIndex
}

// commandRecord is what a command did to a stream: the result that a retry of it replays.
type commandRecord struct {
	hash     string // Metadata.CommandHash
	revision uint64 // of the command's last event
	position Position
	count    int // events the command appended
}

// commandIndex maps the command IDs recorded in a stream to their results. It is shared by the
// snapshots of one line of descent (a load and the appends on top of it) and only grows.
type commandIndex struct {
	mu sync.Mutex
	m  map[uuid.UUID]commandRecord
}

func newCommandIndex() *commandIndex {
	return &commandIndex{m: make(map[uuid.UUID]commandRecord)}
}

// lookup returns the record of command id if the command's events are at or before revision upTo.
func (c *commandIndex) lookup(id uuid.UUID, upTo uint64) (commandRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[id]
	if !ok || r.revision > upTo {
		return commandRecord{}, false
	}
	return r, true
}

// add records one more event of command id at revision/position (events arrive in revision order).
func (c *commandIndex) add(id uuid.UUID, hash string, revision uint64, position Position) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.m[id]
	c.m[id] = commandRecord{hash: hash, revision: revision, position: position, count: r.count + 1}
}

// set records the whole result of a command.
func (c *commandIndex) set(id uuid.UUID, r commandRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[id] = r
}

// stateCache is a bounded LRU of snapshots by stream, safe for concurrent use.
type stateCache[S any] struct {
	mu    sync.Mutex
	max   int
	order list.List // of *cacheItem[S], most recently used first
	items map[string]*list.Element
}

type cacheItem[S any] struct {
	stream string
	snap   *snapshot[S]
}

func newStateCache[S any](max int) *stateCache[S] {
	return &stateCache[S]{max: max, items: make(map[string]*list.Element)}
}

// get returns the cached snapshot of stream, if any.
func (c *stateCache[S]) get(stream string) (*snapshot[S], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[stream]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheItem[S]).snap, true
}

// put caches snap unless the cache already holds a later one of the same stream (snapshots are
// prefixes of the same stream, so the later one is the better one). It evicts the least recently
// used stream when full.
func (c *stateCache[S]) put(stream string, snap *snapshot[S]) {
	if !snap.exists {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[stream]; ok {
		item := el.Value.(*cacheItem[S])
		if item.snap.revision < snap.revision {
			item.snap = snap
		}
		c.order.MoveToFront(el)
		return
	}
	c.items[stream] = c.order.PushFront(&cacheItem[S]{stream: stream, snap: snap})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*cacheItem[S]).stream)
	}
}

// drop forgets stream.
func (c *stateCache[S]) drop(stream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[stream]; ok {
		c.order.Remove(el)
		delete(c.items, stream)
	}
}

// len returns the number of cached streams.
func (c *stateCache[S]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
