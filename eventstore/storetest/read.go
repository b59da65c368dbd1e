package storetest

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
)

// sameEvent fails t unless a and b are the same recorded event, field by field.
func sameEvent(t testing.TB, what string, a, b eventstore.RecordedEvent) {
	t.Helper()
	if a.ID != b.ID || a.Stream != b.Stream || a.Revision != b.Revision || a.Position != b.Position ||
		a.Type != b.Type || !bytes.Equal(a.Data, b.Data) || !bytes.Equal(a.Metadata, b.Metadata) || !a.Recorded.Equal(b.Recorded) {
		t.Fatalf("%s: want the same event both ways, got\n%s\nand\n%s", what, describe(a), describe(b))
	}
}

func describe(e eventstore.RecordedEvent) string {
	return e.ID.String() + " " + e.Stream + "@" + strconv.FormatUint(e.Revision, 10) + " pos " + e.Position.String() +
		" type " + e.Type + " recorded " + e.Recorded.String() + " data " + string(e.Data) + " metadata " + string(e.Metadata)
}

// checkIncreasing fails t unless positions strictly increase along evs and none is zero.
func checkIncreasing(t testing.TB, evs []eventstore.RecordedEvent) {
	t.Helper()
	for i, e := range evs {
		if e.Position.IsZero() {
			t.Fatalf("event %d of $all (%s): want a non-zero position, got the zero Position", i, e.ID)
		}
		if i > 0 && !evs[i-1].Position.Before(e.Position) {
			t.Fatalf("$all events %d and %d: want strictly increasing positions, got %v then %v", i-1, i, evs[i-1].Position, e.Position)
		}
	}
}

func (su suite) testAllOrder(t *testing.T) {
	s := su.newStore(t)
	if h := head(t, s); !h.IsZero() {
		t.Fatalf("Head of an empty store: want the zero Position, got %v", h)
	}
	if got := readAll(t, s, eventstore.Position{}); len(got) != 0 {
		t.Fatalf("ReadAll of an empty store: want nothing, got %d events", len(got))
	}
	if got := readStream(t, s, "missing", 0); len(got) != 0 {
		t.Fatalf("ReadStream of a missing stream: want nothing, got %d events", len(got))
	}

	type want struct {
		stream string
		rev    uint64
		id     uuid.UUID
	}
	plan := []struct {
		stream string
		n      int
	}{{"a", 2}, {"b", 1}, {"a", 3}, {"c", 2}, {"b", 2}, {"a", 1}}
	var wantAll []want
	revs := map[string]uint64{}
	type appended struct {
		res  eventstore.AppendResult
		last uuid.UUID
	}
	var results []appended
	for _, p := range plan {
		evs := events("Ordered", p.n)
		res := mustAppend(t, s, p.stream, eventstore.Any(), evs)
		for _, e := range evs {
			wantAll = append(wantAll, want{p.stream, revs[p.stream], e.ID})
			revs[p.stream]++
		}
		results = append(results, appended{res, evs[len(evs)-1].ID})
	}

	all := readAll(t, s, eventstore.Position{})
	if len(all) != len(wantAll) {
		t.Fatalf("ReadAll from the start: want %d events, got %d", len(wantAll), len(all))
	}
	byID := map[uuid.UUID]eventstore.RecordedEvent{}
	for i, e := range all {
		if w := wantAll[i]; e.ID != w.id || e.Stream != w.stream || e.Revision != w.rev {
			t.Fatalf("$all event %d: want %s %s@%d (commit order), got %s %s@%d", i, w.id, w.stream, w.rev, e.ID, e.Stream, e.Revision)
		}
		byID[e.ID] = e
	}
	checkIncreasing(t, all)
	for i, r := range results {
		last := byID[r.last]
		if r.res.Position != last.Position || r.res.Revision != last.Revision {
			t.Fatalf("append %d: want AppendResult{Revision %d, Position %v} (its last event), got %+v", i, last.Revision, last.Position, r.res)
		}
	}
	if h := head(t, s); h != all[len(all)-1].Position {
		t.Fatalf("Head: want %v (the last event's position), got %v", all[len(all)-1].Position, h)
	}

	// ReadAll(after) is exclusive, from every position.
	for k, e := range all {
		got := readAll(t, s, e.Position)
		if !slices.Equal(ids(got), ids(all[k+1:])) {
			t.Fatalf("ReadAll(after %v, event %d): want the %d events after it, got %v", e.Position, k, len(all)-k-1, ids(got))
		}
	}
	// ReadStream(from) is inclusive, from every revision and past the end.
	for stream, n := range revs {
		full := readStream(t, s, stream, 0)
		for from := uint64(0); from <= n+1; from++ {
			got := readStream(t, s, stream, from)
			wantN := 0
			if from < n {
				wantN = int(n - from)
			}
			if len(got) != wantN {
				t.Fatalf("ReadStream(%s, from %d) of a %d-event stream: want %d events, got %d", stream, from, n, wantN, len(got))
			}
			for i, e := range got {
				if e.Revision != from+uint64(i) {
					t.Fatalf("ReadStream(%s, from %d): event %d: want revision %d, got %d", stream, from, i, from+uint64(i), e.Revision)
				}
				sameEvent(t, "ReadStream vs ReadAll", e, byID[e.ID])
				sameEvent(t, "ReadStream(from) vs ReadStream(0)", e, full[e.Revision])
			}
		}
	}
}

