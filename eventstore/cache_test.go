package eventstore

import (
	"sync"
	"testing"

	"github.com/google/uuid"
)

func TestStateCache(t *testing.T) {
	snap := func(rev uint64) *snapshot[int] {
		return &snapshot[int]{state: int(rev), exists: true, revision: rev, commands: newCommandIndex()}
	}
	type op struct {
		put    string // stream to put at rev (or get/drop when rev is 0 and get/drop set)
		rev    uint64
		get    string
		drop   string
		absent bool // put a snapshot of a stream that does not exist
	}
	tests := []struct {
		name string
		max  int
		ops  []op
		want map[string]uint64 // cached stream -> revision; missing: not cached
	}{
		{"a later snapshot replaces an earlier one", 10, []op{{put: "a", rev: 1}, {put: "a", rev: 3}}, map[string]uint64{"a": 3}},
		{"an earlier snapshot does not replace a later one", 10, []op{{put: "a", rev: 3}, {put: "a", rev: 1}}, map[string]uint64{"a": 3}},
		{"streams that do not exist are not cached", 10, []op{{put: "a", absent: true}}, map[string]uint64{}},
		{"drop forgets", 10, []op{{put: "a", rev: 1}, {put: "b", rev: 1}, {drop: "a"}}, map[string]uint64{"b": 1}},
		{"least recently put is evicted", 2, []op{{put: "a", rev: 1}, {put: "b", rev: 1}, {put: "c", rev: 1}}, map[string]uint64{"b": 1, "c": 1}},
		{"a get counts as a use", 2, []op{{put: "a", rev: 1}, {put: "b", rev: 1}, {get: "a"}, {put: "c", rev: 1}}, map[string]uint64{"a": 1, "c": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newStateCache[int](tt.max)
			for _, o := range tt.ops {
				switch {
				case o.put != "" && o.absent:
					c.put(o.put, &snapshot[int]{commands: newCommandIndex()})
				case o.put != "":
					c.put(o.put, snap(o.rev))
				case o.get != "":
					c.get(o.get)
				case o.drop != "":
					c.drop(o.drop)
				}
			}
			if c.len() != len(tt.want) {
				t.Fatalf("cache holds %d streams, want %d", c.len(), len(tt.want))
			}
			for stream, rev := range tt.want {
				s, ok := c.get(stream)
				if !ok || s.revision != rev {
					t.Fatalf("get(%s) = %v, %v; want revision %d", stream, s, ok, rev)
				}
			}
		})
	}
}

func TestCommandIndexIgnoresLaterRecords(t *testing.T) {
	idx := newCommandIndex()
	a, b := uuid.New(), uuid.New()
	idx.add(a, "ha", 0, Position{Commit: 1, Prepare: 1})
	idx.add(a, "ha", 1, Position{Commit: 2, Prepare: 2})
	idx.set(b, commandRecord{hash: "hb", revision: 4, position: Position{Commit: 5, Prepare: 5}, count: 3})
	if r, ok := idx.lookup(a, 1); !ok || r.count != 2 || r.revision != 1 || r.hash != "ha" {
		t.Fatalf("lookup(a) = %+v, %v; want 2 events ending at revision 1", r, ok)
	}
	// A snapshot at revision 3 shares the index with a later one that recorded b at revision 4.
	if _, ok := idx.lookup(b, 3); ok {
		t.Fatal("lookup(b) at revision 3 found a command recorded at revision 4")
	}
	if _, ok := idx.lookup(b, 4); !ok {
		t.Fatal("lookup(b) at revision 4 missed it")
	}
}

func TestStateCacheConcurrentUse(t *testing.T) {
	c := newStateCache[int](8)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				stream := string(rune('a' + (g+i)%12))
				c.put(stream, &snapshot[int]{exists: true, revision: uint64(i), commands: newCommandIndex()})
				if s, ok := c.get(stream); ok && s == nil {
					t.Error("nil snapshot cached")
				}
				if i%7 == 0 {
					c.drop(stream)
				}
			}
		})
	}
	wg.Wait()
	if n := c.len(); n > 8 {
		t.Fatalf("cache holds %d streams, more than its bound 8", n)
	}
}