func (su suite) testLongReads(t *testing.T) {
	s := su.newStore(t)
	const per, batches = 250, 6 // 1,500 events per stream, 3,000 in all: crosses any paging size
	for range batches {
		mustAppend(t, s, "long-a", eventstore.Any(), events("Long", per))
		mustAppend(t, s, "long-b", eventstore.Any(), events("Long", per))
	}
	const n = per * batches
	for _, stream := range []string{"long-a", "long-b"} {
		for _, from := range []uint64{0, 1, 999, 1000, 1001, n - 1, n, n + 1, 1 << 40} {
			got := readStream(t, s, stream, from)
			wantN := 0
			if from < n {
				wantN = int(n - from)
			}
			if len(got) != wantN {
				t.Fatalf("ReadStream(%s, from %d): want %d events, got %d", stream, from, wantN, len(got))
			}
			for i, e := range got {
				if e.Revision != from+uint64(i) || e.Stream != stream {
					t.Fatalf("ReadStream(%s, from %d): event %d: want %s@%d, got %s@%d", stream, from, i, stream, from+uint64(i), e.Stream, e.Revision)
				}
			}
		}
	}
	all := readAll(t, s, eventstore.Position{})
	if len(all) != 2*n {
		t.Fatalf("ReadAll: want %d events, got %d", 2*n, len(all))
	}
	checkIncreasing(t, all)
	for _, k := range []int{0, 1, 499, 500, 999, 1000, 2047, 2048, 2*n - 2, 2*n - 1} {
		got := readAll(t, s, all[k].Position)
		if !slices.Equal(ids(got), ids(all[k+1:])) {
			t.Fatalf("ReadAll(after event %d at %v): want the %d following events, got %d events", k, all[k].Position, 2*n-k-1, len(got))
		}
	}
}

func (su suite) testRoundTrip(t *testing.T) {
	s := su.newStore(t)
	recorded := time.Date(2031, 2, 3, 4, 5, 6, 789, time.UTC)
	meta, err := json.Marshal(eventstore.Metadata{
		Actor: "alice", Role: "coordinator", City: "zürich", CommandID: uuid.NewString(),
		SchemaVersion: 3, PrevHash: strings.Repeat("a", 64), Hash: strings.Repeat("b", 64), Recorded: &recorded,
	})
	if err != nil {
		t.Fatal(err)
	}
	batch := []eventstore.EventData{
		{ID: uuid.New(), Type: "CityJoined", Data: []byte("{ \"name\" :\t\"Zürich – 東京 🌍\",\n  \"n\": 1.50, \"esc\": \"\\u00e9\\n\" }"), Metadata: meta},
		{ID: uuid.New(), Type: "Blob", Data: []byte(`{"blob":"` + strings.Repeat("xyz", 100_000) + `"}`)},
		{ID: uuid.New(), Type: "Type.With-Punctuation_v2", Data: []byte(`[]`), Metadata: []byte(`{}`)},
		{ID: uuid.New(), Type: "Scalar", Data: []byte(`"just a string"`), Metadata: []byte(` {"k" : [1,2,3]} `)},
	}
	single := []eventstore.EventData{{ID: uuid.New(), Type: "Empty", Data: []byte(`{}`)}}
	mustAppend(t, s, "round-trip", eventstore.NoStream(), batch)
	mustAppend(t, s, "round-trip", eventstore.Exact(3), single)
	sent := append(batch, single...)

	fromStream := readStream(t, s, "round-trip", 0)
	fromAll := readAll(t, s, eventstore.Position{})
	if len(fromStream) != len(sent) || len(fromAll) != len(sent) {
		t.Fatalf("want %d events from ReadStream and ReadAll, got %d and %d", len(sent), len(fromStream), len(fromAll))
	}
	for i, want := range sent {
		got := fromStream[i]
		if got.ID != want.ID || got.Type != want.Type || got.Stream != "round-trip" || got.Revision != uint64(i) {
			t.Fatalf("event %d: want %s %q round-trip@%d, got %s %q %s@%d", i, want.ID, want.Type, i, got.ID, got.Type, got.Stream, got.Revision)
		}
		if !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("event %d (%s): want data byte-exact (%d bytes), got %d bytes differing at %d", i, want.Type, len(want.Data), len(got.Data), firstDiff(got.Data, want.Data))
		}
		if !bytes.Equal(got.Metadata, want.Metadata) {
			t.Fatalf("event %d (%s): want metadata byte-exact %q, got %q", i, want.Type, want.Metadata, got.Metadata)
		}
		if got.Recorded.IsZero() {
			t.Fatalf("event %d: want Recorded set, got the zero time", i)
		}
		if got.Recorded.Location() != time.UTC {
			t.Fatalf("event %d: want Recorded in UTC, got location %v (%v)", i, got.Recorded.Location(), got.Recorded)
		}
		sameEvent(t, "ReadStream vs ReadAll", got, fromAll[i])
	}
	// A second read gives the same recorded times: they are stored, not made up at read time.
	for i, e := range readAll(t, s, eventstore.Position{}) {
		sameEvent(t, "first vs second ReadAll", fromAll[i], e)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func (su suite) testOwnsBytes(t *testing.T) {
	s := su.newStore(t)
	data := []byte(`{"v":"original"}`)
	meta := []byte(`{"m":"original"}`)
	mustAppend(t, s, "owned", eventstore.NoStream(), []eventstore.EventData{{ID: uuid.New(), Type: "Owned", Data: data, Metadata: meta}})
	copy(data[6:], "XXXXXXXX")
	copy(meta[6:], "XXXXXXXX")

	check := func(when string) {
		t.Helper()
		for _, e := range append(readStream(t, s, "owned", 0), readAll(t, s, eventstore.Position{})...) {
			if string(e.Data) != `{"v":"original"}` || string(e.Metadata) != `{"m":"original"}` {
				t.Fatalf("%s: want the recorded bytes unchanged, got data %s metadata %s", when, e.Data, e.Metadata)
			}
		}
	}
	check("after the caller changed its buffers")
	for _, e := range readAll(t, s, eventstore.Position{}) {
		copy(e.Data[6:], "YYYYYYYY")
		copy(e.Metadata[6:], "YYYYYYYY")
	}
	for e := range s.ReadStream(t.Context(), "owned", 0) {
		copy(e.Data[6:], "ZZZZZZZZ")
	}
	check("after a reader changed the bytes it was given")
}
